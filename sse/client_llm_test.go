package sse

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/llmtest"
)

// llmServer starts the LLM-shaped test server.
func llmServer(t *testing.T) (*httptest.Server, *llmtest.Server) {
	t.Helper()
	var h llmtest.Server
	return newServer(t, h.ServeHTTP), &h
}

func newRequest(t testing.TB, method, url, body string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// collectWithin is collect, bounded in time so that a client that
// reconnects when it must not fails the test instead of hanging it. The
// bound times nothing, so it is generous: TestClientLargeEvent's 8 MiB
// event needed more than 5 s under -race at a load average of 36.
func collectWithin(t *testing.T, c *Client, req *http.Request) ([]Event, error) {
	t.Helper()
	const bound = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	var events []Event
	for e, err := range c.Events(ctx, req) {
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("still iterating after %v (%d events so far): %v", bound, len(events), err)
			}
			return events, err
		}
		events = append(events, e)
	}
	return events, nil
}

func dataOf(events []Event) []string {
	var d []string
	for _, e := range events {
		d = append(d, e.Data)
	}
	return d
}

// noSpaceChunks is how the parser reads PathNoSpace's chunks, each split
// over two data lines.
func noSpaceChunks() []string {
	var c []string
	for _, s := range llmtest.Chunks() {
		c = append(c, s[:len(s)/2]+"\n"+s[len(s)/2:])
	}
	return c
}

// TestClientCompletion reads an OpenAI-shaped completion to its [DONE] in
// the wire forms seen in the wild: the completing event is not yielded and
// the iteration ends without error, after one request.
func TestClientCompletion(t *testing.T) {
	srv, h := llmServer(t)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{llmtest.PathDone, llmtest.Chunks()},
		// WHATWG HTML 9.2.5: a line ends at CRLF, LF or a bare CR.
		{llmtest.PathBareCR, llmtest.Chunks()},
		// "If value starts with a U+0020 SPACE character, remove it": a
		// value without one is taken whole, and data lines join with LF.
		{llmtest.PathNoSpace, noSpaceChunks()},
	} {
		t.Run(tc.path, func(t *testing.T) {
			n := len(h.Requests())
			c := &Client{HTTPClient: srv.Client(), DoneData: "[DONE]"}
			events, err := collectWithin(t, c, newRequest(t, "POST", srv.URL+tc.path, `{"stream":true}`))
			if err != nil || !slices.Equal(dataOf(events), tc.want) {
				t.Fatalf("events %q, err %v; want %q", dataOf(events), err, tc.want)
			}
			if got := len(h.Requests()) - n; got != 1 {
				t.Errorf("%d requests, want 1", got)
			}
		})
	}
}

func TestClientCompletionByType(t *testing.T) {
	srv, _ := llmServer(t)
	c := &Client{HTTPClient: srv.Client(), DoneType: "message_stop"}
	events, err := collectWithin(t, c, newRequest(t, "POST", srv.URL+llmtest.PathAnthropic, "{}"))
	if err != nil || len(events) != 1+len(llmtest.Tokens()) {
		t.Fatalf("events %q, err %v", dataOf(events), err)
	}
	for _, e := range events {
		if e.Type == "message_stop" {
			t.Errorf("the completing event was yielded: %+v", e)
		}
	}
}

