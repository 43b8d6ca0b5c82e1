package mercure

import (
	"bufio"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/hijack"
	"github.com/ssehub/ssehub/sse"
)

// rawSubscribe opens a subscription over a plain TCP connection and returns
// it with the response head read.
func (e *env) rawSubscribe(query string) (net.Conn, *bufio.Reader, *http.Response) {
	e.t.Helper()
	conn, err := net.DialTimeout("tcp", e.srv.Listener.Addr().String(), waitTimeout)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := conn.Write([]byte("GET " + Path + "?" + query + " HTTP/1.1\r\nHost: hub\r\nOrigin: https://app.example\r\nAccept: text/event-stream\r\n\r\n")); err != nil {
		e.t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	conn.SetDeadline(time.Time{})
	return conn, br, resp
}

func TestHijackedResponseHead(t *testing.T) {
	for _, noHijack := range []bool{false, true} {
		t.Run(map[bool]string{false: "hijacked", true: "net/http"}[noHijack], func(t *testing.T) {
			skipUnlessHijacking(t, noHijack)
			e := newEnv(t, Options{Anonymous: true, NoHijack: noHijack, CORSOrigins: []string{"https://app.example"}}, hmacPair(), hmacPair())
			conn, _, resp := e.rawSubscribe("topic=a")
			// Closing resp.Body would read the endless stream to its end.
			defer conn.Close()
			h := resp.Header
			if resp.StatusCode != 200 || resp.Proto != "HTTP/1.1" ||
				h.Get("Content-Type") != "text/event-stream" || h.Get("Cache-Control") != "no-cache" ||
				h.Get("X-Accel-Buffering") != "no" || h.Get("Last-Event-ID") != "earliest" ||
				h.Get("Access-Control-Allow-Origin") != "https://app.example" ||
				h.Get("Access-Control-Allow-Credentials") != "true" || h.Get("Vary") != "Origin" ||
				h.Get("Content-Length") != "" {
				t.Fatalf("status %d %s, header %v", resp.StatusCode, resp.Proto, h)
			}
			// Hijacked, the body ends with the connection; through net/http
			// it is chunked.
			if chunked := len(resp.TransferEncoding) > 0; chunked != noHijack || resp.Close == noHijack {
				t.Fatalf("Transfer-Encoding %v, Close %v", resp.TransferEncoding, resp.Close)
			}
		})
	}
}

// TestStreamLifecycleBothPaths follows one subscriber through events, a
// heartbeat, a client hang-up and what the handler must undo then, on both
// paths.
func TestStreamLifecycleBothPaths(t *testing.T) {
	for _, noHijack := range []bool{false, true} {
		t.Run(map[bool]string{false: "hijacked", true: "net/http"}[noHijack], func(t *testing.T) {
			skipUnlessHijacking(t, noHijack)
			changes := make(chan int, 10)
			e := newEnv(t, Options{
				Anonymous: true, NoHijack: noHijack, Heartbeat: 100 * time.Millisecond,
				MaxSubscriptions:   10,
				OnSubscriberChange: func(_, d int) { changes <- d },
			}, hmacPair(), hmacPair())
			conn, _, resp := e.rawSubscribe("topic=a")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if d := <-changes; d != 1 {
				t.Fatalf("change %d", d)
			}
			e.publish(url.Values{"topic": {"a"}, "data": {"hello"}})
			conn.SetReadDeadline(time.Now().Add(waitTimeout))
			body := bufio.NewReader(resp.Body)
			var sawEvent, sawBeat bool
			for !sawEvent || !sawBeat {
				s, err := body.ReadString('\n')
				if err != nil {
					t.Fatalf("reading the stream: %v (event %v, heartbeat %v)", err, sawEvent, sawBeat)
				}
				sawEvent = sawEvent || strings.Contains(s, "data: hello")
				sawBeat = sawBeat || (sawEvent && strings.HasPrefix(s, ":"))
			}
			conn.Close()
			select {
			case d := <-changes:
				if d != -1 {
					t.Fatalf("change %d", d)
				}
			case <-time.After(waitTimeout):
				t.Fatal("the hang-up was not noticed")
			}
			e.waitOpen(0)
			if n := e.hub.Stats().Subscribers; n != 0 {
				t.Fatalf("hub still has %d subscribers", n)
			}
		})
	}
}

func TestHijackedStreamEndsWithHub(t *testing.T) {
	e := newEnv(t, Options{Anonymous: true, MaxSubscriptions: 10}, hmacPair(), hmacPair())
	s := e.mustOpen(e.subscribeReq("topic=a", ""))
	e.publish(url.Values{"topic": {"a"}, "data": {"1"}})
	s.next()
	if err := e.hub.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-s.events:
		if ok {
			t.Fatal("an event after the hub closed")
		}
	case <-time.After(waitTimeout):
		t.Fatal("the stream outlived the hub")
	}
	e.waitOpen(0)
}

