package sse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// newServer starts an HTTP server for one test and checks, once it is
// closed, that no goroutine was left behind.
func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(srv.Client().CloseIdleConnections)
	return srv
}

// testClient reconnects fast and without jitter, and records what its hooks
// report.
type recorder struct {
	mu     sync.Mutex
	states []State
	errs   []*ReconnectError
}

func (r *recorder) client(srv *httptest.Server) *Client {
	return &Client{
		HTTPClient:    srv.Client(),
		ReconnectTime: 5 * time.Millisecond,
		MaxAttempts:   10,
		jitter:        func(d time.Duration) time.Duration { return d },
		OnStateChange: func(s State) {
			r.mu.Lock()
			r.states = append(r.states, s)
			r.mu.Unlock()
		},
		OnError: func(err error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			var re *ReconnectError
			if !errors.As(err, &re) {
				panic(fmt.Sprintf("OnError got %T", err))
			}
			r.errs = append(r.errs, re)
		},
	}
}

func (r *recorder) delays() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var d []time.Duration
	for _, e := range r.errs {
		d = append(d, e.Delay)
	}
	return d
}

// collect iterates seq to its end, or for at most max events.
func collect(seq func(func(Event, error) bool), max int) (events []Event, err error) {
	for e, err := range seq {
		if err != nil {
			return events, err
		}
		events = append(events, e)
		if len(events) == max {
			break
		}
	}
	return events, nil
}

func datas(events []Event) string {
	var s []string
	for _, e := range events {
		s = append(s, e.Data)
	}
	return strings.Join(s, ",")
}

func newGet(t testing.TB, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func streamHeader(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
}

func TestClientRedirect(t *testing.T) {
	for _, code := range []int{301, 302, 307} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			var starts, finals atomic.Int32
			method := "GET"
			if code == 307 {
				method = "POST" // 307 keeps the method and body
			}
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != method {
					t.Errorf("%s %s", r.Method, r.URL.Path)
				}
				if method == "POST" {
					if b, _ := io.ReadAll(r.Body); string(b) != `{"q":1}` {
						t.Errorf("body %q at %s", b, r.URL.Path)
					}
				}
				switch r.URL.Path {
				case "/start":
					starts.Add(1)
					http.Redirect(w, r, "/final", code)
				case "/final":
					switch finals.Add(1) {
					case 1:
						streamHeader(w)
						io.WriteString(w, "id: 1\ndata: a\n\n")
					case 2:
						if got := r.Header.Get("Last-Event-ID"); got != "1" {
							t.Errorf("Last-Event-ID %q", got)
						}
						streamHeader(w)
						io.WriteString(w, "data: b\n\n")
					default:
						w.WriteHeader(http.StatusNoContent)
					}
				}
			})
			req, _ := http.NewRequest(method, srv.URL+"/start", strings.NewReader(`{"q":1}`))
			if method == "GET" {
				req, _ = http.NewRequest(method, srv.URL+"/start", nil)
			}
			var r recorder
			c := r.client(srv)
			c.Resumable = method == "POST"
			es := c.EventSource(context.Background(), req)
			events, err := collect(es.Events(), -1)
			if err != nil || datas(events) != "a,b" {
				t.Fatalf("events %q, err %v", datas(events), err)
			}
			if starts.Load() != 1 || finals.Load() != 3 {
				t.Errorf("%d requests to /start, %d to /final; reconnections must go to the final URL", starts.Load(), finals.Load())
			}
			if es.URL().Path != "/final" {
				t.Errorf("URL() = %v", es.URL())
			}
		})
	}
}

func TestClient204EndsForGood(t *testing.T) {
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})
	var r recorder
	es := r.client(srv).EventSource(context.Background(), newGet(t, srv.URL))
	events, err := collect(es.Events(), -1)
	if err != nil || len(events) != 0 || hits.Load() != 1 {
		t.Errorf("events %v, err %v, %d requests", events, err, hits.Load())
	}
	if es.State() != Closed || len(r.errs) != 0 {
		t.Errorf("state %v, reconnect errors %v", es.State(), r.errs)
	}
}

