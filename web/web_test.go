package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/demo"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/sse"
	"github.com/ssehub/ssehub/web"
)

func newHub(t *testing.T) *hub.Hub {
	t.Helper()
	log := hub.NewMemoryLog(hub.MemoryLogOptions{})
	h, err := hub.New(hub.Options{Log: log, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close(context.Background())
		log.Close()
	})
	return h
}

func newServer(t *testing.T, opts web.Options) *httptest.Server {
	t.Helper()
	if opts.Hub == nil {
		opts.Hub = newHub(t)
	}
	opts.Logger = slog.New(slog.DiscardHandler)
	h, err := web.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestNewRejects(t *testing.T) {
	h := newHub(t)
	for _, tc := range []struct {
		opts web.Options
		want string
	}{
		{web.Options{}, "Hub"},
		{web.Options{Hub: h, HubPath: "relative/path"}, "HubPath"},
		{web.Options{Hub: h, HubPath: "ftp://example.com/hub"}, "HubPath"},
		{web.Options{Hub: h, HubPath: "http:///nohost"}, "HubPath"},
		{web.Options{Hub: h, HubPath: "//example.com/hub"}, "HubPath"},
		{web.Options{Hub: h, HubPath: "http://[::1"}, "HubPath"},
	} {
		_, err := web.New(tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error naming %s", tc.opts, err, tc.want)
		}
	}
}

func TestPages(t *testing.T) {
	srv := newServer(t, web.Options{HubPath: "https://hub.example.com/.well-known/mercure", DemoTopic: `https://example.com/"quoted"`})
	for _, tc := range []struct {
		path, status, ctype, contains string
	}{
		{"/", "200 OK", "text/html; charset=utf-8", `data-topic="https://example.com/&#34;quoted&#34;"`},
		{"/", "200 OK", "text/html; charset=utf-8", `data-can-publish="false"`},
		{"/", "200 OK", "text/html; charset=utf-8", `id="pub-unavailable"`},
		{"/dashboard", "200 OK", "text/html; charset=utf-8", `data-hub="https://hub.example.com/.well-known/mercure"`},
		{"/assets/app.css", "200 OK", "text/css; charset=utf-8", ":root"},
		{"/assets/demo.js", "200 OK", "text/javascript; charset=utf-8", "EventSource"},
		{"/assets/dashboard.js", "200 OK", "text/javascript; charset=utf-8", "EventSource"},
		{"/assets/common.js", "200 OK", "text/javascript; charset=utf-8", "withCredentials"},
		{"/assets/index.html", "404 Not Found", "", ""},
		{"/assets/", "404 Not Found", "", ""},
		{"/assets/nope.js", "404 Not Found", "", ""},
		{"/publish-token", "404 Not Found", "", ""}, // no PublishToken
		{"/elsewhere", "404 Not Found", "", ""},
	} {
		resp, body := get(t, srv.URL+tc.path)
		if resp.Status != tc.status {
			t.Errorf("GET %s: %s, want %s", tc.path, resp.Status, tc.status)
			continue
		}
		if tc.ctype != "" && resp.Header.Get("Content-Type") != tc.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, resp.Header.Get("Content-Type"), tc.ctype)
		}
		if !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "connect-src 'self' https://hub.example.com;") || !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", tc.path, csp)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %s, Allow %q", resp.Status, resp.Header.Get("Allow"))
	}
}