func TestHijackedStalledClientDisconnected(t *testing.T) {
	e := newEnv(t, Options{Anonymous: true, MaxSubscriptions: 10, WriteTimeout: 200 * time.Millisecond, Heartbeat: -1}, hmacPair(), hmacPair())
	conn, _, _ := e.rawSubscribe("topic=a")
	// Never read: the socket buffers fill, a write times out and the
	// stream ends.
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetReadBuffer(4 << 10)
	}
	big := strings.Repeat("x", 64<<10)
	deadline := time.Now().Add(waitTimeout)
	for e.h.limits.open() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a stalled subscriber was not disconnected")
		}
		e.publish(url.Values{"topic": {"a"}, "data": {big}})
	}
}

// TestIdleHijackedStreamsHoldNoGoroutine checks the point of hijacking: idle
// subscribers cost no goroutine each, where net/http's path costs two.
func TestIdleHijackedStreamsHoldNoGoroutine(t *testing.T) {
	const n = 50
	for _, noHijack := range []bool{false, true} {
		t.Run(map[bool]string{false: "hijacked", true: "net/http"}[noHijack], func(t *testing.T) {
			skipUnlessHijacking(t, noHijack)
			e := newEnv(t, Options{Anonymous: true, NoHijack: noHijack, MaxSubscriptions: 2 * n}, hmacPair(), hmacPair())
			e.publish(url.Values{"topic": {"a"}, "data": {"warm-up"}}) // the publish path's own goroutines
			time.Sleep(100 * time.Millisecond)
			before := runtime.NumGoroutine()
			for range n {
				_, _, resp := e.rawSubscribe("topic=a")
				if resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
			}
			e.waitOpen(n)
			var grown int
			deadline := time.Now().Add(waitTimeout)
			for {
				grown = runtime.NumGoroutine() - before
				if noHijack || grown < n/5 || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if !noHijack && grown >= n/5 {
				t.Fatalf("%d idle hijacked subscribers added %d goroutines", n, grown)
			}
			if noHijack && grown < n {
				t.Fatalf("%d idle net/http subscribers added only %d goroutines: is the test measuring?", n, grown)
			}
		})
	}
}

func TestHijackedReplayThenLive(t *testing.T) {
	skipUnlessHijacking(t, false)
	e := newEnv(t, Options{Anonymous: true}, hmacPair(), hmacPair())
	first := e.publish(url.Values{"topic": {"a"}, "data": {"1"}})
	e.publish(url.Values{"topic": {"a"}, "data": {"2"}})
	r := e.subscribeReq("topic=a", "")
	r.Header.Set("Last-Event-ID", first)
	s := e.mustOpen(r)
	if s.resp.Header.Get("Connection") != "close" && !s.resp.Close {
		t.Fatal("not hijacked")
	}
	e.publish(url.Values{"topic": {"a"}, "data": {"3"}})
	if got := strings.Join(s.until("3"), ","); got != "2,3" {
		t.Fatalf("got %s", got)
	}
}

// skipUnlessHijacking skips a test of the hijacked path where it does not
// exist.
func skipUnlessHijacking(t *testing.T, noHijack bool) {
	if !noHijack && !hijack.Available {
		t.Skip("no hijacked streams on this platform")
	}
}

// TestStalledClientsDoNotHoldUpOthers stalls more clients than the pool
// has workers: a subscriber that reads must still get its events while
// they are connected, not once their writes time out.
func TestStalledClientsDoNotHoldUpOthers(t *testing.T) {
	skipUnlessHijacking(t, false)
	stalled := 2*runtime.GOMAXPROCS(0) + 1
	e := newEnv(t, Options{Anonymous: true, MaxSubscriptions: 100, WriteTimeout: 4 * waitTimeout, Heartbeat: -1}, hmacPair(), hmacPair())
	for range stalled {
		conn, _, _ := e.rawSubscribe("topic=a")
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetReadBuffer(4 << 10)
		}
	}
	s := e.mustOpen(e.subscribeReq("topic=a", ""))
	e.waitOpen(stalled + 1)
	// More than a stalled connection's socket buffers hold (4 MiB for the
	// sender at most on Linux).
	big := strings.Repeat("x", 64<<10)
	for i := range 100 {
		e.publish(url.Values{"topic": {"a"}, "data": {big}})
		if i%10 == 0 {
			s.next() // keep the reader's channel from filling
		}
	}
	e.publish(url.Values{"topic": {"a"}, "data": {"marker"}})
	s.until("marker")
	if n := e.h.limits.open(); n != stalled+1 {
		t.Fatalf("%d subscriptions open when the reader got its events, want %d: the stalled ones were dropped first", n, stalled+1)
	}
}