func TestClient500IsFatalByDefault(t *testing.T) {
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "boom", 500)
	})
	var r recorder
	es := r.client(srv).EventSource(context.Background(), newGet(t, srv.URL))
	var err error
	for _, err = range es.Events() {
		if st := es.State(); err != nil && st != Closed {
			t.Errorf("state %v when the fatal error is yielded", st)
		}
	}
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 500 || !errors.Is(err, ErrUnexpectedStatus) {
		t.Fatalf("err = %v, want a *StatusError for 500", err)
	}
	if !strings.Contains(err.Error(), "500") || hits.Load() != 1 {
		t.Errorf("err %q after %d requests", err, hits.Load())
	}
}

func TestClientRetriesServerErrorsHonouringRetryAfter(t *testing.T) {
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch hits.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "busy", 503)
		case 2:
			w.Header().Set("Retry-After", time.Now().Add(2*time.Second).UTC().Format(http.TimeFormat))
			http.Error(w, "slow down", 429)
		case 3:
			streamHeader(w)
			io.WriteString(w, "data: ok\n\n")
		default:
			w.WriteHeader(204)
		}
	})
	var r recorder
	c := r.client(srv)
	c.RetryServerErrors = true
	start := time.Now()
	events, err := collect(c.Events(context.Background(), newGet(t, srv.URL)), -1)
	if err != nil || datas(events) != "ok" {
		t.Fatalf("events %q, err %v", datas(events), err)
	}
	d := r.delays()
	if len(d) != 3 || d[0] != time.Second || d[1] < time.Second || d[1] > 2*time.Second {
		t.Errorf("delays %v, want [1s ~1-2s 5ms]", d)
	}
	if !errors.Is(r.errs[0], ErrUnexpectedStatus) {
		t.Errorf("reconnect error %v", r.errs[0])
	}
	if el := time.Since(start); el < 2*time.Second {
		t.Errorf("finished after %v: Retry-After not waited", el)
	}
}

func TestClientWrongContentType(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "data: no\n\n")
	})
	var r recorder
	events, err := collect(r.client(srv).Events(context.Background(), newGet(t, srv.URL)), -1)
	var ce *ContentTypeError
	if !errors.As(err, &ce) || ce.ContentType != "text/plain" || !errors.Is(err, ErrUnexpectedContentType) || len(events) != 0 {
		t.Errorf("events %v, err %v", events, err)
	}
	if !strings.Contains(err.Error(), "text/plain") {
		t.Errorf("error %q does not name the type", err)
	}
}

func TestClientContentTypeWithParameters(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		io.WriteString(w, "data: yes\n\n")
	})
	var r recorder
	events, err := collect(r.client(srv).Events(context.Background(), newGet(t, srv.URL)), 1)
	if err != nil || datas(events) != "yes" {
		t.Errorf("events %q, err %v", datas(events), err)
	}
}

func TestClientReconnectsAfterDroppedConnection(t *testing.T) {
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch hits.Add(1) {
		case 1:
			if r.Header.Get("Last-Event-ID") != "" || len(r.Header.Values("Last-Event-ID")) != 0 {
				t.Errorf("first request has Last-Event-ID %q", r.Header.Values("Last-Event-ID"))
			}
			if r.Header.Get("Accept") != "text/event-stream" || r.Header.Get("Cache-Control") != "no-cache" {
				t.Errorf("request headers %v", r.Header)
			}
			streamHeader(w)
			io.WriteString(w, "id: 1\ndata: a\n\nid: 2\ndata: half")
			http.NewResponseController(w).Flush()
			panic(http.ErrAbortHandler) // drop the connection mid-event
		case 2:
			// The unfinished block's id is not the last event ID.
			if got := r.Header.Get("Last-Event-ID"); got != "1" {
				t.Errorf("Last-Event-ID %q, want 1", got)
			}
			streamHeader(w)
			io.WriteString(w, "data: b\n\n")
		default:
			w.WriteHeader(204)
		}
	})
	var r recorder
	events, err := collect(r.client(srv).Events(context.Background(), newGet(t, srv.URL)), -1)
	if err != nil || datas(events) != "a,b" {
		t.Fatalf("events %q, err %v", datas(events), err)
	}
	if len(r.errs) != 2 || r.errs[0].Attempt != 0 || errors.Is(r.errs[0], ErrDisconnected) {
		t.Errorf("reconnect errors %v: the first should be the dropped connection", r.errs)
	}
	if !errors.Is(r.errs[1], ErrDisconnected) {
		t.Errorf("second reconnect error %v, want ErrDisconnected", r.errs[1])
	}
}

