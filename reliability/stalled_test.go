package reliability

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStalledSubscriberDisconnected opens a subscription that is never
// read, with a small receive buffer, and publishes large updates to it:
// once the connection's buffers are full the hub must give up on it within
// its write timeout, while a reading subscriber keeps getting everything.
func TestStalledSubscriberDisconnected(t *testing.T) {
	t.Parallel()
	h := startHub(t, "--data", t.TempDir(), "--jwt-key", jwtKey, "--anonymous", "--heartbeat", "0")
	const topic = "https://example.com/stall"
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return serr
	}}
	conn, err := d.Dial("tcp", h.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("GET /.well-known/mercure?topic=" + url.QueryEscape(topic) + " HTTP/1.1\r\nHost: x\r\n\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("subscribe: %v %v", err, resp)
	}
	tok := token(t, []string{"*"}, nil)
	data := strings.Repeat("x", 64<<10)
	start := time.Now()
	ctx := context.Background()
	for n := 0; ; n++ {
		if _, err := publish(ctx, http.DefaultClient, h.url, tok, url.Values{"topic": {topic}, "data": {data}}); err != nil {
			t.Fatal(err)
		}
		if n%10 == 0 {
			g, err := h.metric("ssehub_subscribers")
			if err != nil {
				t.Fatal(err)
			}
			if g == 0 {
				t.Logf("stalled subscriber disconnected after %v and %d updates of 64 KiB", time.Since(start).Round(time.Millisecond), n+1)
				return
			}
			if time.Since(start) > 40*time.Second {
				t.Fatalf("stalled subscriber still connected after %v and %d updates of 64 KiB (%d MiB)\n%s", time.Since(start), n+1, (n+1)>>4, h.Tail(40))
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}
