package sse

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// eachProto runs f against an HTTP/1.1 server and an HTTP/2 (TLS) server
// that both serve h.
func eachProto(t *testing.T, h http.HandlerFunc, f func(t *testing.T, srv *httptest.Server, c *http.Client)) {
	for _, proto := range []string{"HTTP/1.1", "HTTP/2"} {
		t.Run(proto, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			srv := httptest.NewUnstartedServer(h)
			if proto == "HTTP/2" {
				srv.EnableHTTP2 = true
				srv.StartTLS()
			} else {
				srv.Start()
			}
			c := srv.Client()
			defer srv.Close()
			defer c.CloseIdleConnections()
			f(t, srv, c)
		})
	}
}

func get(t *testing.T, ctx context.Context, c *http.Client, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// readBlock reads up to and including the next blank line.
func readBlock(br *bufio.Reader) (string, error) {
	var sb strings.Builder
	for {
		line, err := br.ReadString('\n')
		sb.WriteString(line)
		if err != nil {
			return sb.String(), err
		}
		if line == "\n" {
			return sb.String(), nil
		}
	}
}

func TestStreamHeadersAndRetry(t *testing.T) {
	opened := make(chan error, 1)
	h := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Custom", "kept")
		w.Header().Set("Content-Length", "5")
		s, err := NewStream(w, r, StreamOptions{Retry: 1500 * time.Millisecond})
		opened <- err
		if err != nil {
			return
		}
		defer s.Close()
		<-s.Done()
	}
	eachProto(t, h, func(t *testing.T, srv *httptest.Server, c *http.Client) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		resp := get(t, ctx, c, srv.URL)
		defer resp.Body.Close()
		want := map[string]string{
			"Content-Type":      "text/event-stream",
			"Cache-Control":     "no-cache",
			"X-Accel-Buffering": "no",
			"X-Custom":          "kept",
			"Connection":        "",
			"Content-Length":    "",
		}
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("header %s = %q, want %q", k, got, v)
			}
		}
		if resp.StatusCode != 200 {
			t.Errorf("status %d", resp.StatusCode)
		}
		// The retry block must arrive without waiting for any event.
		block, err := readBlock(bufio.NewReader(resp.Body))
		if err != nil || block != "retry: 1500\n\n" {
			t.Errorf("first block %q, %v", block, err)
		}
		// Over HTTP/2 the client leaving early could fail the server's
		// flush after the bytes went out: wait for NewStream to return.
		if err := <-opened; err != nil {
			t.Errorf("NewStream: %v", err)
		}
	})
}

func TestStreamEventsUnbuffered(t *testing.T) {
	const n = 5
	next := make(chan struct{})
	h := func(w http.ResponseWriter, r *http.Request) {
		s, err := NewStream(w, r, StreamOptions{})
		if err != nil {
			t.Error(err)
			return
		}
		defer s.Close()
		for i := range n {
			if err := s.Send(Event{ID: fmt.Sprint(i), Data: "hello"}); err != nil {
				t.Error(err)
				return
			}
			// The next event is only sent once the client has read this one,
			// so any buffering on the way would deadlock the test.
			select {
			case <-next:
			case <-s.Done():
				return
			}
		}
	}
	eachProto(t, h, func(t *testing.T, srv *httptest.Server, c *http.Client) {
		resp := get(t, context.Background(), c, srv.URL)
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		for i := range n {
			block, err := readBlock(br)
			if want := fmt.Sprintf("id: %d\ndata: hello\n\n", i); block != want || err != nil {
				t.Fatalf("block %d = %q, %v; want %q", i, block, err, want)
			}
			next <- struct{}{}
		}
		if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
			t.Errorf("after the events: %q, %v", rest, err)
		}
	})
}

func TestStreamHeartbeatOnlyWhenIdle(t *testing.T) {
	const beat = 600 * time.Millisecond
	h := func(w http.ResponseWriter, r *http.Request) {
		s, err := NewStream(w, r, StreamOptions{Heartbeat: beat})
		if err != nil {
			t.Error(err)
			return
		}
		defer s.Close()
		// Busy for longer than the heartbeat interval, with gaps far shorter
		// than it: no heartbeat may be interleaved.
		for i := range 30 {
			if err := s.Send(Event{Data: fmt.Sprint(i)}); err != nil {
				return
			}
			time.Sleep(beat / 30)
		}
		if err := s.Send(Event{Type: "idle"}); err != nil {
			return
		}
		<-s.Done()
	}
	eachProto(t, h, func(t *testing.T, srv *httptest.Server, c *http.Client) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		resp := get(t, ctx, c, srv.URL)
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(line, ":") {
				t.Fatalf("heartbeat %q while events were flowing", line)
			}
			if line == "event: idle\n" {
				break
			}
		}
		if _, err := readBlock(br); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		line, err := br.ReadString('\n')
		if err != nil || line != ": \n" {
			t.Fatalf("after idling: %q, %v", line, err)
		}
		if d := time.Since(start); d < beat/2 {
			t.Errorf("heartbeat after %v, interval %v", d, beat)
		}
	})
}

