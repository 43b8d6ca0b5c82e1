package reliability

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/ssehub/ssehub/cmd/ssehub/ssehubtest"
	"github.com/ssehub/ssehub/sse"
)

// Bounds of the TLS attacks: counts small enough for CI's two cores,
// large enough that a per-connection leak shows in the figures.
const (
	tlsPlainRequests     = 200
	tlsStalledHandshakes = 100
	h2UnreadStreams      = 100
	h2RapidResets        = 20000
	// tlsDelivery bounds how long the well-behaved subscribers may take
	// to get a marker during and after an attack.
	tlsDelivery = 2 * time.Second
	// burstDelivery is that bound while the rapid-reset burst runs, which
	// takes the hub's and the test's cores on a loaded machine.
	burstDelivery = 15 * time.Second
)

// startTLSHub runs the binary on HTTPS with a self-signed certificate,
// and returns it with clients trusting that certificate: one speaking
// HTTP/2, one HTTP/1.1.
func startTLSHub(t *testing.T, args ...string) (h *hubProc, h2, h1 *http.Client) {
	t.Helper()
	dir := t.TempDir()
	p := ssehubtest.Start(t, nil, append([]string{"--addr", "127.0.0.1:0", "--data", dir, "--tls-self-signed"}, args...)...)
	pool := selfSignedPool(t, dir)
	client := func(h2 bool) *http.Client {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, Protocols: &http.Protocols{}}
		tr.Protocols.SetHTTP1(!h2)
		tr.Protocols.SetHTTP2(h2)
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}
	h2, h1 = client(true), client(false)
	h = &hubProc{Proc: p, t: t, url: p.URL, client: h2}
	if !strings.HasPrefix(h.url, "https://") {
		t.Fatalf("hub URL %s, want https", h.url)
	}
	return h, h2, h1
}

