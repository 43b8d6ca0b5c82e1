package hijack

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

const waitTimeout = 10 * time.Second

// source is a Source whose events the test sends.
type source struct {
	Stream
	replay string
	ended  chan<- error

	mu    sync.Mutex
	queue []byte
	err   error // returned by Drain once the queue is empty
	ready func()
}

func (s *source) Replay(ctx context.Context, w io.Writer) error {
	_, err := io.WriteString(w, s.replay)
	return err
}

func (s *source) Attach(ready func()) {
	s.mu.Lock()
	s.ready = ready
	pending := len(s.queue) > 0 || s.err != nil
	s.mu.Unlock()
	if pending {
		ready()
	}
}

func (s *source) Drain(dst []byte, limit int) ([]byte, error) {
	s.mu.Lock()
	n := min(limit, len(s.queue))
	dst = append(dst, s.queue[:n]...)
	s.queue = s.queue[n:]
	more, ready, err := len(s.queue) > 0, s.ready, s.err
	s.mu.Unlock()
	if more {
		ready()
		return dst, nil
	}
	return dst, err
}

func (s *source) Ended(err error) { s.ended <- err }

// send queues p, or ends the stream with err, and wakes the stream.
func (s *source) send(p string, err error) {
	s.mu.Lock()
	s.queue = append(s.queue, p...)
	s.err = err
	ready := s.ready
	s.mu.Unlock()
	if ready != nil {
		ready()
	}
}

// server serves every request with e, src and opts, after setting a
// header of its own and a Content-Length that must not survive, and
// returns its address and the channel of the streams' ends.
func server(t *testing.T, e *Engine, src func() *source, opts Options) (string, <-chan error) {
	t.Helper()
	if !Available {
		t.Skip("no taken-over streams on this platform")
	}
	ended := make(chan error, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Kept", "yes")
		w.Header().Set("Content-Length", "5")
		s := src()
		s.ended = ended
		if !Supported(r) || !e.Serve(w, r, &s.Stream, s, opts) {
			http.Error(w, "not taken over", http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), ended
}

// subscribe opens a stream and returns its connection, the reader of its
// body, its response and the response head as sent.
func subscribe(t *testing.T, addr string) (net.Conn, *bufio.Reader, *http.Response) {
	conn, br, resp, _ := subscribeRaw(t, addr)
	return conn, br, resp
}

func subscribeRaw(t *testing.T, addr string) (net.Conn, *bufio.Reader, *http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	var head strings.Builder
	for !strings.HasSuffix(head.String(), "\r\n\r\n") {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("response head %q: %v", head.String(), err)
		}
		head.WriteString(line)
	}
	// ReadResponse drops the Connection field: the test reads it in the
	// head as sent.
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(head.String())), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Every stream opens with a comment, sent with the head.
	if first, err := br.ReadString('\n'); err != nil || first != ": \n" {
		t.Fatalf("the body starts with %q, %v; want the opening comment", first, err)
	}
	return conn, br, resp, head.String()
}

func waitEnd(t *testing.T, ended <-chan error) error {
	t.Helper()
	select {
	case err := <-ended:
		return err
	case <-time.After(waitTimeout):
		t.Fatal("the stream did not end")
		return nil
	}
}

// TestServeHeadReplayLiveEnd follows one stream: the response head of
// sse.NewStream with the handler's fields kept and the body framed by
// the connection's end, the replay, live events, and the source's error
// ending it after what came before.
func TestServeHeadReplayLiveEnd(t *testing.T) {
	src := &source{replay: "data: replayed\n\n"}
	addr, ended := server(t, new(Engine), func() *source { return src }, Options{Heartbeat: -1})
	conn, br, resp, head := subscribeRaw(t, addr)
	h := resp.Header
	if resp.StatusCode != 200 || h.Get("Content-Type") != "text/event-stream" || h.Get("Cache-Control") != "no-cache" ||
		h.Get("X-Accel-Buffering") != "no" || h.Get("X-Kept") != "yes" || h.Get("Content-Length") != "" ||
		len(resp.TransferEncoding) != 0 || !resp.Close || !strings.Contains(head, "\r\nConnection: close\r\n") || h.Get("Date") == "" {
		t.Fatalf("status %d, close %v, transfer encoding %v, header %v", resp.StatusCode, resp.Close, resp.TransferEncoding, h)
	}
	src.send("data: live\n\n", nil)
	end := errors.New("source ended")
	src.send("data: last\n\n", end)
	body, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(body), "data: replayed\n\ndata: live\n\ndata: last\n\n"; got != want {
		t.Fatalf("body %q, want %q", got, want)
	}
	if err := waitEnd(t, ended); !errors.Is(err, end) {
		t.Fatalf("ended with %v, want %v", err, end)
	}
	conn.Close()
}