func TestStreamDetectsDisconnect(t *testing.T) {
	result := make(chan error, 1)
	opened := make(chan struct{}, 1)
	h := func(w http.ResponseWriter, r *http.Request) {
		s, err := NewStream(w, r, StreamOptions{Heartbeat: -1})
		if err != nil {
			t.Error(err)
			return
		}
		defer s.Close()
		opened <- struct{}{}
		select {
		case <-s.Done():
			result <- s.Err()
		case <-time.After(10 * time.Second):
			result <- errors.New("Done not closed 10s after the client left")
		}
	}
	eachProto(t, h, func(t *testing.T, srv *httptest.Server, c *http.Client) {
		ctx, cancel := context.WithCancel(context.Background())
		resp := get(t, ctx, c, srv.URL)
		<-opened
		cancel()
		resp.Body.Close()
		err := <-result
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Err() = %v, want one wrapping context.Canceled", err)
		}
	})
}

func TestStreamWriteDeadline(t *testing.T) {
	defer goleak.VerifyNone(t)
	result := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := NewStream(w, r, StreamOptions{WriteTimeout: 200 * time.Millisecond, Heartbeat: -1})
		if err != nil {
			result <- err
			return
		}
		defer s.Close()
		big := Event{Data: strings.Repeat("x", 1<<16)}
		// Loopback socket buffers hold a few MB at most; 1 GB means the
		// deadline, not the buffers, ended the loop.
		for range 1 << 14 {
			if err := s.Send(big); err != nil {
				<-s.Done()
				result <- err
				return
			}
		}
		result <- errors.New("1 GB written to a client that never reads")
	}))
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetReadBuffer(4 << 10)
	}
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", srv.Listener.Addr())
	// The client never reads.
	select {
	case err := <-result:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Send error = %v, want a deadline error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("writer still blocked after 30s against a 200ms write timeout")
	}
}

// TestStreamIdleOutlivesWriteTimeout checks that the write deadline is lifted
// while the stream is idle: over HTTP/2 an expired deadline resets the stream
// even when nothing is being written.
func TestStreamIdleOutlivesWriteTimeout(t *testing.T) {
	const wt = 100 * time.Millisecond
	h := func(w http.ResponseWriter, r *http.Request) {
		s, err := NewStream(w, r, StreamOptions{WriteTimeout: wt, Heartbeat: -1})
		if err != nil {
			t.Error(err)
			return
		}
		defer s.Close()
		for i := range 3 {
			if i > 0 {
				time.Sleep(4 * wt)
			}
			if err := s.Send(Event{Data: fmt.Sprint(i)}); err != nil {
				t.Errorf("send %d after idling: %v", i, err)
				return
			}
		}
	}
	eachProto(t, h, func(t *testing.T, srv *httptest.Server, c *http.Client) {
		resp := get(t, context.Background(), c, srv.URL)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || string(body) != "data: 0\n\ndata: 1\n\ndata: 2\n\n" {
			t.Errorf("body %q, %v", body, err)
		}
	})
}

func TestStreamConcurrentSendAndHeartbeat(t *testing.T) {
	const writers, each = 4, 200
	h := func(w http.ResponseWriter, r *http.Request) {
		s, err := NewStream(w, r, StreamOptions{Heartbeat: time.Millisecond})
		if err != nil {
			t.Error(err)
			return
		}
		defer s.Close()
		var wg sync.WaitGroup
		for g := range writers {
			wg.Go(func() {
				for i := range each {
					var err error
					if i%2 == 0 {
						err = s.Send(Event{Type: "t", Data: fmt.Sprintf("%d-%d\nline two", g, i)})
					} else {
						_, err = s.Write([]byte("event: t\ndata: raw\n\n"))
					}
					if err != nil {
						t.Error(err)
						return
					}
					if i%50 == 0 {
						time.Sleep(3 * time.Millisecond) // let heartbeats in
					}
				}
			})
		}
		wg.Wait()
	}
	eachProto(t, h, func(t *testing.T, srv *httptest.Server, c *http.Client) {
		resp := get(t, context.Background(), c, srv.URL)
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		events, beats := 0, 0
		for {
			block, err := readBlock(br)
			if err != nil && err != io.EOF {
				t.Fatal(err)
			}
			// Heartbeats are comment lines that precede or sit between
			// blocks; strip them and what is left must be one whole event.
			for strings.HasPrefix(block, ": \n") {
				block = strings.TrimPrefix(block, ": \n")
				beats++
			}
			if err == io.EOF {
				if block != "" {
					t.Fatalf("torn tail %q", block)
				}
				break
			}
			if !strings.HasPrefix(block, "event: t\ndata: ") || strings.Count(block, "\n\n") != 1 {
				t.Fatalf("torn block %q", block)
			}
			events++
		}
		if events != writers*each {
			t.Errorf("got %d events, want %d", events, writers*each)
		}
		t.Logf("%d heartbeats", beats)
	})
}