func TestClientRetryFieldChangesDelay(t *testing.T) {
	var hits atomic.Int32
	var first time.Time
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch hits.Add(1) {
		case 1:
			first = time.Now()
			streamHeader(w)
			io.WriteString(w, "retry: 300\ndata: a\n\n")
		default:
			if d := time.Since(first); d < 300*time.Millisecond {
				t.Errorf("reconnected after %v, retry was 300ms", d)
			}
			w.WriteHeader(204)
		}
	})
	var r recorder
	c := r.client(srv)
	var order []string
	c.OnRetry = func(d time.Duration) { order = append(order, "retry "+d.String()) }
	for e, err := range c.Events(context.Background(), newGet(t, srv.URL)) {
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, "event "+e.Data)
	}
	if d := r.delays(); !slices.Equal(d, []time.Duration{300 * time.Millisecond}) {
		t.Errorf("delays %v", d)
	}
	if want := []string{"retry 300ms", "event a"}; !slices.Equal(order, want) {
		t.Errorf("hooks and events in order %q, want %q", order, want)
	}
}

func TestClientLastEventIDFromUndispatchedBlock(t *testing.T) {
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch hits.Add(1) {
		case 1:
			streamHeader(w)
			io.WriteString(w, "id: 1\ndata: a\n\nid: 7\n\n") // id 7 without data
		case 2:
			if got := r.Header.Get("Last-Event-ID"); got != "7" {
				t.Errorf("Last-Event-ID %q, want 7", got)
			}
			streamHeader(w)
			io.WriteString(w, "data: b\n\n")
		default:
			w.WriteHeader(204)
		}
	})
	var r recorder
	req := newGet(t, srv.URL)
	es := r.client(srv).EventSource(context.Background(), req)
	events, err := collect(es.Events(), -1)
	if err != nil || len(events) != 2 || events[0].ID != "1" || events[1].ID != "7" {
		t.Fatalf("events %+v, err %v", events, err)
	}
	if es.LastEventID() != "7" {
		t.Errorf("LastEventID() = %q", es.LastEventID())
	}
}

func TestClientIdleTimeout(t *testing.T) {
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch hits.Add(1) {
		case 1:
			streamHeader(w)
			// Comments keep the connection alive past the idle timeout...
			for range 60 {
				io.WriteString(w, ":\n")
				http.NewResponseController(w).Flush()
				time.Sleep(20 * time.Millisecond)
			}
			io.WriteString(w, "data: a\n\n")
			http.NewResponseController(w).Flush()
			// ...silence does not.
			<-r.Context().Done()
		default:
			w.WriteHeader(204)
		}
	})
	var r recorder
	c := r.client(srv)
	c.IdleTimeout = time.Second // far above the comments' gaps, below their span
	events, err := collect(c.Events(context.Background(), newGet(t, srv.URL)), -1)
	if err != nil || datas(events) != "a" {
		t.Fatalf("events %q, err %v, reconnect errors %v", datas(events), err, r.errs)
	}
	if len(r.errs) != 1 || !errors.Is(r.errs[0], ErrIdleTimeout) {
		t.Errorf("reconnect errors %v, want one idle timeout", r.errs)
	}
}

func TestClientBackoffGrowsAndResets(t *testing.T) {
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch hits.Add(1) {
		case 5:
			streamHeader(w)
			io.WriteString(w, "data: a\n\n")
		case 1, 2, 3, 4, 6, 7:
			http.Error(w, "down", 502)
		default:
			w.WriteHeader(204)
		}
	})
	var r recorder
	c := r.client(srv)
	c.RetryServerErrors = true
	c.ReconnectTime = time.Millisecond
	c.MaxBackoff = 4 * time.Millisecond
	if _, err := collect(c.Events(context.Background(), newGet(t, srv.URL)), -1); err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	want := []time.Duration{ms, 2 * ms, 4 * ms, 4 * ms, ms, ms, 2 * ms}
	if d := r.delays(); !slices.Equal(d, want) {
		t.Errorf("delays %v, want %v", d, want)
	}
}

