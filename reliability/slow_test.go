package reliability

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// Parameters of the slow-consumer soak.
const (
	fanSubscribers = 5000
	fanSlowShare   = 10 // percent of subscribers that never read
	fanRate        = 10 // updates per second on the measured topic
	fanDataSize    = 512
	fanLength      = 40 * time.Second
	// The subscribers that stall also take a bulk topic, so that their
	// connections' buffers (several MiB on loopback) fill within seconds
	// instead of minutes; in the baseline run they read it.
	bulkRate = 4
	bulkSize = 256 << 10
)

// TestSoakSlowConsumers runs 5,000 subscribers twice: all reading, then
// with 10% that stop reading (raw TCP connections with a small receive
// buffer that are never read). The readers' p99 latency must stay within
// twice that of the first run, the stalled ones must be disconnected, and
// the hub's memory must stay bounded.
func TestSoakSlowConsumers(t *testing.T) {
	if !soak() {
		t.Skip("set SSEHUB_SOAK=1 to run the 5,000-subscriber slow-consumer soak")
	}
	base := runFanout(t, fanSubscribers, fanSubscribers*fanSlowShare/100, false)
	slow := runFanout(t, fanSubscribers, fanSubscribers*fanSlowShare/100, true)
	t.Logf("p99 latency: %v without slow subscribers, %v with %d%% slow (ratio %.2f)",
		base.p99, slow.p99, fanSlowShare, float64(slow.p99)/float64(base.p99))
	if slow.p99 > 2*base.p99 {
		t.Errorf("p99 %v with slow subscribers, more than twice %v", slow.p99, base.p99)
	}
}

type fanResult struct {
	p50, p99, max time.Duration
	peakRSS       int64
}

// runFanout runs n subscribers of the measured topic, of which the first
// slow also take the bulk topic and, when stall, never read.
func runFanout(t *testing.T, n, slow int, stall bool) fanResult {
	h := startHub(t, "--data", t.TempDir(), "--jwt-key", jwtKey, "--anonymous", "--heartbeat", "0")
	const topic, bulk = "https://example.com/fan", "https://example.com/bulk"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var (
		mu        sync.Mutex
		latencies []time.Duration
		received  = make([]atomic.Int64, n)
		readers   sync.WaitGroup
	)
	fast := &net.Dialer{Timeout: 10 * time.Second}
	stalled := &net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		// Set before connecting, so that the window the client
		// advertises is small from the start.
		var serr error
		c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return serr
	}}
	req := "GET /.well-known/mercure?topic=" + url.QueryEscape(topic) + " HTTP/1.1\r\nHost: x\r\n\r\n"
	bulkReq := "GET /.well-known/mercure?topic=" + url.QueryEscape(topic) + "&topic=" + url.QueryEscape(bulk) + " HTTP/1.1\r\nHost: x\r\n\r\n"
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		d, rq := fast, req
		if i < slow {
			rq = bulkReq
			if stall {
				d = stalled
			}
		}
		conn, err := d.DialContext(ctx, "tcp", h.Addr)
		if err != nil {
			t.Fatalf("subscriber %d: %v", i, err)
		}
		conns = append(conns, conn)
		if _, err := conn.Write([]byte(rq)); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReaderSize(conn, 64<<10)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("subscriber %d: %v %v", i, err, resp)
		}
		if i < slow {
			if !stall {
				readers.Go(func() { io.Copy(io.Discard, resp.Body) })
			}
			continue
		}
		j := i
		readers.Go(func() {
			var mine []time.Duration
			for ev, err := range sse.Events(resp.Body) {
				if err != nil {
					break
				}
				ts, _, _ := strings.Cut(ev.Data, " ")
				ns, err := strconv.ParseInt(ts, 10, 64)
				if err != nil {
					continue
				}
				mine = append(mine, time.Duration(time.Now().UnixNano()-ns))
				received[j].Add(1)
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	subs, _ := h.metric("ssehub_subscribers")
	t.Logf("%d subscribers (%d on the bulk topic too, stalled: %v) connected; hub RSS %s, %v subscribers counted",
		n, slow, stall, mib(h.ProcStatus("VmRSS")), subs)
	bulkCtx, stopBulk := context.WithCancel(ctx)
	defer stopBulk()
	var bulkDone sync.WaitGroup
	bulkDone.Go(func() {
		c := &http.Client{Timeout: 30 * time.Second}
		defer c.CloseIdleConnections()
		data := strings.Repeat("b", bulkSize)
		tok := token(t, []string{"*"}, nil)
		tick := time.NewTicker(time.Second / bulkRate)
		defer tick.Stop()
		for {
			select {
			case <-bulkCtx.Done():
				return
			case <-tick.C:
			}
			publish(bulkCtx, c, h.url, tok, url.Values{"topic": {bulk}, "data": {data}})
		}
	})

	tok := token(t, []string{"*"}, nil)
	c := &http.Client{Timeout: 10 * time.Second}
	pad := strings.Repeat("x", fanDataSize)
	tick := time.NewTicker(time.Second / fanRate)
	defer tick.Stop()
	published := 0
	var slowGoneAfter time.Duration
	start := time.Now()
	for time.Since(start) < fanLength {
		<-tick.C
		data := strconv.FormatInt(time.Now().UnixNano(), 10) + " " + pad
		if _, err := publish(ctx, c, h.url, tok, url.Values{"topic": {topic}, "data": {data}}); err != nil {
			t.Fatalf("publish: %v\n%s", err, h.Diag())
		}
		published++
		if stall && slowGoneAfter == 0 && published%fanRate == 0 {
			if g, err := h.metric("ssehub_subscribers"); err == nil && int(g) == n-slow {
				slowGoneAfter = time.Since(start)
			}
		}
	}
	stopBulk()
	bulkDone.Wait()
	// Let the readers drain what is in flight, then end every stream.
	time.Sleep(2 * time.Second)
	gauge, _ := h.metric("ssehub_subscribers")
	peak := h.ProcStatus("VmHWM")
	for _, c := range conns {
		c.Close()
	}
	readers.Wait()
	short := 0
	for j := range received[slow:] {
		j += slow
		if received[j].Load() != int64(published) {
			short++
		}
	}
	slices.Sort(latencies)
	q := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}
	r := fanResult{p50: q(0.50), p99: q(0.99), max: latencies[len(latencies)-1], peakRSS: peak}
	t.Logf("%d subscribers, %d on bulk (stalled: %v): %d updates of %d B at %d/s; %d deliveries, p50 %v p99 %v max %v; "+
		"%d readers missed updates; subscribers at the end %v (slow ones gone after %v); hub peak RSS (VmHWM) %s",
		n, slow, stall, published, fanDataSize, fanRate, len(latencies), r.p50, r.p99, r.max, short, gauge, slowGoneAfter, mib(peak))
	if short > 0 {
		t.Errorf("%d reading subscribers missed updates", short)
	}
	if stall && int(gauge) != n-slow {
		t.Errorf("%v subscribers still counted, want the %d readers: the stalled ones were not disconnected", gauge, n-slow)
	}
	if peak > 1<<30 {
		t.Errorf("hub peak RSS %s", mib(peak))
	}
	h.stop()
	return r
}
