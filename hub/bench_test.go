package hub_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/sse"
)

// window bounds the updates in flight in the fan-out benchmarks, well below
// the queue size, so no subscriber is ever disconnected as slow and the
// figure is the hub's sustained rate.
const window = 128

var benchData = strings.Repeat("x", 100)

// waitUntil polls cond; the benchmarks use it to wait for deliveries.
func waitUntil(b *testing.B, what string, cond func() bool) {
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// publishAll publishes b.N updates to topic, keeping at most window of them
// undelivered according to delivered, and waits for the last delivery.
func publishAll(b *testing.B, h *hub.Hub, subscribers int, delivered func() int64) {
	b.Helper()
	start := delivered()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	t0, cpu0 := time.Now(), hub.CPUTime()
	for i := range b.N {
		if i >= window {
			want := start + int64(i-window)*int64(subscribers)
			waitUntil(b, "deliveries", func() bool { return delivered() >= want })
		}
		if _, err := h.Publish(context.Background(), &hub.Update{Topics: []string{"bench"}, Data: benchData}); err != nil {
			b.Fatal(err)
		}
	}
	want := start + int64(b.N)*int64(subscribers)
	waitUntil(b, "the last deliveries", func() bool { return delivered() >= want })
	elapsed, cpu := time.Since(t0), hub.CPUTime()-cpu0
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	n := float64(b.N) * float64(subscribers)
	b.ReportMetric(n/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/delivery")
	b.ReportMetric(float64(elapsed.Nanoseconds())/n, "ns/delivery")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/delivery")
	}
	if st := h.Stats(); st.SlowDisconnects > 0 {
		b.Fatalf("%d subscribers were disconnected as slow", st.SlowDisconnects)
	}
}

// BenchmarkFanout10k fans each update out to 10,000 in-process subscribers
// writing to io.Discard.
func BenchmarkFanout10k(b *testing.B) {
	const n = 10_000
	h := newHub(b, hub.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for range n {
		sub, err := h.Subscribe(ctx, hub.Subscription{Topics: []string{"bench"}})
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() { sub.Run(ctx, io.Discard) })
	}
	publishAll(b, h, n, func() int64 { return int64(h.Stats().Delivered) })
}

// BenchmarkFanoutHTTP fans each update out to subscribers connected over
// loopback HTTP, each served by sse.Stream and read by a client that counts
// events. Both ends of every connection are in this process, so the
// connection count is kept well under the file descriptor limit.
func BenchmarkFanoutHTTP(b *testing.B) {
	const conns = 2000
	h := newHub(b, hub.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub, err := h.Subscribe(r.Context(), hub.Subscription{Topics: []string{"bench"}})
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		stream, err := sse.NewStream(w, r, sse.StreamOptions{Heartbeat: -1})
		if err != nil {
			sub.Close()
			return
		}
		defer stream.Close()
		sub.Run(r.Context(), stream)
	}))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1}}
	defer client.CloseIdleConnections()

	ctx, cancel := context.WithCancel(context.Background())
	var received atomic.Int64
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for range conns {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			defer resp.Body.Close()
			r := bufio.NewReaderSize(resp.Body, 16<<10)
			for {
				line, err := r.ReadSlice('\n')
				if err != nil {
					return
				}
				if bytes.HasPrefix(line, []byte("data:")) {
					received.Add(1)
				}
			}
		})
	}
	waitUntil(b, "subscribers", func() bool { return h.Stats().Subscribers == conns })
	publishAll(b, h, conns, received.Load)
}

// BenchmarkIdleSubscriber measures what one idle subscriber costs: each
// iteration subscribes and parks a goroutine in Run, as an HTTP handler
// would. Run it with -benchtime=10000x, as the package doc says.
func BenchmarkIdleSubscriber(b *testing.B) {
	h := newHub(b, hub.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()

	before := memUse()
	b.ResetTimer()
	for range b.N {
		sub, err := h.Subscribe(ctx, hub.Subscription{Topics: []string{"https://example.com/books/1"}})
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() { sub.Run(ctx, io.Discard) })
	}
	b.StopTimer()
	waitUntil(b, "subscribers", func() bool { return h.Stats().Subscribers == int64(b.N) })
	runtime.Gosched()
	after := memUse()
	b.ReportMetric(float64(after.heap-before.heap)/float64(b.N), "heapB/sub")
	b.ReportMetric(float64(after.stack-before.stack)/float64(b.N), "stackB/sub")
	b.ReportMetric(float64(after.heap+after.stack-before.heap-before.stack)/float64(b.N), "B/sub")
}

type mem struct{ heap, stack uint64 }

func memUse() mem {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return mem{ms.HeapAlloc, ms.StackInuse}
}
