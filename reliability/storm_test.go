package reliability

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConnectionStorm is the bounded version of the storm soak: 10 s of
// subscribers connecting and hanging up as fast as they can while
// publishers publish in bursts.
func TestConnectionStorm(t *testing.T) {
	t.Parallel()
	runStorm(t, 10*time.Second)
}

// TestSoakConnectionStorm runs the storm for 150 s (SSEHUB_SOAK=1).
func TestSoakConnectionStorm(t *testing.T) {
	if !soak() {
		t.Skip("set SSEHUB_SOAK=1 to run the 150 s storm")
	}
	runStorm(t, 150*time.Second)
}

// Parameters of the storm.
const (
	stormers      = 16 // goroutines connecting and hanging up
	burstSize     = 50 // concurrent publishes per burst
	burstInterval = 250 * time.Millisecond
	// goroutineSlack is how far above its baseline the hub's goroutine
	// count may stay once the storm is over: connections the kernel has
	// not finished closing yet, a metrics scrape in flight.
	goroutineSlack = 10
	settleTimeout  = 20 * time.Second
)

func runStorm(t *testing.T, length time.Duration) {
	h := startHub(t, "--data", t.TempDir(), "--jwt-key", jwtKey, "--anonymous")
	const topic = "https://example.com/storm"
	tok := token(t, []string{"*"}, nil)
	pick := func() string { return h.url }
	l := &ledger{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// One well-behaved subscriber that must get every update through it.
	watcher := newResumer(topic, "", pick)
	var bg sync.WaitGroup
	defer bg.Wait()
	defer cancel()
	bg.Go(func() { watcher.run(ctx) })
	warm := publishMarker(t, ctx, pick, tok, topic, 1000, 0, l)
	if !watcher.waitFor(warm, markerWait) {
		t.Fatal("watcher not subscribed")
	}
	baseG, baseRSS, baseFDs := settle(t, h, 0)
	t.Logf("baseline: %v goroutines, RSS %s, %d fds", baseG, mib(baseRSS), baseFDs)

	stormCtx, stopStorm := context.WithTimeout(ctx, length)
	defer stopStorm()
	var storm sync.WaitGroup
	var connects, refused, early atomic.Int64
	for i := range stormers {
		storm.Go(func() {
			req := fmt.Sprintf("GET /.well-known/mercure?topic=%s HTTP/1.1\r\nHost: x\r\n\r\n", url.QueryEscape(fmt.Sprintf("storm-%d", i)))
			for n := 0; stormCtx.Err() == nil; n++ {
				switch err := stormOnce(h.Addr, req, n%4 == 0); {
				case err == errEarly:
					early.Add(1)
				case err != nil:
					refused.Add(1)
				default:
					connects.Add(1)
				}
			}
		})
	}
	for k := range 2 {
		p := &publisher{k: k, topic: topic, tok: tok, pick: pick, ledger: l}
		storm.Go(func() { p.run(stormCtx) })
	}
	var burstFailures atomic.Int64
	storm.Go(func() {
		c := &http.Client{Timeout: 10 * time.Second}
		defer c.CloseIdleConnections()
		for n := 0; stormCtx.Err() == nil; n++ {
			var wg sync.WaitGroup
			for j := range burstSize {
				wg.Go(func() {
					k := 100 + j
					data := payload(k, n)
					id, err := publish(stormCtx, c, h.url, tok, url.Values{"topic": {topic}, "data": {data}})
					if err != nil {
						burstFailures.Add(1)
						return
					}
					l.add(ack{publisher: k, seq: n, data: data, id: id})
				})
			}
			wg.Wait()
			select {
			case <-stormCtx.Done():
			case <-time.After(burstInterval):
			}
		}
	})
	// The hub must keep answering throughout.
	var slowestHealth time.Duration
	var peakG float64
	var peakFDs int
	health := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for stormCtx.Err() == nil {
		start := time.Now()
		resp, err := health.Get(h.url + "/healthz")
		if err != nil {
			t.Fatalf("hub not answering /healthz during the storm: %v", err)
		}
		resp.Body.Close()
		slowestHealth = max(slowestHealth, time.Since(start))
		if g, err := h.metric("go_goroutines"); err == nil {
			peakG = max(peakG, g)
		}
		peakFDs = max(peakFDs, h.FDs())
		select {
		case <-stormCtx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	storm.Wait()
	if refused.Load() > 0 {
		t.Errorf("%d storm connections refused or failed", refused.Load())
	}

	m := publishMarker(t, ctx, pick, tok, topic, 1000, 1, l)
	if !watcher.waitFor(m, markerWait) {
		t.Fatal("watcher did not get the final marker")
	}
	v := watcher.check(l, l.snapshot())
	if !v.ok() {
		t.Errorf("watcher: %+v", v)
	}
	afterG, afterRSS, afterFDs := settle(t, h, baseG+goroutineSlack)
	peakRSS := h.ProcStatus("VmHWM")
	secs := length.Seconds()
	t.Logf("storm %v: %d subscriptions opened and closed (%.0f/s), %d more hung up before the answer, %d failed; "+
		"%d updates acknowledged (%d burst publishes failed), watcher lost %d duplicated %d; slowest /healthz %v",
		length, connects.Load(), float64(connects.Load()+early.Load())/secs, early.Load(), refused.Load(),
		len(l.snapshot()), burstFailures.Load(), v.lost, v.duplicated, slowestHealth.Round(time.Millisecond))
	t.Logf("goroutines %v -> peak %v -> %v; RSS %s -> peak %s -> %s; fds %d -> peak %d -> %d",
		baseG, peakG, afterG, mib(baseRSS), mib(peakRSS), mib(afterRSS), baseFDs, peakFDs, afterFDs)
	if afterG > baseG+goroutineSlack {
		t.Errorf("goroutines did not return to the baseline: %v, baseline %v", afterG, baseG)
	}
	if afterFDs > baseFDs+goroutineSlack {
		t.Errorf("file descriptors did not return to the baseline: %d, baseline %d", afterFDs, baseFDs)
	}
	// The Go runtime returns freed memory to the kernel lazily; what
	// matters is that the storm leaves nothing growing behind.
	if afterRSS > 2*baseRSS+64<<20 {
		t.Errorf("RSS %s after the storm, baseline %s", mib(afterRSS), mib(baseRSS))
	}
	h.stop()
}

var errEarly = fmt.Errorf("hung up before the answer")

// stormOnce opens one subscription over raw TCP, waits for the 200 (unless
// hangUpEarly) and hangs up with a reset, so that the storm does not leave
// thousands of sockets in TIME_WAIT on the client side.
func stormOnce(addr, req string, hangUpEarly bool) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetLinger(0)
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(req)); err != nil {
		return err
	}
	if hangUpEarly {
		return errEarly
	}
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(status, "HTTP/1.1 200") {
		return fmt.Errorf("status %q", status)
	}
	return nil
}

// settle waits until the hub's goroutine count is at most target (0: until
// it stops changing) and returns it with the RSS and descriptor count.
func settle(t *testing.T, h *hubProc, target float64) (goroutines float64, rss int64, fds int) {
	t.Helper()
	deadline := time.Now().Add(settleTimeout)
	prev := -1.0
	for {
		g, err := h.metric("go_goroutines")
		if err != nil {
			t.Fatal(err)
		}
		done := target > 0 && g <= target || target == 0 && g == prev
		if done || time.Now().After(deadline) {
			return g, h.ProcStatus("VmRSS"), h.FDs()
		}
		prev = g
		time.Sleep(500 * time.Millisecond)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
