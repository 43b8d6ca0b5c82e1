package redis_test

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

	goredis "github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/redis"
	"github.com/ssehub/ssehub/redis/redistest"
)

// BenchmarkFanoutRedis1Node and BenchmarkFanoutRedis3Nodes publish b.N
// updates through Redis from concurrent publishers on random nodes and wait
// until each of 1,000 in-process subscribers, spread over the nodes, has
// received every one. They report deliveries/s end to end and the latency
// of Publish (one Lua round trip to Redis).
func BenchmarkFanoutRedis1Node(b *testing.B)  { benchFanout(b, 1) }
func BenchmarkFanoutRedis3Nodes(b *testing.B) { benchFanout(b, 3) }

// countWriter counts the events Run writes: each ends with a blank line,
// and the benchmark's data has none of its own.
type countWriter struct{ n *atomic.Int64 }

func (w countWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(bytes.Count(p, []byte("\n\n"))))
	return len(p), nil
}

func benchFanout(b *testing.B, nodes int) {
	const (
		subscribers = 1000
		publishers  = 4
	)
	srv := redistest.Start(b, redistest.Options{})
	prefix := newPrefix(b)
	hubs := make([]*hub.Hub, nodes)
	for i := range hubs {
		l := openLog(b, srv, redis.Options{Prefix: prefix})
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
		sub, err := hubs[i%nodes].Subscribe(ctx, hub.Subscription{Topics: []string{"https://example.com/feed"}})
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
				if _, err := hubs[rng.IntN(nodes)].Publish(ctx, u); err != nil {
					b.Error(err)
					return
				}
				lat = append(lat, time.Since(t0))
			}
			latencies[p] = lat
		})
	}
	pubs.Wait()
	want := int64(b.N) * subscribers
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
	if len(all) > 0 {
		b.ReportMetric(float64(sum.Microseconds())/float64(len(all)), "append-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "append-p99-µs")
	}
}

// BenchmarkAppend measures one Append round trip (the Lua script: HINCRBY,
// XADD, HSET and, once the log is full, the trim of one entry), with and
// without age retention, against a PING round trip on the same server as
// the floor.
func BenchmarkAppend(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	b.Run("Ping", func(b *testing.B) {
		c := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
		defer c.Close()
		for b.Loop() {
			if err := c.Ping(b.Context()).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, bc := range []struct {
		name string
		opts redis.Options
	}{
		{"MaxLen", redis.Options{MaxLen: 1000}},
		{"MaxLenMaxAge", redis.Options{MaxLen: 1000, MaxAge: time.Hour}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := openLog(b, srv, bc.opts)
			i := 0
			for b.Loop() {
				u := &hub.Update{ID: fmt.Sprintf("u%d", i), Topics: []string{"https://example.com/feed"}, Data: "x"}
				if err := l.Append(b.Context(), u); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
