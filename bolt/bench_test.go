package bolt

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ssehub/ssehub/hub"
)

// appenders is how many goroutines publish at once in the append
// benchmarks: b.SetParallelism multiplies GOMAXPROCS to reach it.
const appenders = 64

func benchAppendParallel(b *testing.B, opts Options) {
	l, _ := openTest(b, opts)
	data := strings.Repeat("d", 100)
	var n atomic.Uint64
	b.SetParallelism(max(1, appenders/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			u := &hub.Update{ID: fmt.Sprint("b", n.Add(1)), Topics: []string{"https://example.com/t"}, Data: data}
			if err := l.Append(ctx, u); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	if c := l.commits.Load(); c > 0 {
		b.ReportMetric(float64(l.appends.Load())/float64(c), "appends/commit")
	}
}

// BenchmarkAppendGroupCommit measures durable appends from many concurrent
// publishers sharing transactions and fsyncs.
func BenchmarkAppendGroupCommit(b *testing.B) {
	benchAppendParallel(b, Options{})
}

// BenchmarkAppendOneTxPerAppend is the baseline: the same load with one
// transaction and fsync per append.
func BenchmarkAppendOneTxPerAppend(b *testing.B) {
	benchAppendParallel(b, Options{NoGroupCommit: true})
}

// BenchmarkAppendSerial appends from one goroutine, so each op is one
// transaction and its fsync: the commit latency of this disk.
func BenchmarkAppendSerial(b *testing.B) {
	l, _ := openTest(b, Options{})
	ctx := context.Background()
	data := strings.Repeat("d", 100)
	i := 0
	for b.Loop() {
		i++
		if err := l.Append(ctx, &hub.Update{ID: fmt.Sprint("s", i), Topics: []string{"t"}, Data: data}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplayTail resumes a subscriber 100 updates from the end, as a
// reconnect with Last-Event-ID does: Find plus Read. Its cost should not
// depend on the size of the history.
func BenchmarkReplayTail(b *testing.B) {
	for _, size := range []int{1_000, 200_000} {
		b.Run(fmt.Sprintf("history=%d", size), func(b *testing.B) {
			l, _ := openTest(b, Options{MaxLen: size})
			bulkLoad(b, l, size)
			ctx := context.Background()
			id := fmt.Sprint("bulk", size-100)
			b.ReportAllocs()
			for b.Loop() {
				seq, err := l.Find(ctx, id)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for _, err := range l.Read(ctx, seq) {
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				if n != 100 {
					b.Fatalf("replayed %d updates, want 100", n)
				}
			}
		})
	}
}

// BenchmarkOpenCheck measures Open with its consistency check (check) and
// without (skip) on a file of 20,000 updates of 1 KiB; MB/s is the check's
// rate, which pageCheckMaxBytes and DefaultCheckTimeout are set by.
func BenchmarkOpenCheck(b *testing.B) {
	l, path := openTest(b, Options{})
	data := strings.Repeat("d", 1000)
	ctx := context.Background()
	done := make(chan error, appenders)
	for i := 0; i < 20_000; i += appenders {
		for j := range appenders {
			go func() {
				done <- l.Append(ctx, &hub.Update{ID: fmt.Sprint("b", i+j), Topics: []string{"t"}, Data: data})
			}()
		}
		for range appenders {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
	}
	l.Close()
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	for _, skip := range []bool{false, true} {
		name := "check"
		if skip {
			name = "skip"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(fi.Size())
			for b.Loop() {
				l, err := Open(path, Options{SkipCheck: skip})
				if err != nil {
					b.Fatal(err)
				}
				l.Close()
			}
		})
	}
}