func TestClientBackoffJitter(t *testing.T) {
	es := (&Client{ReconnectTime: 100 * time.Millisecond}).EventSource(context.Background(), newGet(t, "http://x"))
	for n := 1; n <= 20; n++ {
		want := min(100*time.Millisecond<<(n-1), DefaultMaxBackoff)
		d := es.backoff(n, nil)
		if d > want || d < want/2 || (n == 1 && d != want) {
			t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, want/2, want)
		}
	}
}

func TestClientAttemptLimit(t *testing.T) {
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "down", 503)
	})
	var r recorder
	c := r.client(srv)
	c.RetryServerErrors = true
	c.MaxAttempts = 3
	_, err := collect(c.Events(context.Background(), newGet(t, srv.URL)), -1)
	var se *StatusError
	if !errors.Is(err, ErrMaxAttempts) || !errors.As(err, &se) || se.StatusCode != 503 {
		t.Errorf("err = %v, want ErrMaxAttempts and the 503", err)
	}
	if hits.Load() != 3 {
		t.Errorf("%d attempts, limit 3", hits.Load())
	}
}

func TestClientUnreachableAttemptLimit(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	var r recorder
	c := r.client(srv)
	c.MaxAttempts = 2
	_, err := collect(c.Events(context.Background(), newGet(t, url)), -1)
	if !errors.Is(err, ErrMaxAttempts) || len(r.errs) != 1 {
		t.Errorf("err = %v after %d retries", err, len(r.errs))
	}
}

func TestClientResumableResendsPostBody(t *testing.T) {
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || string(b) != `{"topics":["a"]}` || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request %d: %s %q %v", hits.Load()+1, r.Method, b, r.Header)
		}
		switch hits.Add(1) {
		case 1, 2:
			streamHeader(w)
			fmt.Fprintf(w, "data: %d\n\n", hits.Load())
		default:
			w.WriteHeader(204)
		}
	})
	// A body without GetBody: the client must keep a copy.
	req, _ := http.NewRequest("POST", srv.URL, io.NopCloser(strings.NewReader(`{"topics":["a"]}`)))
	req.Header.Set("Content-Type", "application/json")
	var r recorder
	c := r.client(srv)
	c.Resumable = true
	events, err := collect(c.Events(context.Background(), req), -1)
	if err != nil || datas(events) != "1,2" || hits.Load() != 3 {
		t.Errorf("events %q, err %v, %d requests", datas(events), err, hits.Load())
	}
}

func TestClientCancel(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		s, err := NewStream(w, r, StreamOptions{})
		if err != nil {
			return
		}
		defer s.Close()
		for i := 0; ; i++ {
			if s.Send(Event{Data: fmt.Sprint(i)}) != nil {
				return
			}
			select {
			case <-s.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	t.Run("streaming", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var r recorder
		n := 0
		var last error
		for _, err := range r.client(srv).Events(ctx, newGet(t, srv.URL)) {
			if err != nil {
				last = err
				break
			}
			if n++; n == 3 {
				cancel()
			}
		}
		if !errors.Is(last, context.Canceled) {
			t.Errorf("after cancel: %v", last)
		}
	})
	t.Run("waiting to reconnect", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var r recorder
		c := r.client(srv)
		c.ReconnectTime = time.Hour
		c.IdleTimeout = time.Millisecond // every connection dies at once
		c.OnError = func(error) { cancel() }
		start := time.Now()
		_, err := collect(c.Events(ctx, newGet(t, srv.URL)), -1)
		if !errors.Is(err, context.Canceled) || time.Since(start) > 10*time.Second {
			t.Errorf("err %v after %v", err, time.Since(start))
		}
	})
}

