package mercure

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// openFrom subscribes to topic from the local address ip (any 127/8
// address is loopback on Linux) and returns the status and, for a 200, a
// function ending the subscription from the client side.
func (e *env) openFrom(ip, topic string) (status int, retryAfter string, closeSub func()) {
	e.t.Helper()
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext}
	ctx, cancel := context.WithCancel(context.Background())
	r, err := http.NewRequestWithContext(ctx, "GET", e.srv.URL+Path+"?topic="+topic, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(r)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	closeSub = func() {
		cancel()
		resp.Body.Close()
		tr.CloseIdleConnections()
	}
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		closeSub()
		return resp.StatusCode, resp.Header.Get("Retry-After"), nil
	}
	e.t.Cleanup(closeSub)
	return resp.StatusCode, "", closeSub
}

// waitOpen waits until the handler counts n open subscriptions: a client's
// hang-up reaches the handler asynchronously.
func (e *env) waitOpen(n int) {
	e.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for e.h.limits.open() != n {
		if time.Now().After(deadline) {
			e.t.Fatalf("open subscriptions = %d, want %d", e.h.limits.open(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSubscriptionsPerClientLimit(t *testing.T) {
	const limit = 3
	e := newEnv(t, Options{Anonymous: true, MaxSubscriptionsPerClient: limit, RetryAfter: 2 * time.Second}, hmacPair(), hmacPair())
	var open []func()
	for i := range limit {
		status, _, c := e.openFrom("127.0.0.1", fmt.Sprint("t", i))
		if status != http.StatusOK {
			t.Fatalf("subscription %d of %d: status %d", i+1, limit, status)
		}
		open = append(open, c)
	}
	status, ra, _ := e.openFrom("127.0.0.1", "t")
	if status != http.StatusTooManyRequests || ra != "2" {
		t.Fatalf("subscription %d: status %d, Retry-After %q; want 429 and 2", limit+1, status, ra)
	}
	// The limit is per address: another client is not held back.
	if status, _, _ := e.openFrom("127.0.0.2", "t"); status != http.StatusOK {
		t.Fatalf("another address: status %d", status)
	}
	open[0]()
	e.waitOpen(limit) // two of the first client, one of the second
	if status, _, _ := e.openFrom("127.0.0.1", "t"); status != http.StatusOK {
		t.Fatalf("after closing one: status %d", status)
	}
	if status, _, _ := e.openFrom("127.0.0.1", "t"); status != http.StatusTooManyRequests {
		t.Fatalf("at the limit again: status %d", status)
	}
}

func TestSubscriptionsTotalLimit(t *testing.T) {
	const limit = 4
	e := newEnv(t, Options{Anonymous: true, MaxSubscriptions: limit}, hmacPair(), hmacPair())
	var open []func()
	for i := range limit {
		status, _, c := e.openFrom(fmt.Sprintf("127.0.0.%d", i+1), "t")
		if status != http.StatusOK {
			t.Fatalf("subscription %d: status %d", i+1, status)
		}
		open = append(open, c)
	}
	status, ra, _ := e.openFrom("127.0.0.9", "t")
	if status != http.StatusServiceUnavailable || ra != fmt.Sprint(int(DefaultRetryAfter/time.Second)) {
		t.Fatalf("subscription %d: status %d, Retry-After %q; want 503 and the default", limit+1, status, ra)
	}
	open[2]()
	e.waitOpen(limit - 1)
	if status, _, _ := e.openFrom("127.0.0.9", "t"); status != http.StatusOK {
		t.Fatalf("after closing one: status %d", status)
	}
}

// TestSubscriptionLimitsUnderConcurrency opens many subscriptions at once:
// exactly the limit get in, and every one is released when it ends.
func TestSubscriptionLimitsUnderConcurrency(t *testing.T) {
	const limit, tries = 10, 60
	e := newEnv(t, Options{Anonymous: true, MaxSubscriptions: limit}, hmacPair(), hmacPair())
	var (
		mu     sync.Mutex
		counts = map[int]int{}
		closes []func()
		wg     sync.WaitGroup
	)
	for range tries {
		wg.Go(func() {
			status, _, c := e.openFrom("127.0.0.1", "t")
			mu.Lock()
			defer mu.Unlock()
			counts[status]++
			if c != nil {
				closes = append(closes, c)
			}
		})
	}
	wg.Wait()
	if counts[http.StatusOK] != limit || counts[http.StatusServiceUnavailable] != tries-limit {
		t.Fatalf("statuses %v, want %d × 200 and %d × 503", counts, limit, tries-limit)
	}
	for _, c := range closes {
		c()
	}
	e.waitOpen(0)
}

func TestLimiterExactUnderConcurrency(t *testing.T) {
	l := &limiter{maxTotal: 50, maxPerClient: 5}
	var wg sync.WaitGroup
	var mu sync.Mutex
	held := map[string]int{}
	peak := 0
	for g := range 40 {
		wg.Go(func() {
			client := fmt.Sprint("c", g%8)
			for range 500 {
				release, refused := l.acquire(client, nil)
				if refused != nil {
					continue
				}
				mu.Lock()
				held[client]++
				if held[client] > 5 {
					t.Errorf("client %s holds %d, limit 5", client, held[client])
				}
				peak = max(peak, l.open())
				held[client]--
				mu.Unlock()
				release()
				release() // a second call must not release twice
			}
		})
	}
	wg.Wait()
	if n := l.open(); n != 0 || len(l.perClient) != 0 {
		t.Fatalf("after all released: total %d, per-client map %v", n, l.perClient)
	}
	if peak > 40 { // 8 clients × 5
		t.Fatalf("peak %d exceeds 8 clients × 5", peak)
	}
}

func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name, remote string
		xff          []string
		trusted      []netip.Prefix
		want         string
	}{
		{"no proxies: header ignored", "192.0.2.1:5000", []string{"198.51.100.7"}, nil, "192.0.2.1"},
		{"untrusted peer: header ignored", "192.0.2.1:5000", []string{"198.51.100.7"}, proxies, "192.0.2.1"},
		{"trusted proxy", "10.1.2.3:5000", []string{"198.51.100.7"}, proxies, "198.51.100.7"},
		{"spoofed left entries", "10.1.2.3:5000", []string{"1.1.1.1, 198.51.100.7"}, proxies, "198.51.100.7"},
		{"chain of proxies", "10.1.2.3:5000", []string{"198.51.100.7, 10.9.9.9", "10.8.8.8"}, proxies, "198.51.100.7"},
		{"garbage hop", "10.1.2.3:5000", []string{"1.1.1.1, nonsense"}, proxies, "10.1.2.3"},
		{"trusted proxy, no header", "10.1.2.3:5000", nil, proxies, "10.1.2.3"},
		{"IPv6 proxy", "[::1]:5000", []string{"2001:db8::1"}, proxies, "2001:db8::1"},
		{"no port", "192.0.2.1", nil, nil, "192.0.2.1"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", Path, nil)
		r.RemoteAddr = tt.remote
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientAddr(r, tt.trusted); got != tt.want {
			t.Errorf("%s: clientAddr = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestNewRejectsNegativeLimits(t *testing.T) {
	e := newEnv(t, Options{Anonymous: true}, hmacPair(), hmacPair())
	for _, o := range []Options{{MaxSubscriptions: -1}, {MaxSubscriptionsPerClient: -1}} {
		o.Hub, o.PublisherKey = e.hub, testHMACKey
		if _, err := New(o); err == nil || !strings.Contains(err.Error(), "MaxSubscriptions") {
			t.Errorf("New(%+v) = %v, want an error naming the option", o, err)
		}
	}
}

// TestPublishBodyReadTimeout sends a publish body that never completes: the
// handler answers 408 once BodyReadTimeout passes instead of waiting on.
func TestPublishBodyReadTimeout(t *testing.T) {
	p := hmacPair()
	e := newEnv(t, Options{BodyReadTimeout: 300 * time.Millisecond}, p, p)
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ntopic=a&data=",
		Path, p.mint(t, pubClaims("*"), nil))
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(waitTimeout))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.HasPrefix(string(b), "body:") {
		t.Fatalf("stalled body: %d %q, want 408 naming body", resp.StatusCode, b)
	}
	if d := time.Since(start); d > waitTimeout/2 {
		t.Fatalf("answered after %v", d)
	}
}

// BenchmarkLimiterAcquire measures what the limits add to every
// subscription: one acquire and release, from many goroutines over a few
// hundred client addresses.
func BenchmarkLimiterAcquire(b *testing.B) {
	l := &limiter{maxTotal: 1 << 30, maxPerClient: 1 << 20}
	clients := make([]string, 256)
	for i := range clients {
		clients[i] = fmt.Sprintf("192.0.2.%d", i)
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			release, refused := l.acquire(clients[i%len(clients)], nil)
			if refused != nil {
				b.Fatal("refused")
			}
			release()
			i++
		}
	})
}

// TestSelectorsPerClientLimit is issue 19 item 1's per-client bound: the
// distinct selectors of one address over its open subscriptions are
// bounded (429 naming topic, with Retry-After), a selector it holds already
// costs nothing more, and closing a subscription frees its selectors.
func TestSelectorsPerClientLimit(t *testing.T) {
	e := newEnv(t, Options{Anonymous: true, MaxSelectorsPerClient: 5, RetryAfter: 2 * time.Second}, hmacPair(), hmacPair())
	q := func(sels ...string) string { return strings.Join(sels, "&topic=") }
	status, _, first := e.openFrom("127.0.0.1", q("a/{x}", "b/{x}", "c"))
	if status != http.StatusOK {
		t.Fatalf("3 selectors: status %d", status)
	}
	if status, _, _ := e.openFrom("127.0.0.1", q("a/{x}", "d", "e/{x}", "d")); status != http.StatusOK {
		t.Fatalf("2 more distinct selectors, 5 in all: status %d", status)
	}
	status, ra, _ := e.openFrom("127.0.0.1", q("a/{x}", "f/{x}"))
	if status != http.StatusTooManyRequests || ra != "2" {
		t.Fatalf("a 6th distinct selector: status %d, Retry-After %q; want 429 and 2", status, ra)
	}
	if status, _, _ := e.openFrom("127.0.0.1", q("c", "d")); status != http.StatusOK {
		t.Fatalf("selectors held already: status %d", status)
	}
	if status, _, _ := e.openFrom("127.0.0.2", q("f/{x}", "g", "h", "i", "j")); status != http.StatusOK {
		t.Fatalf("another address: status %d", status)
	}
	first() // frees b/{x}; a/{x} and c are still held by the others
	e.waitOpen(3)
	if status, _, _ := e.openFrom("127.0.0.1", q("f/{x}")); status != http.StatusOK {
		t.Fatalf("after closing the first: status %d", status)
	}
}

// TestHubSelectorLimit: beyond hub.Options.MaxSelectors distinct selectors
// in the whole hub, a subscription gets 503 with Retry-After.
func TestHubSelectorLimit(t *testing.T) {
	hb, err := hub.New(hub.Options{MaxSelectors: 2, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Close(context.Background())
	h, err := New(Options{Hub: hb, PublisherKey: hmacPair().verify, Anonymous: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := hb.Subscribe(context.Background(), hub.Subscription{Topics: []string{"a/{x}", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", Path+"?topic=c", nil))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "topic:") {
		t.Fatalf("a third distinct selector: %d, Retry-After %q, %q; want 503 naming topic", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
}