// TestPagesNameAccessTokenCookie: where a plain EventSource needs a token,
// the pages name the cookie the hub reads Mercure 1.0 access tokens from
// (draft-dunglas-mercure-08, "Cookie"), as configured: browsers keep the
// default __Secure- name over HTTPS only, so a hub on plain HTTP may use
// another.
func TestPagesNameAccessTokenCookie(t *testing.T) {
	for _, tc := range []struct{ cookie, want string }{
		{"", mercure.DefaultAccessTokenCookie},
		{"mercure_access_token", "mercure_access_token"},
	} {
		srv := newServer(t, web.Options{AccessTokenCookie: tc.cookie})
		_, body := get(t, srv.URL+"/")
		if n := strings.Count(body, "<code>"+tc.want+"</code>") + strings.Count(body, `<code id="cookie-name">`+tc.want+"</code>"); n != 2 {
			t.Errorf("AccessTokenCookie %q: the demo page names %s %d times, want 2 (the feed's notice, the Subscribe panel's hint)", tc.cookie, tc.want, n)
		}
		if strings.Contains(body, mercure.DefaultCookieName) {
			t.Errorf("AccessTokenCookie %q: the demo page still names Mercure 0.x's %s cookie", tc.cookie, mercure.DefaultCookieName)
		}
	}
	// As the binary wires them (routes.New), the pages name the cookie
	// the Mercure handler reads (--access-token-cookie).
	s := &stack{t: t, path: filepath.Join(t.TempDir(), "hub.db"), addr: "127.0.0.1:0", noDemo: true, accessCookie: "plain_http_token"}
	s.start()
	t.Cleanup(s.stop)
	if _, body := get(t, s.URL()+"/"); !strings.Contains(body, "<code>plain_http_token</code>") || strings.Contains(body, mercure.DefaultAccessTokenCookie) {
		t.Errorf("the demo page does not name the hub's cookie plain_http_token only")
	}
}

// TestPagesDiscoveryLink: the pages advertise their hub with a Link
// rel="mercure" (Mercure 1.0, "Hub Discovery"); the demo page's carries the
// last-event-id its feed starts after (the newest update the hub has that
// an anonymous subscriber may see, never a private one: its ID would
// disclose it) and the content-type of the feed's data, and no type, since
// the feed has two.
func TestPagesDiscoveryLink(t *testing.T) {
	h := newHub(t)
	srv := newServer(t, web.Options{Hub: h})
	link := func(path string) string {
		resp, _ := get(t, srv.URL+path)
		return resp.Header.Get("Link")
	}
	hubLink := `</.well-known/mercure>; rel="mercure"`
	if got, want := link("/"), hubLink+`; content-type="application/json"`; got != want {
		t.Errorf("GET / on an empty hub: Link %q, want %q (no cursor: earliest would replay everything)", got, want)
	}
	if got := link("/dashboard"); got != hubLink {
		t.Errorf("GET /dashboard: Link %q, want %q", got, hubLink)
	}
	ctx := t.Context()
	public, err := h.Publish(ctx, &hub.Update{Topics: []string{"https://example.com/elsewhere"}, Data: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Publish(ctx, &hub.Update{Topics: []string{demo.Topic}, Data: "secret", Private: true}); err != nil {
		t.Fatal(err)
	}
	last, err := h.Publish(ctx, &hub.Update{Topics: []string{"https://example.com/after"}, Data: "y", Private: true})
	if err != nil {
		t.Fatal(err)
	}
	// The hub learns of an update as it fans it out, after Publish
	// returns: wait until all three are.
	for deadline := time.Now().Add(10 * time.Second); h.Stats().Position < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the hub fanned out %d updates, want 3", h.Stats().Position)
		}
	}
	want := hubLink + `; last-event-id="` + public + `"; content-type="application/json"`
	if got := link("/"); got != want {
		t.Errorf("GET /: Link %q, want %q (never the private %s)", got, want, last)
	}
	if _, body := get(t, srv.URL+"/"); !strings.Contains(body, `data-last-event-id="`+public+`"`) {
		t.Errorf("the demo page does not hand its feed the cursor %s", public)
	}
	// A hub on another origin: its absolute URL.
	other := newServer(t, web.Options{Hub: h, HubPath: "https://hub.example.com/.well-known/mercure"})
	resp, _ := get(t, other.URL+"/dashboard")
	if got, want := resp.Header.Get("Link"), `<https://hub.example.com/.well-known/mercure>; rel="mercure"`; got != want {
		t.Errorf("GET /dashboard with an absolute HubPath: Link %q, want %q", got, want)
	}
}

func postToken(t *testing.T, url, site string) (int, map[string]string) {
	t.Helper()
	return postTokenTo(t, url+"/publish-token", site, "")
}