// selfSignedPool returns a pool holding the certificate a hub started
// with --tls-self-signed --data dir made, for localhost.
func selfSignedPool(t testing.TB, dir string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "tls-localhost.crt"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", filepath.Join(dir, "tls-localhost.crt"))
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// watcher is a well-behaved subscriber that must keep getting its events
// while others attack the hub.
type watcher struct {
	got chan string
}

func watch(t *testing.T, ctx context.Context, c *http.Client, base, topic string) *watcher {
	t.Helper()
	return watchURL(t, ctx, c, base+"/.well-known/mercure?topic="+url.QueryEscape(topic))
}

// watchURL is watch with the subscribe URL u given whole.
func watchURL(t *testing.T, ctx context.Context, c *http.Client, u string) *watcher {
	t.Helper()
	resp := openStream(t, ctx, c, u)
	w := &watcher{got: make(chan string, 1024)}
	go func() {
		defer resp.Body.Close()
		for ev, err := range sse.Events(resp.Body) {
			if err != nil {
				return
			}
			w.got <- ev.Data
		}
	}()
	return w
}

// deliver publishes a marker to topic and fails the test unless every
// watcher gets it within tlsDelivery.
func deliver(t *testing.T, h *hubProc, topic string, n int, ws ...*watcher) {
	t.Helper()
	deliverWithin(t, h, topic, n, tlsDelivery, ws...)
}

// deliverWithin is deliver with the bound d.
func deliverWithin(t *testing.T, h *hubProc, topic string, n int, d time.Duration, ws ...*watcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	marker := fmt.Sprintf("marker-%d", n)
	if _, err := publish(ctx, h.client, h.url, token(t, []string{"*"}, nil), url.Values{"topic": {topic}, "data": {marker}}); err != nil {
		t.Fatalf("publish %s: %v", marker, err)
	}
	for i, w := range ws {
		for got := ""; got != marker; {
			select {
			case got = <-w.got:
			case <-ctx.Done():
				t.Fatalf("watcher %d did not get %s within %v", i, marker, d)
			}
		}
	}
}

// TestTLSHostileClients attacks the HTTPS port with what TLS and HTTP/2
// add to the plain port's attacks: plain HTTP sent to it, handshakes that
// never finish, an HTTP/2 client that opens streams and never reads, and
// streams reset as soon as they open (the "rapid reset" attack,
// CVE-2023-44487). Throughout, subscribers over HTTP/2 and HTTP/1.1 keep
// getting their events within 2 s; afterwards the hub's goroutines,
// descriptors and memory come back to their baseline.
func TestTLSHostileClients(t *testing.T) {
	t.Parallel()
	h, h2, h1 := startTLSHub(t, "--jwt-key", jwtKey, "--anonymous")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const topic = "https://example.com/tls-watch"
	ws := []*watcher{watch(t, ctx, h2, h.url, topic), watch(t, ctx, h1, h.url, topic)}
	marker := 0
	next := func() int { marker++; return marker }
	deliver(t, h, topic, next(), ws...)
	baseG, baseRSS, baseFDs := settle(t, h, 0)
	t.Logf("baseline: %v goroutines, RSS %s, %d fds", baseG, mib(baseRSS), baseFDs)

	t.Run("plain HTTP to the TLS port", func(t *testing.T) {
		// Go's TLS server recognises an HTTP request where a ClientHello
		// should be and answers 400 before closing (net/http's
		// "Client sent an HTTP request to an HTTPS server").
		for i := range tlsPlainRequests {
			conn, err := net.DialTimeout("tcp", h.Addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(conn, "GET /.well-known/mercure?topic=x HTTP/1.1\r\nHost: %s\r\n\r\n", h.Addr)
			b, err := io.ReadAll(conn)
			conn.Close()
			if err != nil || !strings.HasPrefix(string(b), "HTTP/1.0 400") {
				t.Fatalf("request %d: %q, %v; want a 400 and the connection closed", i, b, err)
			}
		}
		deliver(t, h, topic, next(), ws...)
	})

	t.Run("handshake never finishes", func(t *testing.T) {
		// Half a ClientHello's record header, then silence: the server
		// gives up at its handshake deadline (ReadHeaderTimeout).
		start := time.Now()
		var conns []net.Conn
		for range tlsStalledHandshakes {
			conn, err := net.DialTimeout("tcp", h.Addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.Write([]byte{0x16, 0x03, 0x01})
			conns = append(conns, conn)
		}
		deliver(t, h, topic, next(), ws...)
		for i, conn := range conns {
			conn.SetReadDeadline(start.Add(3 * binReadHeaderTimeout))
			if _, err := io.Copy(io.Discard, conn); err != nil {
				t.Fatalf("stalled handshake %d not closed by the hub after %v: %v", i, time.Since(start), err)
			}
		}
		if d := time.Since(start); d > binReadHeaderTimeout+5*time.Second {
			t.Errorf("stalled handshakes closed after %v, want about %v", d, binReadHeaderTimeout)
		}
		deliver(t, h, topic, next(), ws...)
	})

	t.Run("HTTP/2 streams never read", func(t *testing.T) {
		// A client that opens many subscriptions on one connection and
		// never reads: no WINDOW_UPDATE, so the hub may send 64 KiB on
		// the whole connection; then every stream's writes wait. The
		// hub ends them (slow subscriber, or write timeout) while the
		// watchers, on their own connections, go on.
		c := ssehubtest.DialH2(t, h.Addr)
		host := h.Addr
		for i := range h2UnreadStreams {
			if !c.Get(uint32(2*i+1), host, "/.well-known/mercure?topic="+url.QueryEscape(topic)) {
				t.Fatalf("stream %d: the hub closed the connection", i)
			}
		}
		// Every unread stream is a subscriber before the first update, so
		// that all of them stall on it, ahead of the watchers: on a busy
		// machine the hub might otherwise take some only later, a few per
		// update.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			n, err := h.metric(`ssehub_subscribers_by_protocol{protocol="HTTP/2"}`)
			if err != nil {
				t.Fatal(err)
			}
			if n >= h2UnreadStreams+1 { // and the watcher
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%v HTTP/2 subscribers 30 s after opening %d streams, want %d", n, h2UnreadStreams, h2UnreadStreams+1)
			}
		}
		big := strings.Repeat("x", 16<<10)
		tok := token(t, []string{"*"}, nil)
		for i := range 200 {
			if _, err := publish(ctx, h.client, h.url, tok, url.Values{"topic": {topic}, "data": {big}}); err != nil {
				t.Fatalf("publish %d: %v", i, err)
			}
			if i%20 == 0 {
				deliver(t, h, topic, next(), ws...)
			}
		}
		deliver(t, h, topic, next(), ws...)
		// The unread streams end within the write timeout (sse's
		// default, 10 s) at most.
		deadline := time.Now().Add(30 * time.Second)
		for {
			n, err := h.metric(`ssehub_subscribers_by_protocol{protocol="HTTP/2"}`)
			if err != nil {
				t.Fatal(err)
			}
			if n <= 2 { // the watcher, and /metrics' own connection is no stream
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%v HTTP/2 subscribers still open 30 s after the client stopped reading", n)
			}
			time.Sleep(500 * time.Millisecond)
		}
		c.Conn.Close()
	})

	t.Run("rapid reset", func(t *testing.T) {
		rapidReset(t, h, topic, ws, next, baseG)
	})

	afterG, afterRSS, afterFDs := settle(t, h, baseG+goroutineSlack)
	t.Logf("after: %v goroutines, RSS %s (peak %s), %d fds", afterG, mib(afterRSS), mib(h.ProcStatus("VmHWM")), afterFDs)
	if afterG > baseG+goroutineSlack {
		t.Errorf("goroutines did not return to the baseline: %v, baseline %v", afterG, baseG)
	}
	if afterFDs > baseFDs+goroutineSlack {
		t.Errorf("file descriptors did not return to the baseline: %d, baseline %d", afterFDs, baseFDs)
	}
	if afterRSS > 2*baseRSS+64<<20 {
		t.Errorf("RSS %s after the attacks, baseline %s", mib(afterRSS), mib(baseRSS))
	}
	deliver(t, h, topic, next(), ws...)
	h.stop()
}

// rapidReset opens subscriptions on one connection and resets each at
// once (RST_STREAM, RFC 9113 section 6.4), in one burst, as fast as the
// connection takes them: the "rapid reset" attack (CVE-2023-44487), which
// makes a server start work for streams that cost the client nothing.
// net/http's server runs at most SETTINGS_MAX_CONCURRENT_STREAMS handlers
// per connection and queues at most four times as many; past that it
// ends the connection with GOAWAY and ENHANCE_YOUR_CALM (RFC 9113
// section 7: "the peer is exhibiting a behavior that might be generating
// excessive load") and closes it. The subtest asserts that fate exactly:
// the GOAWAY's code, its last stream (section 6.8: one the client opened),
// the close after it, and no other error before; meanwhile and
// afterwards the watchers get their markers, and the hub's goroutines
// return to the baseline.
func rapidReset(t *testing.T, h *hubProc, topic string, ws []*watcher, next func() int, baseG float64) {
	c := ssehubtest.DialH2(t, h.Addr)
	c.Conn.SetDeadline(time.Now().Add(2 * time.Minute))
	// Section 3.4: the server's preface is a SETTINGS frame.
	f, err := c.Fr.ReadFrame()
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		t.Fatalf("server preface: %v (%v), want SETTINGS", f, err)
	}
	maxStreams, ok := sf.Value(http2.SettingMaxConcurrentStreams)
	if !ok || maxStreams == 0 {
		t.Fatalf("SETTINGS_MAX_CONCURRENT_STREAMS %d (%v): the attack needs a bound", maxStreams, ok)
	}
	c.Fr.WriteSettingsAck()
	flush := c.Buffer(64 << 10)

	// The reader notes what the server sends; frames other than these
	// (SETTINGS acks, WINDOW_UPDATE, the HEADERS and DATA of handlers
	// that answered before their reset arrived) change nothing.
	type goAway struct {
		code http2.ErrCode
		last uint32
	}
	goaways := make(chan goAway, 4)
	type reset struct {
		id   uint32
		code http2.ErrCode
	}
	resets := make(chan reset, 16)
	pong := make(chan struct{}, 1)
	closed := make(chan error, 1)
	go func() {
		for {
			f, err := c.Fr.ReadFrame()
			if err != nil {
				closed <- err
				return
			}
			switch f := f.(type) {
			case *http2.GoAwayFrame:
				goaways <- goAway{f.ErrCode, f.LastStreamID}
			case *http2.RSTStreamFrame:
				select {
				case resets <- reset{f.StreamID, f.ErrCode}:
				default:
				}
			case *http2.PingFrame:
				if f.IsAck() {
					pong <- struct{}{}
				}
			}
		}
	}()

	// The burst, from its own goroutine so that the watchers are checked
	// while it goes on. Frames are flushed every 64 KiB: writes fail once
	// the hub closed the connection.
	var sent int
	var lastID uint32
	wrote := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(wrote)
		for i := range h2RapidResets {
			id := uint32(2*i + 1)
			if !c.Get(id, h.Addr, "/.well-known/mercure?topic="+url.QueryEscape(fmt.Sprintf("rr-%d", i))) ||
				c.Fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
				return
			}
			sent, lastID = i+1, id
		}
		// A PING after the last reset: its ACK would say the hub read
		// every frame and kept the connection.
		if c.Fr.WritePing(false, [8]byte{'r', 'r'}) == nil {
			flush()
		}
	}()
	for done := false; !done; {
		// Served, if later than at rest: the burst competes for the
		// same cores.
		deliverWithin(t, h, topic, next(), burstDelivery, ws...)
		select {
		case <-wrote:
			done = true
		default:
		}
	}
	t.Logf("rapid reset: %d streams opened and reset in %v (SETTINGS_MAX_CONCURRENT_STREAMS %d)", sent, time.Since(start).Round(time.Millisecond), maxStreams)

	var g goAway
	select {
	case g = <-goaways:
	case <-pong:
		t.Fatalf("the hub read %d streams opened and reset in a burst and kept the connection, where net/http closes it past %d waiting handlers", sent, 4*maxStreams)
	case err := <-closed:
		// The reader passes on a GOAWAY before the connection's end.
		select {
		case g = <-goaways:
			closed <- err
		default:
			t.Fatalf("the hub closed the connection without GOAWAY: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("neither GOAWAY nor a PING's answer within a minute of the burst")
	}
	t.Logf("GOAWAY %v, last stream %d", g.code, g.last)
	if g.code != http2.ErrCodeEnhanceYourCalm {
		t.Errorf("GOAWAY with %v, want ENHANCE_YOUR_CALM", g.code)
	}
	if g.last%2 != 1 || g.last > lastID {
		t.Errorf("GOAWAY's last stream %d, want one the client opened (at most %d)", g.last, lastID)
	}
	// The queue the hub refuses to grow: handlers running plus those
	// waiting, so the burst got at least that far.
	if want := int(5 * maxStreams); sent <= want {
		t.Errorf("closed after %d streams, want more than %d (running and queued handlers)", sent, want)
	}
	// Then the connection ends: the hub closes it.
	select {
	case err := <-closed:
		if !errors.Is(err, io.EOF) {
			t.Logf("connection ended with %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the hub kept the connection open after its GOAWAY")
	}
	// A RST_STREAM of the hub's own for a stream the client had reset
	// (a handler that ended early while the client's reset was on its
	// way) is allowed: the client ignores it (RFC 9113 section 5.4.2).
	for len(resets) > 0 {
		r := <-resets
		t.Logf("the hub reset stream %d with %v", r.id, r.code)
	}
	if n := len(goaways); n != 0 {
		t.Errorf("%d more GOAWAY frames", n)
	}
	deliver(t, h, topic, next(), ws...)
	if g, _, _ := settle(t, h, baseG+goroutineSlack); g > baseG+goroutineSlack {
		t.Errorf("goroutines after the rapid reset: %v, baseline %v", g, baseG)
	}
}
