package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// h2Events is how many events each stream of the HTTP/2 tests receives,
// each padded with a comment so that a stream takes more than the default
// window of 65,535 bytes (RFC 9113, section 6.9.2).
const h2Events = 30

// h2TestServer is an HTTP/2 server of event streams allowing maxStreams
// streams per connection: /events streams h2Events updates, /reset one
// and then resets the stream, and a request without the bearer token is
// refused with 401.
func h2TestServer(t *testing.T, maxStreams int) *target {
	t.Helper()
	pad := ": " + strings.Repeat("p", 4<<10) + "\n"
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer T" || r.ProtoMajor != 2 {
			http.Error(w, "no token over HTTP/2", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for seq := 1; seq <= h2Events; seq++ {
			fmt.Fprintf(w, "%sdata: %d %d\n\n", pad, seq, time.Now().UnixNano())
			if err := rc.Flush(); err != nil {
				return
			}
			if r.URL.Path == "/reset" {
				panic(http.ErrAbortHandler) // RST_STREAM
			}
		}
		<-r.Context().Done()
	}))
	srv.EnableHTTP2 = true
	srv.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: maxStreams}
	srv.Config.ErrorLog = nil
	srv.StartTLS()
	t.Cleanup(srv.Close)
	tg, err := resolveTarget(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// h2Fleet returns a fleet of n HTTP/2 subscribers on tg, each with a
// topic of its own, subscriber i asking for path(i), with the
// flow-control window window.
func h2Fleet(tg *target, n int, path func(i int) string, token string, window uint32) *localFleet {
	hist := []*histogram{new(histogram), new(histogram)}
	sub := &subscriber{requestURI: path, hist: hist}
	sub.h2 = newH2Client(tg, new(net.Dialer), token, hist)
	sub.h2.window = window
	return newLocalFleet(sub, n, &Config{Mode: ModeTopics, DialConcurrency: 8, ConnectTimeout: 10 * time.Second, Publishers: 1})
}

// h2Want is what each of n subscribers expects.
func h2Want(n int) []uint64 {
	want := make([]uint64, n)
	for i := range want {
		want[i] = h2Events
	}
	return want
}

func events(int) string { return "/events" }

// TestH2Fleet subscribes over HTTP/2 more streams than the server allows
// on one connection, with windows too small for what each stream
// receives: the streams are spread over as many connections as the
// server's SETTINGS_MAX_CONCURRENT_STREAMS asks (RFC 9113, section
// 5.1.2), and every event arrives, which it does only if the generator
// returns flow-control credit with WINDOW_UPDATE frames (section 6.9).
func TestH2Fleet(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	const n, perConn = 25, 10
	tg := h2TestServer(t, perConn)
	for _, window := range []uint32{h2Window, 65535} {
		t.Run(strconv.Itoa(int(window)), func(t *testing.T) {
			fl := h2Fleet(tg, n, events, "T", window)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if cs := fl.connect(ctx); cs.connected != n {
				t.Fatalf("connected %+v", cs)
			}
			tl := fl.finish(ctx, h2Want(n), 20*time.Second, nil)
			if tl.delivered != n*h2Events || tl.lost != 0 || tl.undelivered != 0 || tl.dropped != 0 || tl.malformed != 0 || tl.hist.total() != n*h2Events {
				t.Errorf("tallies %+v, want %d delivered", tl, n*h2Events)
			}
			if got, want := len(fl.sub.h2.conns), (n+perConn-1)/perConn; got != want {
				t.Errorf("%d connections, want %d", got, want)
			}
			for i := range fl.conns {
				if c := &fl.conns[i]; !c.ended.Load() || c.endErr == nil {
					t.Errorf("stream %d: ended %v (%v) after the run", i, c.ended.Load(), c.endErr)
				}
			}
		})
	}
}

// TestH2FleetEnds checks the ends of HTTP/2 streams: a refused
// subscription is a connect error naming the status and the server's
// reason, and a stream the server resets (RST_STREAM, RFC 9113, section
// 6.4) is dropped while the streams sharing its connection go on.
func TestH2FleetEnds(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	tg := h2TestServer(t, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	fl := h2Fleet(tg, 3, events, "wrong", h2Window)
	cs := fl.connect(ctx)
	if cs.connected != 0 || cs.errors != 3 || !strings.Contains(cs.firstErr, "401") || !strings.Contains(cs.firstErr, "no token over HTTP/2") {
		t.Errorf("refused: connect = %+v", cs)
	}
	fl.finish(ctx, nil, 0, nil)

	// Even streams are reset after their first event, on the connection
	// the odd ones share.
	fl = h2Fleet(tg, 4, func(i int) string { return [...]string{"/reset", "/events"}[i%2] }, "T", h2Window)
	if cs := fl.connect(ctx); cs.connected != 4 {
		t.Fatalf("connected %+v", cs)
	}
	tl := fl.finish(ctx, h2Want(4), 10*time.Second, nil)
	if tl.dropped != 2 || tl.delivered != 2+2*h2Events || tl.lost != 2*(h2Events-1) {
		t.Errorf("reset: tallies %+v, want 2 dropped after 1 event each, 2 with every event", tl)
	}
	for i := 0; i < 4; i += 2 {
		if c := &fl.conns[i]; !errors.Is(c.endErr, errH2) || !strings.Contains(c.endErr.Error(), "reset") {
			t.Errorf("stream %d ended with %v, want a reset", i, c.endErr)
		}
	}
}