// TestHeartbeatOnlyWhenIdle checks that a stream gets keep-alive comments
// only after a full interval without writes, whatever the timer did
// meanwhile, and that they resume once events stop.
func TestHeartbeatOnlyWhenIdle(t *testing.T) {
	for _, noHijack := range []bool{false, true} {
		t.Run(map[bool]string{false: "hijacked", true: "net/http"}[noHijack], func(t *testing.T) {
			skipUnlessHijacking(t, noHijack)
			const beat = 300 * time.Millisecond
			e := newEnv(t, Options{Anonymous: true, NoHijack: noHijack, Heartbeat: beat}, hmacPair(), hmacPair())
			conn, _, resp := e.rawSubscribe("topic=a")
			defer conn.Close()
			conn.SetReadDeadline(time.Now().Add(waitTimeout))
			stop := time.Now().Add(4 * beat)
			go func() {
				for time.Now().Before(stop) {
					e.publish(url.Values{"topic": {"a"}, "data": {"x"}})
					time.Sleep(beat / 6)
				}
				e.publish(url.Values{"topic": {"a"}, "data": {"last"}})
			}()
			body := bufio.NewReader(resp.Body)
			// The comment every stream opens with, at once (Mercure 1.0,
			// "Subscription").
			open := string(sse.AppendComment(nil, ""))
			if first, err := body.ReadString('\n'); err != nil || first != open {
				t.Fatalf("the stream starts with %q, %v; want the opening comment %q", first, err, open)
			}
			prev := time.Now()
			var sawLast bool
			for {
				s, err := body.ReadString('\n')
				if err != nil {
					t.Fatalf("reading the stream: %v (last event seen: %v)", err, sawLast)
				}
				now := time.Now()
				if strings.HasPrefix(s, ":") {
					if gap := now.Sub(prev); gap < beat/2 {
						t.Fatalf("a heartbeat %v after the previous line; the interval is %v", gap, beat)
					}
					if sawLast {
						return // resumed once the events stopped
					}
				}
				sawLast = sawLast || strings.Contains(s, "data: last")
				if s != "\n" {
					prev = now
				}
			}
		})
	}
}