// TestClientUnsafeMethodsSentOnce: a POST (PUT, PATCH, DELETE) whose stream
// ends is not sent again, whether the body ended cleanly or broke; GET and
// QUERY reconnect as a browser does.
func TestClientUnsafeMethodsSentOnce(t *testing.T) {
	srv, h := llmServer(t)
	for _, method := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		t.Run(method+" clean end", func(t *testing.T) {
			n := len(h.Requests())
			var r recorder
			events, err := collectWithin(t, r.client(srv), newRequest(t, method, srv.URL+llmtest.PathEOF, `{"n":1}`))
			if err != nil || !slices.Equal(dataOf(events), llmtest.Chunks()) {
				t.Errorf("events %q, err %v", dataOf(events), err)
			}
			if got := len(h.Requests()) - n; got != 1 || len(r.errs) != 0 {
				t.Errorf("%d requests, reconnect errors %v; want 1 request", got, r.errs)
			}
		})
	}
	t.Run("POST broken", func(t *testing.T) {
		n := len(h.Requests())
		var r recorder
		events, err := collectWithin(t, r.client(srv), newRequest(t, "POST", srv.URL+llmtest.PathCut, `{}`))
		if !errors.Is(err, io.ErrUnexpectedEOF) || len(events) != 2 {
			t.Errorf("events %q, err %v; want 2 events and the broken body's error", dataOf(events), err)
		}
		if got := len(h.Requests()) - n; got != 1 {
			t.Errorf("%d requests, want 1", got)
		}
	})
	t.Run("POST ends mid-event", func(t *testing.T) {
		n := len(h.Requests())
		events, err := collectWithin(t, &Client{HTTPClient: srv.Client()}, newRequest(t, "POST", srv.URL+llmtest.PathHalf, `{}`))
		if !errors.Is(err, ErrDisconnected) || !strings.Contains(err.Error(), "middle of an event") || len(events) != 2 {
			t.Errorf("events %q, err %v; want 2 events and an error naming the cut", dataOf(events), err)
		}
		if got := len(h.Requests()) - n; got != 1 {
			t.Errorf("%d requests, want 1", got)
		}
	})
	t.Run("POST refused", func(t *testing.T) {
		var hits atomic.Int32
		busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}))
		defer busy.Close()
		var r recorder
		c := r.client(busy)
		c.RetryServerErrors = true // still not for a POST
		_, err := collectWithin(t, c, newRequest(t, "POST", busy.URL, "{}"))
		var se *StatusError
		if !errors.As(err, &se) || se.StatusCode != 503 || hits.Load() != 1 {
			t.Errorf("err %v after %d requests, want the 503 after 1", err, hits.Load())
		}
	})
	for _, method := range []string{"GET", "QUERY"} {
		t.Run(method+" reconnects", func(t *testing.T) {
			n := len(h.Requests())
			var r recorder
			want := len(llmtest.Chunks())
			events, err := collect(r.client(srv).Events(context.Background(), newRequest(t, method, srv.URL+llmtest.PathEOF, "")), 2*want)
			if err != nil || len(events) != 2*want {
				t.Errorf("%d events, err %v", len(events), err)
			}
			if got := len(h.Requests()) - n; got != 2 {
				t.Errorf("%d requests, want 2", got)
			}
		})
	}
}

// TestClientQueryResendsBody: QUERY is safe, so it reconnects, with its
// body.
func TestClientQueryResendsBody(t *testing.T) {
	srv, h := llmServer(t)
	var r recorder
	req := newRequest(t, "QUERY", srv.URL+llmtest.PathEOF, `topic=a`)
	if _, err := collect(r.client(srv).Events(context.Background(), req), 2*len(llmtest.Chunks())); err != nil {
		t.Fatal(err)
	}
	reqs := h.Requests()
	if len(reqs) != 2 || string(reqs[1].Body) != "topic=a" || reqs[1].Method != "QUERY" {
		t.Errorf("requests %+v", reqs)
	}
}

func TestClientResumablePost(t *testing.T) {
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if string(b) != `{"prompt":"hi"}` {
			t.Errorf("body %q", b)
		}
		streamHeader(w)
		if hits.Add(1) == 1 {
			io.WriteString(w, "id: 1\ndata: a\n\n")
			return
		}
		if got := r.Header.Get("Last-Event-ID"); got != "1" {
			t.Errorf("Last-Event-ID %q", got)
		}
		io.WriteString(w, "id: 2\ndata: b\n\ndata: [DONE]\n\n")
	})
	var r recorder
	c := r.client(srv)
	c.Resumable = true
	c.DoneData = "[DONE]"
	req := newRequest(t, "POST", srv.URL, `{"prompt":"hi"}`)
	req.Body = io.NopCloser(req.Body) // GetBody is what replays it
	events, err := collectWithin(t, c, req)
	if err != nil || datas(events) != "a,b" || hits.Load() != 2 {
		t.Errorf("events %q, err %v, %d requests", datas(events), err, hits.Load())
	}
}