// postTokenHost is postToken with the Host header set to host ("": the
// URL's).
func postTokenHost(t *testing.T, url, site, host string) (int, map[string]string) {
	t.Helper()
	return postTokenTo(t, url+"/publish-token", site, host)
}

// postTokenTo posts to the token endpoint at url.
func postTokenTo(t *testing.T, url, site, host string) (int, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	req.Host = host
	if site != "" {
		req.Header.Set("Sec-Fetch-Site", site)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("token answer Cache-Control %q", cc)
	}
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token answer is not JSON: %v", err)
	}
	return resp.StatusCode, body
}

func TestPublishToken(t *testing.T) {
	allowed := true
	srv := newServer(t, web.Options{PublishToken: func(*http.Request) (string, bool) {
		return "the-token", allowed
	}})
	if _, body := get(t, srv.URL+"/"); !strings.Contains(body, `data-can-publish="true"`) || !strings.Contains(body, `id="pub-form"`) {
		t.Error("page does not offer the publish form though tokens are given")
	}
	if code, body := postToken(t, srv.URL, "same-origin"); code != 200 || body["token"] != "the-token" {
		t.Errorf("same-origin: %d %v", code, body)
	}
	if code, body := postToken(t, srv.URL, ""); code != 200 || body["token"] != "the-token" {
		t.Errorf("no Sec-Fetch-Site (not a browser): %d %v", code, body)
	}
	for _, site := range []string{"cross-site", "same-site", "none"} {
		if code, body := postToken(t, srv.URL, site); code != 403 || body["token"] != "" || !strings.Contains(body["error"], "Sec-Fetch-Site") {
			t.Errorf("Sec-Fetch-Site %s: %d %v", site, code, body)
		}
	}
	// Issue 19, item 12: a DNS-rebinding page is same-origin with itself
	// and sends its own name as Host; only loopback names get a token.
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	for _, host := range []string{"localhost:" + port, "LocalHost:" + port, "127.0.0.1:" + port, "[::1]:" + port, "localhost", "[::1]"} {
		if code, body := postTokenHost(t, srv.URL, "same-origin", host); code != 200 || body["token"] != "the-token" {
			t.Errorf("Host %s: %d %v", host, code, body)
		}
	}
	for _, host := range []string{"rebind.evil.example:" + port, "rebind.evil.example", "127.0.0.2:" + port, "localhost.evil.example:" + port,
		"127.0.0.1.nip.io:" + port, "0.0.0.0:" + port, "[::ffff:127.0.0.1]:" + port, "localhost:x", "localhost:"} {
		if code, body := postTokenHost(t, srv.URL, "same-origin", host); code != 403 || body["token"] != "" || !strings.Contains(body["error"], "Host") {
			t.Errorf("Host %s: %d %v, want 403 naming Host", host, code, body)
		}
	}
	resp, _ := get(t, srv.URL+"/publish-token")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /publish-token: %s", resp.Status)
	}

	allowed = false
	if code, body := postToken(t, srv.URL, "same-origin"); code != 403 || body["token"] != "" || !strings.Contains(body["error"], "development defaults") {
		t.Errorf("refused: %d %v", code, body)
	}
	if _, body := get(t, srv.URL+"/"); !strings.Contains(body, `id="pub-unavailable"`) {
		t.Error("page offers the publish form though no token is given")
	}
}

