package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestFleetReaders runs a fleet of each reader against a server framing
// bodies chunked, by length and by closing, sending events in one write
// with the response head (so that they wait in the head's buffer), byte
// by byte, in single writes or in one write of over 64 KiB, and hanging up on one connection after
// the first. Both
// readers must count the same, close every connection at the end and
// leave no goroutine behind; over TLS too, where the epoll reader reads
// through crypto/tls (records split over reads by the large write, many
// records in one read by the byte-by-byte ones).
func TestFleetReaders(t *testing.T) {
	readers := []string{readerGoroutine}
	if defaultReader == readerEpoll {
		readers = append(readers, readerEpoll)
	}
	for _, reader := range readers {
		for _, framing := range []string{"chunked", "length", "close"} {
			for _, useTLS := range []bool{false, true} {
				name := reader + "/" + framing
				if useTLS {
					name += "/tls"
				}
				t.Run(name, func(t *testing.T) {
					t.Cleanup(func() { goleak.VerifyNone(t) })
					testFleetReader(t, reader, framing, useTLS)
				})
			}
		}
	}
}

// testTLSConfigs returns a server configuration with httptest's
// certificate for 127.0.0.1 and the generator's client configuration.
func testTLSConfigs(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	server = srv.TLS.Clone()
	srv.Close()
	u, _ := url.Parse("https://127.0.0.1/")
	return server, (&target{url: u}).tlsConfig("http/1.1")
}

const fleetEvents = 40

func testFleetReader(t *testing.T, reader, framing string, useTLS bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var clientTLS *tls.Config
	if useTLS {
		var serverTLS *tls.Config
		serverTLS, clientTLS = testTLSConfigs(t)
		ln = tls.NewListener(ln, serverTLS)
	}
	const n = 12
	start := make(chan struct{})
	closed := make(chan error, n)
	var served sync.WaitGroup
	served.Go(func() {
		for k := range n {
			conn, err := ln.Accept()
			if err != nil {
				t.Error(err)
				return
			}
			served.Go(func() {
				defer conn.Close()
				closed <- serveFleetConn(conn, k, n, framing, start)
			})
		}
	})
	sub := &subscriber{
		target:     ln.Addr().String(),
		host:       ln.Addr().String(),
		requestURI: func(int) string { return "/events" },
		dialer:     func(int) *net.Dialer { return new(net.Dialer) },
		hist:       []*histogram{new(histogram), new(histogram), new(histogram)},
		tls:        clientTLS,
	}
	fl := newLocalFleet(sub, n, &Config{Mode: ModeFanout, DialConcurrency: 4, ConnectTimeout: 10 * time.Second, Publishers: 1, Reader: reader})
	if fl.reader != reader {
		t.Fatalf("the fleet reads with %s, want %s", fl.reader, reader)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if cs := fl.connect(ctx); cs.connected != n {
		t.Fatalf("connected %+v", cs)
	}
	close(start)
	tl := fl.finish(ctx, []uint64{fleetEvents}, 10*time.Second, nil)
	// Every connection but the one the server hung up on is closed by
	// the fleet, which the server sees as the end of the request stream.
	for range n {
		if err := <-closed; err != nil {
			t.Error(err)
		}
	}
	served.Wait()
	delivered := uint64((n-1)*fleetEvents + 1)
	if tl.expected != n*fleetEvents || tl.delivered != delivered || tl.lost != fleetEvents-1 || tl.undelivered != 0 || tl.dup != 0 || tl.ooo != 0 ||
		tl.malformed != n-1 || tl.dropped != 1 || tl.hist.total() != delivered {
		t.Errorf("tallies %+v, want %d delivered, %d lost, %d malformed, 1 dropped", tl, delivered, fleetEvents-1, n-1)
	}
	for i := range fl.conns {
		c := &fl.conns[i]
		if !c.ended.Load() || c.endErr == nil {
			t.Errorf("connection %d: ended %v (%v) after the run", i, c.ended.Load(), c.endErr)
		}
		if defaultReader == readerEpoll && fl.reader == readerEpoll && c.fd != -1 {
			t.Errorf("connection %d: socket %d still open", i, c.fd)
		}
	}
}

// serveFleetConn answers one subscriber of testFleetReader and returns nil
// once the client closed the connection (or, for the last connection,
// once it hung up itself).
func serveFleetConn(conn net.Conn, k, n int, framing string, start <-chan struct{}) error {
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil {
		return err
	}
	req.Body.Close()
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
	switch framing {
	case "chunked":
		head += "Transfer-Encoding: chunked\r\n"
	case "length":
		head += "Content-Length: 1000000\r\n"
	}
	frame := func(s string) string {
		if framing == "chunked" {
			return fmt.Sprintf("%x;k=%d\r\n%s\r\n", len(s), k, s)
		}
		return s
	}
	event := func(seq int) string {
		return "id: " + strconv.Itoa(seq) + "\r\ndata: " + strconv.Itoa(seq) + " " + strconv.FormatInt(time.Now().UnixNano(), 10) + "\r\n\r\n"
	}
	// The head and the first event in one write.
	if _, err := io.WriteString(conn, head+"\r\n"+frame(": hello\n\n"+event(1))); err != nil {
		return err
	}
	if k == n-1 {
		return nil // hang up: the connection drops with 39 updates lost
	}
	<-start
	var burst []byte
	for seq := 2; seq <= fleetEvents; seq++ {
		b := frame(event(seq))
		if seq == fleetEvents {
			// Before the last event, not after: the fleet may stop
			// reading once it has every event it expects.
			b = frame("data: not ours\n\n") + b
		}
		if k%3 == 1 {
			// Padded and in one write: more than a read of the epoll
			// reader takes at once.
			burst = append(burst, frame(": "+strings.Repeat("p", 4<<10)+"\n")+b...)
			continue
		}
		if k%3 == 0 {
			for i := range len(b) {
				if _, err := conn.Write([]byte{b[i]}); err != nil {
					return err
				}
			}
		} else if _, err := io.WriteString(conn, b); err != nil {
			return err
		}
	}
	if _, err := conn.Write(burst); err != nil {
		return err
	}
	// Wait for the fleet to close the connection.
	if _, err := io.Copy(io.Discard, br); err != nil {
		return fmt.Errorf("connection %d: waiting for the client to close: %w", k, err)
	}
	return nil
}

func TestFleetReaderUnknown(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	sub := &subscriber{hist: []*histogram{new(histogram)}}
	fl := newLocalFleet(sub, 3, &Config{Mode: ModeFanout, DialConcurrency: 1, ConnectTimeout: time.Second, Publishers: 1, Reader: "threads"})
	cs := fl.connect(context.Background())
	if cs.connected != 0 || cs.errors != 3 || !strings.Contains(cs.firstErr, ReaderEnv) || !strings.Contains(cs.firstErr, `"threads"`) {
		t.Errorf("connect = %+v", cs)
	}
	fl.finish(context.Background(), nil, 0, nil)
}