// TestClientIncomplete: with a completion rule, every end before the
// completing event is an error wrapping ErrIncomplete and the reason.
func TestClientIncomplete(t *testing.T) {
	srv, _ := llmServer(t)
	for _, tc := range []struct {
		path   string
		reason error
		events int
	}{
		{llmtest.PathEOF, ErrDisconnected, len(llmtest.Chunks())},
		{llmtest.PathCut, io.ErrUnexpectedEOF, 2},
		{llmtest.PathError, ErrDisconnected, 3}, // without ErrorType, the error event is an event
	} {
		t.Run(tc.path, func(t *testing.T) {
			c := &Client{HTTPClient: srv.Client(), DoneData: "[DONE]"}
			events, err := collectWithin(t, c, newRequest(t, "POST", srv.URL+tc.path, "{}"))
			if !errors.Is(err, ErrIncomplete) || !errors.Is(err, tc.reason) || len(events) != tc.events {
				t.Errorf("%d events, err %v; want %d and ErrIncomplete wrapping %v", len(events), err, tc.events, tc.reason)
			}
		})
	}
	t.Run("204", func(t *testing.T) {
		empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
		defer empty.Close()
		c := &Client{HTTPClient: empty.Client(), DoneType: "end"}
		if _, err := collectWithin(t, c, newGet(t, empty.URL)); !errors.Is(err, ErrIncomplete) {
			t.Errorf("err %v, want ErrIncomplete", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c := &Client{HTTPClient: srv.Client(), DoneData: "[DONE]"}
		var err error
		for _, err = range c.Events(ctx, newRequest(t, "POST", srv.URL+llmtest.PathDone, "{}")) {
			cancel()
		}
		if !errors.Is(err, ErrIncomplete) || !errors.Is(err, context.Canceled) {
			t.Errorf("err %v, want ErrIncomplete and context.Canceled", err)
		}
	})
}

// TestClientCompletionAcrossReconnections: a GET stream with a completion
// rule reconnects until the completing event arrives.
func TestClientCompletionAcrossReconnections(t *testing.T) {
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		streamHeader(w)
		if hits.Add(1) == 1 {
			io.WriteString(w, "data: a\n\n")
			return
		}
		io.WriteString(w, "data: b\n\ndata: [DONE]\n\ndata: after\n\n")
	})
	var r recorder
	c := r.client(srv)
	c.DoneData = "[DONE]"
	events, err := collectWithin(t, c, newGet(t, srv.URL))
	if err != nil || datas(events) != "a,b" || hits.Load() != 2 {
		t.Errorf("events %q, err %v, %d requests", datas(events), err, hits.Load())
	}
}

func TestClientErrorEvent(t *testing.T) {
	srv, h := llmServer(t)
	for _, method := range []string{"POST", "GET"} {
		t.Run(method, func(t *testing.T) {
			n := len(h.Requests())
			var r recorder
			c := r.client(srv)
			c.ErrorType = "error"
			events, err := collectWithin(t, c, newRequest(t, method, srv.URL+llmtest.PathError, ""))
			var ee *EventError
			if !errors.As(err, &ee) || ee.Event.Data != llmtest.ErrorData || ee.Event.Type != "error" || !errors.Is(err, ErrErrorEvent) {
				t.Fatalf("err %v, want an *EventError with the data", err)
			}
			if !strings.Contains(err.Error(), "overloaded") {
				t.Errorf("message %q does not carry the data", err)
			}
			if !slices.Equal(dataOf(events), llmtest.Chunks()[:2]) {
				t.Errorf("events %q", dataOf(events))
			}
			if got := len(h.Requests()) - n; got != 1 {
				t.Errorf("%d requests: an error event is fatal, even for GET", got)
			}
		})
	}
	t.Run("with completion rule", func(t *testing.T) {
		c := &Client{HTTPClient: srv.Client(), ErrorType: "error", DoneData: "[DONE]"}
		_, err := collectWithin(t, c, newRequest(t, "POST", srv.URL+llmtest.PathError, ""))
		var ee *EventError
		if !errors.As(err, &ee) || !errors.Is(err, ErrIncomplete) {
			t.Errorf("err %v, want ErrIncomplete and an *EventError", err)
		}
	})
	t.Run("long data", func(t *testing.T) {
		e := &EventError{Event: Event{Type: "error", Data: strings.Repeat("é", 1000)}}
		if msg := e.Error(); len(msg) > maxErrorData+50 || !strings.HasSuffix(msg, "é…") {
			t.Errorf("message of %d bytes: %q", len(msg), msg)
		}
	})
}