func TestSubscribeToken(t *testing.T) {
	srv := newServer(t, web.Options{})
	_, body := get(t, srv.URL+"/")
	if !strings.Contains(body, `data-subscribe-token-url=""`) || !strings.Contains(body, `id="priv-token"`) {
		t.Error("without SubscribeToken, the private panel does not ask for a token")
	}
	if !strings.Contains(body, `data-private-topic="`+demo.PrivateTopic+`"`) {
		t.Error("the page does not name the private topic")
	}
	if resp, _ := get(t, srv.URL+"/subscribe-token"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /subscribe-token without SubscribeToken: %s", resp.Status)
	}

	allowed := true
	srv = newServer(t, web.Options{SubscribeToken: func(*http.Request) (string, bool) {
		return "sub-token", allowed
	}})
	if _, body := get(t, srv.URL+"/"); !strings.Contains(body, `data-subscribe-token-url="/subscribe-token"`) || strings.Contains(body, `id="priv-token"`) {
		t.Error("with SubscribeToken, the page does not point the panel at /subscribe-token")
	}
	if code, body := postTokenTo(t, srv.URL+"/subscribe-token", "same-origin", ""); code != 200 || body["token"] != "sub-token" {
		t.Errorf("same-origin: %d %v", code, body)
	}
	if code, body := postTokenTo(t, srv.URL+"/subscribe-token", "cross-site", ""); code != 403 || body["token"] != "" {
		t.Errorf("cross-site: %d %v", code, body)
	}
	if code, body := postTokenTo(t, srv.URL+"/subscribe-token", "same-origin", "rebound.example"); code != 403 || body["token"] != "" {
		t.Errorf("Host not loopback: %d %v", code, body)
	}
	allowed = false
	if code, body := postTokenTo(t, srv.URL+"/subscribe-token", "same-origin", ""); code != 403 || !strings.Contains(body["error"], "subscribe grant") {
		t.Errorf("refused: %d %v", code, body)
	}
	if resp, _ := get(t, srv.URL+"/subscribe-token"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /subscribe-token: %s", resp.Status)
	}
}

// figures is what the dashboard reads from the stream.
type figures struct {
	Subscribers        int64    `json:"subscribers"`
	Topics             int      `json:"topics"`
	Published          uint64   `json:"published"`
	Delivered          uint64   `json:"delivered"`
	PublishedPerSecond *float64 `json:"publishedPerSecond"`
	DeliveredPerSecond *float64 `json:"deliveredPerSecond"`
	History            *int     `json:"history"`
	HistoryError       string   `json:"historyError"`
	Memory             struct {
		Total, Heap, Goroutines uint64
	} `json:"memory"`
}

func TestStatsStream(t *testing.T) {
	h := newHub(t)
	sizeErr := errors.New("log unavailable")
	calls := 0
	srv := newServer(t, web.Options{Hub: h, HistorySize: func(ctx context.Context) (int, error) {
		calls++
		if calls == 2 {
			return 0, sizeErr
		}
		return 7 * calls, nil
	}})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/dashboard/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	var got []figures
	for e, err := range sse.Events(resp.Body) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Type != "stats" {
			t.Fatalf("event type %q", e.Type)
		}
		var f figures
		if err := json.Unmarshal([]byte(e.Data), &f); err != nil {
			t.Fatalf("data %q: %v", e.Data, err)
		}
		got = append(got, f)
		if len(got) == 1 {
			// Between the first and second sample: one subscriber, two updates.
			sub, err := h.Subscribe(ctx, hub.Subscription{Topics: []string{"https://example.com/a"}})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			for range 2 {
				if _, err := h.Publish(ctx, &hub.Update{Topics: []string{"https://example.com/a"}, Data: "x"}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if len(got) == 3 {
			break
		}
	}
	if len(got) < 3 {
		t.Fatalf("%d samples", len(got))
	}
	first, second, third := got[0], got[1], got[2]
	if first.PublishedPerSecond != nil || first.Subscribers != 0 || first.Published != 0 {
		t.Errorf("first sample %+v", first)
	}
	if first.Memory.Total == 0 || first.Memory.Heap == 0 || first.Memory.Goroutines == 0 {
		t.Errorf("memory figures %+v", first.Memory)
	}
	if first.History == nil || *first.History != 7 {
		t.Errorf("first history %v", first.History)
	}
	if second.Subscribers != 1 || second.Topics != 1 || second.Published != 2 ||
		second.PublishedPerSecond == nil || *second.PublishedPerSecond <= 0 {
		t.Errorf("second sample %+v", second)
	}
	if second.History != nil || second.HistoryError != sizeErr.Error() {
		t.Errorf("second history %v, error %q", second.History, second.HistoryError)
	}
	if third.PublishedPerSecond == nil || *third.PublishedPerSecond != 0 {
		t.Errorf("third sample published/s %v, want 0", third.PublishedPerSecond)
	}
}
