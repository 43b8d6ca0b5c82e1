package logtest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// BenchFanout publishes b.N updates from publishers concurrent publishers,
// each through a hub on a random one of logs (the nodes: one hub per log,
// the logs sharing one store), and waits until each of subscribers
// in-process subscribers, spread over the hubs, has received every one. It
// reports deliveries/s end to end and the mean and p99 latency of Publish.
// Stores call it from their benchmarks, so that their figures compare.
func BenchFanout(b *testing.B, logs []hub.Log, subscribers, publishers int) {
	b.Helper()
	hubs := make([]*hub.Hub, len(logs))
	for i, l := range logs {
		h, err := hub.New(hub.Options{Log: l, QueueSize: 1 << 16, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { h.Close(context.Background()) })
		hubs[i] = h
	}
	ctx, cancel := context.WithCancel(b.Context())
	var (
		delivered atomic.Int64
		runs      sync.WaitGroup
		runErr    atomic.Value
	)
	defer func() {
		cancel()
		runs.Wait()
	}()
	for i := range subscribers {
		sub, err := hubs[i%len(hubs)].Subscribe(ctx, hub.Subscription{Topics: []string{"https://example.com/feed"}})
		if err != nil {
			b.Fatal(err)
		}
		runs.Go(func() {
			if err := sub.Run(ctx, countWriter{&delivered}); err != nil {
				runErr.Store(err)
			}
		})
	}

	latencies := make([][]time.Duration, publishers)
	b.ResetTimer()
	start := time.Now()
	var pubs sync.WaitGroup
	for p := range publishers {
		n := b.N / publishers
		if p < b.N%publishers {
			n++
		}
		pubs.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(p), 2))
			lat := make([]time.Duration, 0, n)
			for i := range n {
				u := &hub.Update{ID: fmt.Sprintf("p%d-%d", p, i), Topics: []string{"https://example.com/feed"}, Data: "x"}
				t0 := time.Now()
				if _, err := hubs[rng.IntN(len(hubs))].Publish(ctx, u); err != nil {
					b.Error(err)
					return
				}
				lat = append(lat, time.Since(t0))
			}
			latencies[p] = lat
		})
	}
	pubs.Wait()
	want := int64(b.N) * int64(subscribers)
	for delivered.Load() < want {
		if err := runErr.Load(); err != nil {
			b.Fatalf("a subscriber ended: %v", err)
		}
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("%d of %d deliveries", delivered.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()

	all := slices.Concat(latencies...)
	slices.Sort(all)
	var sum time.Duration
	for _, d := range all {
		sum += d
	}
	b.ReportMetric(float64(want)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "publishes/s")
	if len(all) > 0 {
		b.ReportMetric(float64(sum.Microseconds())/float64(len(all)), "append-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "append-p99-µs")
	}
}

// countWriter counts the events Run writes: each ends with a blank line,
// and the benchmark's data has none of its own.
type countWriter struct{ n *atomic.Int64 }

func (w countWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(bytes.Count(p, []byte("\n\n"))))
	return len(p), nil
}