// TestServeBacklogInSlices drains a backlog larger than one turn's
// limit: it arrives whole and in order.
func TestServeBacklogInSlices(t *testing.T) {
	src := &source{}
	addr, _ := server(t, new(Engine), func() *source { return src }, Options{Heartbeat: -1})
	_, br, _ := subscribe(t, addr)
	ev := "data: " + strings.Repeat("x", 1000) + "\n\n"
	var want strings.Builder
	for range 3 * drainLimit / len(ev) {
		want.WriteString(ev)
	}
	src.send(want.String(), nil)
	got := make([]byte, want.Len())
	if _, err := io.ReadFull(br, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != want.String() {
		t.Fatal("the backlog arrived altered")
	}
}

func TestServeHangUp(t *testing.T) {
	addr, ended := server(t, new(Engine), func() *source { return &source{} }, Options{Heartbeat: -1})
	conn, _, _ := subscribe(t, addr)
	conn.Close()
	if err := waitEnd(t, ended); !errors.Is(err, ErrHungUp) {
		t.Fatalf("ended with %v, want ErrHungUp", err)
	}
}

func TestServeExpires(t *testing.T) {
	addr, ended := server(t, new(Engine), func() *source { return &source{} },
		Options{Heartbeat: -1, Expires: time.Now().Add(200 * time.Millisecond)})
	_, br, _ := subscribe(t, addr)
	if err := waitEnd(t, ended); !errors.Is(err, ErrExpired) {
		t.Fatalf("ended with %v, want ErrExpired", err)
	}
	if b, _ := io.ReadAll(br); len(b) != 0 {
		t.Fatalf("body %q", b)
	}
}

// TestServeHeartbeat: an idle stream gets comments, a busy one none.
func TestServeHeartbeat(t *testing.T) {
	addr, _ := server(t, new(Engine), func() *source { return &source{} }, Options{Heartbeat: 50 * time.Millisecond})
	_, br, _ := subscribe(t, addr)
	line, err := br.ReadString('\n')
	if err != nil || line != ": \n" {
		t.Fatalf("read %q, %v; want a comment", line, err)
	}
}

// TestStalledClientEnds: a client that reads nothing is found out by the
// write timeout, and the stream ends.
func TestStalledClientEnds(t *testing.T) {
	src := &source{}
	addr, ended := server(t, new(Engine), func() *source { return src },
		Options{Heartbeat: -1, WriteTimeout: 200 * time.Millisecond, SendBuffer: 4 << 10})
	conn, _, _ := subscribe(t, addr)
	conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	big := "data: " + strings.Repeat("x", 64<<10) + "\n\n"
	deadline := time.After(waitTimeout)
	for {
		src.send(big, nil)
		select {
		case err := <-ended:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("ended with %v, want a write timeout", err)
			}
			return
		case <-deadline:
			t.Fatal("a stalled client was not disconnected")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestIdleStreamsHoldNoGoroutine checks the point of the engine: idle
// streams cost no goroutine each.
func TestIdleStreamsHoldNoGoroutine(t *testing.T) {
	const n = 50
	addr, _ := server(t, new(Engine), func() *source { return &source{} }, Options{Heartbeat: -1})
	subscribe(t, addr) // the server's own goroutines
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	for range n {
		subscribe(t, addr)
	}
	var grown int
	for deadline := time.Now().Add(waitTimeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if grown = runtime.NumGoroutine() - before; grown < n/5 {
			return
		}
	}
	t.Fatalf("%d idle streams added %d goroutines", n, grown)
}