// TestClientLargeEvent: the default limit takes the 8 MiB events LLM APIs
// send, and a configured one still applies.
func TestClientLargeEvent(t *testing.T) {
	srv, _ := llmServer(t)
	c := &Client{HTTPClient: srv.Client(), DoneData: "[DONE]"}
	events, err := collectWithin(t, c, newRequest(t, "POST", srv.URL+llmtest.PathBig, "{}"))
	if err != nil || len(events) != 1 || events[0].Data != llmtest.BigData() {
		t.Fatalf("%d events, err %v", len(events), err)
	}
	c.MaxEventSize = llmtest.BigSize - 1
	_, err = collectWithin(t, c, newRequest(t, "POST", srv.URL+llmtest.PathBig, "{}"))
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrIncomplete) {
		t.Errorf("err %v, want ErrTooLarge", err)
	}
}

// TestClientRetryZero: WHATWG HTML 9.2.5 sets the reconnection time to any
// base-ten integer, 0 included: reconnect at once.
func TestClientRetryZero(t *testing.T) {
	srv, hits := streamOnce(t, "retry: 0\ndata: a\n\n")
	var r recorder
	c := r.client(srv)
	c.ReconnectTime = time.Hour
	events, err := collectWithin(t, c, newGet(t, srv.URL))
	if err != nil || datas(events) != "a" || hits.Load() != 2 {
		t.Errorf("events %q, err %v, %d requests", datas(events), err, hits.Load())
	}
	if d := r.delays(); !slices.Equal(d, []time.Duration{0}) {
		t.Errorf("delays %v, want [0]", d)
	}
	// A failing server is not hammered: failed attempts back off from
	// minBackoff.
	es := c.EventSource(context.Background(), newGet(t, srv.URL))
	es.setReconnect(0)
	if d := es.backoff(1, nil); d != minBackoff {
		t.Errorf("backoff after a failure = %v, want %v", d, minBackoff)
	}
}

// TestClientCredentialsStayAtOrigin: the caller's credentials go to its
// origin only (RFC 6454 origin: scheme, host, port), neither following a
// redirect to another port of the same host, which net/http allows, nor on
// reconnections there.
func TestClientCredentialsStayAtOrigin(t *testing.T) {
	var hits atomic.Int32
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		for _, k := range []string{"Authorization", "Cookie", "Proxy-Authorization"} {
			if v := r.Header.Get(k); v != "" {
				t.Errorf("request %d to the other origin has %s: %q", n, k, v)
			}
		}
		if r.Header.Get("X-Client") != "test" {
			t.Errorf("request %d lost X-Client", n)
		}
		if n > 1 {
			w.WriteHeader(204)
			return
		}
		streamHeader(w)
		io.WriteString(w, "retry: 0\ndata: there\n\n")
	}))
	var home atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		home.Add(1)
		if r.URL.Path == "/same" {
			if r.Header.Get("Authorization") == "" {
				t.Error("a same-origin redirect lost Authorization")
			}
			w.WriteHeader(204)
			return
		}
		if r.Header.Get("Authorization") != "Bearer secret" || r.Header.Get("Cookie") != "s=1" {
			t.Errorf("the first request lacks the credentials: %v", r.Header)
		}
		to := other.URL + "/stream"
		if r.URL.Path == "/to-same" {
			to = "/same"
		}
		http.Redirect(w, r, to, http.StatusFound)
	})
	other.Start() // its Close runs before srv's goroutine check
	t.Cleanup(other.Close)
	req := newGet(t, srv.URL+"/start")
	req.Header.Set("Authorization", "Bearer secret")
	req.Header.Set("Cookie", "s=1")
	req.Header.Set("Proxy-Authorization", "Basic eDp5")
	req.Header.Set("X-Client", "test")
	var r recorder
	c := r.client(srv)
	c.HTTPClient = &http.Client{}
	t.Cleanup(c.HTTPClient.CloseIdleConnections)
	if events, err := collectWithin(t, c, req); err != nil || datas(events) != "there" || hits.Load() != 2 {
		t.Errorf("events %q, err %v, %d requests to the other origin", datas(events), err, hits.Load())
	}
	req.URL.Path = "/to-same"
	if _, err := collectWithin(t, c, req); err != nil || home.Load() != 3 {
		t.Errorf("err %v, %d requests", err, home.Load())
	}
}