func TestStreamCloseAndInvalidEvent(t *testing.T) {
	h := func(w http.ResponseWriter, r *http.Request) {
		s, err := NewStream(w, r, StreamOptions{})
		if err != nil {
			t.Error(err)
			return
		}
		var fe *FieldError
		if err := s.Send(Event{ID: "a\nb"}); !errors.As(err, &fe) || fe.Field != "id" {
			t.Errorf("invalid event: %v", err)
		}
		if err := s.Send(Event{Data: "ok"}); err != nil {
			t.Errorf("after an invalid event: %v", err)
		}
		s.Close()
		s.Close()
		select {
		case <-s.Done():
		default:
			t.Error("Done open after Close")
		}
		if err := s.Err(); !errors.Is(err, ErrStreamClosed) {
			t.Errorf("Err() = %v", err)
		}
		if err := s.Send(Event{Data: "late"}); !errors.Is(err, ErrStreamClosed) {
			t.Errorf("Send after Close = %v", err)
		}
		if _, err := s.Write([]byte("data: late\n\n")); !errors.Is(err, ErrStreamClosed) {
			t.Errorf("Write after Close = %v", err)
		}
	}
	eachProto(t, h, func(t *testing.T, srv *httptest.Server, c *http.Client) {
		resp := get(t, context.Background(), c, srv.URL)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || string(body) != "data: ok\n\n" {
			t.Errorf("body %q, %v", body, err)
		}
	})
}

// plainWriter is an http.ResponseWriter that cannot flush.
type plainWriter struct{ h http.Header }

func (w plainWriter) Header() http.Header       { return w.h }
func (plainWriter) Write(p []byte) (int, error) { return len(p), nil }
func (plainWriter) WriteHeader(int)             {}

func TestStreamNeedsFlusher(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	_, err := NewStream(plainWriter{http.Header{}}, r, StreamOptions{})
	if !errors.Is(err, http.ErrNotSupported) {
		t.Errorf("NewStream on a writer that cannot flush: %v", err)
	}
}

// BenchmarkStreamWrite measures one pre-encoded event written and flushed
// through a Stream on a recorder (no network).
func BenchmarkStreamWrite(b *testing.B) {
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	s, err := NewStream(w, r, StreamOptions{Heartbeat: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	p, _ := AppendEvent(nil, Event{ID: "42", Type: "update", Data: `{"n":42}`})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Write(p); err != nil {
			b.Fatal(err)
		}
		w.Body.Reset()
	}
}

// BenchmarkNewStream measures what opening one stream costs, heartbeat timer
// and context registration included: B/op bounds the memory an idle
// subscriber holds in this package (the recorder's own allocations aside).
func BenchmarkNewStream(b *testing.B) {
	r := httptest.NewRequest("GET", "/", nil)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	r = r.WithContext(ctx)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		s, err := NewStream(w, r, StreamOptions{})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// BenchmarkStreamWriteLoopback measures one pre-encoded event written,
// flushed and read over loopback, write deadline included, on both
// protocols.
func BenchmarkStreamWriteLoopback(b *testing.B) {
	p, _ := AppendEvent(nil, Event{ID: "42", Type: "update", Data: `{"n":42}`})
	for _, proto := range []string{"HTTP1", "HTTP2"} {
		b.Run(proto, func(b *testing.B) {
			done := make(chan struct{})
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(done)
				s, err := NewStream(w, r, StreamOptions{Heartbeat: -1})
				if err != nil {
					b.Error(err)
					return
				}
				defer s.Close()
				b.SetBytes(int64(len(p)))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if _, err := s.Write(p); err != nil {
						b.Error(err)
						return
					}
				}
				b.StopTimer()
			}))
			if proto == "HTTP2" {
				srv.EnableHTTP2 = true
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			c := srv.Client()
			defer c.CloseIdleConnections()
			resp, err := c.Get(srv.URL)
			if err != nil {
				b.Fatal(err)
			}
			defer resp.Body.Close()
			io.Copy(io.Discard, resp.Body)
			<-done
		})
	}
}

func TestStreamContextEndsWithStream(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	s, err := NewStream(rec, req, StreamOptions{Heartbeat: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Context().Err(); err != nil {
		t.Fatalf("Context().Err() = %v on an open stream", err)
	}
	s.Close()
	select {
	case <-s.Context().Done():
	default:
		t.Fatal("Context not cancelled by Close")
	}
	if cause := context.Cause(s.Context()); !errors.Is(cause, ErrStreamClosed) || cause != s.Err() {
		t.Fatalf("Cause = %v, Err = %v; want both ErrStreamClosed", cause, s.Err())
	}
}
