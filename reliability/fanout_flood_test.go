package reliability

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestTemplateFlood is issue 19 item 1: anonymous clients subscribe to
// 3,000 distinct URI templates that match nothing the hub publishes, and a
// subscriber to the README's kind of template must still get every update
// it is sent, each on its own topic, within a second of the last
// acknowledgement. Before the fan-out index every update
// evaluated every template under the hub's lock and the template cache
// thrashed, so the victim got a fraction of its updates.
//
// Each attacking connection comes from its own loopback address
// (127.0.0.2 and up) with 100 selectors, the per-connection bound, so the
// per-client bounds do not refuse them: the index, not the limits, is what
// this test measures. The same holds for Mercure 1.0 URL patterns
// (match_urlpattern=), which the hub indexes by their parsed prefix.
func TestTemplateFlood(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, param, other, victim string
	}{
		{"templates", "topic", "https://a%d-%d.example/{x}", "https://example.com/victim/{n}"},
		{"urlpatterns", "match_urlpattern", "https://a%d-%d.example/:x", "https://example.com/victim/:n"},
	} {
		t.Run(tc.name, func(t *testing.T) { selectorFlood(t, tc.param, tc.other, tc.victim) })
	}
}

// selectorFlood is TestTemplateFlood with selectors in the query parameter
// param: other formats the attackers' (connection, index), victim is the
// victim's, which matches https://example.com/victim/N.
func selectorFlood(t *testing.T, param, other, victim string) {
	h := startHub(t, "--memory", "--jwt-key", jwtKey, "--anonymous", "--heartbeat", "0")
	const (
		conns     = 30
		perConn   = 100
		updates   = 1000
		deliverBy = time.Second
	)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for k := range conns {
		q := url.Values{}
		for j := range perConn {
			q.Add(param, fmt.Sprintf(other, k, j))
		}
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+k))}}
		c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
		resp := openStream(t, ctx, c, h.url+"/.well-known/mercure?"+q.Encode())
		defer resp.Body.Close()
	}

	resp := openStream(t, ctx, http.DefaultClient, h.url+"/.well-known/mercure?"+param+"="+url.QueryEscape(victim))
	defer resp.Body.Close()
	var got atomic.Int64
	lastAt := make(chan time.Time, 1)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: ") && got.Add(1) == updates {
				lastAt <- time.Now()
				return
			}
		}
	}()

	tok := token(t, []string{"*"}, nil)
	start := time.Now()
	for n := range updates {
		if _, err := publish(ctx, http.DefaultClient, h.url, tok, url.Values{"topic": {fmt.Sprintf("https://example.com/victim/%d", n)}, "data": {fmt.Sprint(n)}}); err != nil {
			t.Fatal(err)
		}
	}
	acked := time.Now()
	select {
	case at := <-lastAt:
		t.Logf("%d selectors present: %d/%d updates delivered %v after the last acknowledgement (publishing took %v)",
			conns*perConn, updates, updates, at.Sub(acked).Round(time.Millisecond), acked.Sub(start).Round(time.Millisecond))
	case <-time.After(deliverBy):
		t.Fatalf("%d selectors present: the victim got %d/%d updates within %v of the last acknowledgement (publishing took %v)",
			conns*perConn, got.Load(), updates, deliverBy, acked.Sub(start).Round(time.Millisecond))
	}
}

// openStream subscribes with c and returns the response once its headers
// arrived with 200. ctx bounds the whole stream.
func openStream(t *testing.T, ctx context.Context, c *http.Client, u string) *http.Response {
	t.Helper()
	r, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("subscribe %.80s: %s", u, resp.Status)
	}
	return resp
}