func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"http://a.example/x", "http://a.example/y?q", true},
		{"http://a.example/", "http://A.EXAMPLE:80/", true},
		{"https://a.example/", "https://a.example:443/", true},
		{"HTTPS://a.example/", "https://a.example/", true},
		{"http://a.example/", "https://a.example/", false},
		{"http://a.example/", "http://a.example:8080/", false},
		{"http://a.example/", "http://sub.a.example/", false},
		{"http://127.0.0.1:1/", "http://127.0.0.1:2/", false},
		{"http://[::1]:1/", "http://[::1]:1/z", true},
	} {
		a, _ := url.Parse(tc.a)
		b, _ := url.Parse(tc.b)
		if got := sameOrigin(a, b); got != tc.want {
			t.Errorf("sameOrigin(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}

// TestClientPostSeeOtherReconnects: a POST answered 303 See Other is a GET
// of the stream from then on (RFC 9110 15.4.4), and GET reconnects.
func TestClientPostSeeOtherReconnects(t *testing.T) {
	var posts, gets atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			posts.Add(1)
			http.Redirect(w, r, "/runs/1/stream", http.StatusSeeOther)
			return
		}
		streamHeader(w)
		if gets.Add(1) == 1 {
			io.WriteString(w, "id: 1\ndata: a\n\n")
			return
		}
		io.WriteString(w, "data: b\n\ndata: [DONE]\n\n")
	})
	var r recorder
	c := r.client(srv)
	c.DoneData = "[DONE]"
	events, err := collectWithin(t, c, newRequest(t, "POST", srv.URL+"/runs", `{"task":"x"}`))
	if err != nil || datas(events) != "a,b" || posts.Load() != 1 || gets.Load() != 2 {
		t.Errorf("events %q, err %v, %d POSTs, %d GETs", datas(events), err, posts.Load(), gets.Load())
	}
}

// TestClientKeepsCallersAccept: an MCP client must accept both JSON and
// event streams (MCP 2025-06-18, Streamable HTTP, "Sending Messages to the
// Server"); the client sets text/event-stream only when the caller set no
// Accept.
func TestClientKeepsCallersAccept(t *testing.T) {
	srv, h := llmServer(t)
	const mcp = "application/json, text/event-stream"
	req := newRequest(t, "POST", srv.URL+llmtest.PathDone, `{"jsonrpc":"2.0","id":1,"method":"tools/call"}`)
	req.Header.Set("Accept", mcp)
	c := &Client{HTTPClient: srv.Client(), DoneData: "[DONE]"}
	if _, err := collectWithin(t, c, req); err != nil {
		t.Fatal(err)
	}
	if _, err := collectWithin(t, c, newRequest(t, "POST", srv.URL+llmtest.PathDone, "{}")); err != nil {
		t.Fatal(err)
	}
	reqs := h.Requests()
	if got := reqs[0].Header.Values("Accept"); !slices.Equal(got, []string{mcp}) {
		t.Errorf("Accept %q, want %q", got, mcp)
	}
	if got := reqs[1].Header.Get("Accept"); got != "text/event-stream" {
		t.Errorf("default Accept %q", got)
	}
}