func TestClientStatesAndBreak(t *testing.T) {
	var hits atomic.Int32
	gone := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		streamHeader(w)
		if hits.Add(1) == 1 {
			io.WriteString(w, "data: a\n\n")
			return
		}
		io.WriteString(w, "event: x\ndata: b\n\ndata: c\n\nevent: x\ndata: d\n\n")
		http.NewResponseController(w).Flush()
		<-r.Context().Done() // the consumer's break must close the connection
		close(gone)
	})
	var r recorder
	es := r.client(srv).EventSource(context.Background(), newGet(t, srv.URL))
	events, err := collect(OfType(es.Events(), "x"), 2)
	if err != nil || datas(events) != "b,d" {
		t.Fatalf("events %q, err %v", datas(events), err)
	}
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("connection still open 10s after the loop stopped")
	}
	want := []State{Open, Connecting, Open, Closed}
	if !slices.Equal(r.states, want) || es.State() != Closed {
		t.Errorf("states %v, want %v", r.states, want)
	}
	if _, err := collect(es.Events(), -1); err == nil {
		t.Error("second iteration did not fail")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"120":                           2 * time.Minute,
		"-1":                            0,
		"soon":                          0,
		"Thu, 01 Jan 2026 00:00:30 GMT": 30 * time.Second,
		"Wed, 31 Dec 2025 23:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-1", "4294967296", "Thu, 01 Jan 2026 00:00:30 GMT", "Monday, 02-Jan-06 15:04:05 GMT", "Mon Jan  2 15:04:05 2006", "soon"} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d := parseRetryAfter(s, now)
		if d < 0 {
			t.Fatalf("parseRetryAfter(%q) = %v, negative", s, d)
		}
		if d > 0 && s == "" {
			t.Fatal("empty header gave a delay")
		}
	})
}

// TestClientWithStream runs the client against Stream over both protocols,
// across a reconnection.
func TestClientWithStream(t *testing.T) {
	var hits atomic.Int32
	h := func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		if n > 2 {
			w.WriteHeader(204)
			return
		}
		s, err := NewStream(w, r, StreamOptions{Retry: time.Millisecond})
		if err != nil {
			t.Error(err)
			return
		}
		defer s.Close()
		s.Comment("hello")
		for i := range 3 {
			if err := s.Send(Event{ID: fmt.Sprintf("%d.%d", n, i), Data: "x\ny"}); err != nil {
				return
			}
		}
	}
	eachProto(t, h, func(t *testing.T, srv *httptest.Server, c *http.Client) {
		hits.Store(0)
		es := (&Client{HTTPClient: c}).EventSource(context.Background(), newGet(t, srv.URL))
		events, err := collect(es.Events(), -1)
		if err != nil || len(events) != 6 || events[5].ID != "2.2" || events[0].Data != "x\ny" {
			t.Errorf("events %+v, err %v", events, err)
		}
	})
}

// streamOnce starts a server that answers the first request with a stream
// of body and every later one with 204, and counts the requests.
func streamOnce(t *testing.T, body string) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) > 1 {
			w.WriteHeader(204)
			return
		}
		streamHeader(w)
		io.WriteString(w, body)
	})
	return srv, &hits
}

func TestClientZeroValue(t *testing.T) {
	srv, hits := streamOnce(t, "retry: 1\ndata: zero\n\n")
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	events, err := collect((&Client{}).Events(context.Background(), newGet(t, srv.URL)), -1)
	if err != nil || datas(events) != "zero" || hits.Load() != 2 {
		t.Errorf("events %q, err %v, %d requests", datas(events), err, hits.Load())
	}
}

// BenchmarkClientEvents measures events received through Client over
// loopback HTTP/1.1: request, response checks, decoding and iteration.
func BenchmarkClientEvents(b *testing.B) {
	p, _ := AppendEvent(nil, Event{ID: "42", Type: "update", Data: strings.Repeat("x", 100)})
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		streamHeader(w)
		// Batches of events per write, so the server is not what is measured.
		batch := bytes.Repeat(p, 64)
		for left := n.Load(); left > 0; left -= 64 {
			if _, err := w.Write(batch[:min(left, 64)*int64(len(p))]); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	defer srv.Client().CloseIdleConnections()
	n.Store(int64(b.N))
	c := &Client{HTTPClient: srv.Client()}
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	b.ResetTimer()
	got := 0
	for _, err := range c.Events(context.Background(), newGet(b, srv.URL)) {
		if err != nil {
			b.Fatal(err)
		}
		if got++; got == b.N {
			break
		}
	}
}
