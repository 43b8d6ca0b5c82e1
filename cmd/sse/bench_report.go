package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sync"
	"time"
)

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// isTerminal reports whether w is a character device, where a progress
// line that rewrites itself is welcome.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// startProgress redraws status() on w every second when w is a terminal
// and cfg is not quiet. The returned function stops it and clears the line;
// it may be called more than once.
func startProgress(w io.Writer, cfg *benchConfig, status func() string) func() {
	if cfg.quiet || !isTerminal(w) {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprintf(w, "\r\033[K%4.0fs  %s", time.Since(start).Seconds(), status())
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}

// printBenchSummary writes the result for people.
func printBenchSummary(w io.Writer, r *benchResult) {
	name := r.Target
	if r.Name != "" {
		name = r.Name + " at " + r.Target
	}
	fmt.Fprintf(w, "sse bench %s: %s\n", r.Mode, name)
	fmt.Fprintf(w, "  connections  %d of %d in %.2fs, %d failed, %d dropped\n", r.Connected, r.Connections, r.ConnectSeconds, r.ConnectErrors, r.Dropped)
	if r.ConnectError != "" {
		fmt.Fprintf(w, "  first connect error: %s\n", r.ConnectError)
	}
	if r.Mode != "idle" {
		fmt.Fprintf(w, "  published    %d in %.2fs (%.0f/s), %d failed\n", r.Published, r.PublishSeconds, r.PublishRate, r.PublishErrors)
		if r.PublishError != "" {
			fmt.Fprintf(w, "  first publish error: %s\n", r.PublishError)
		}
		if l := r.PublishMs; l != nil {
			fmt.Fprintf(w, "  publish      p50 %.3fms  p90 %.3fms  p99 %.3fms  max %.3fms\n", l.P50, l.P90, l.P99, l.Max)
		}
		fmt.Fprintf(w, "  delivered    %d of %d (%.0f/s): lost %d, undelivered at the end %d, duplicated %d, out of order %d, malformed %d\n",
			r.Delivered, r.Expected, r.DeliveryRate, r.Lost, r.Undelivered, r.Duplicated, r.OutOfOrder, r.Malformed)
		if l := r.LatencyMs; l != nil {
			fmt.Fprintf(w, "  latency      p50 %.3fms  p90 %.3fms  p99 %.3fms  max %.3fms\n", l.P50, l.P90, l.P99, l.Max)
		}
	}
	if s := r.Server; s != nil {
		fmt.Fprintf(w, "  server       pid %d: RSS %d -> %d KiB connected -> %d KiB end (%.0f B/conn), CPU %.2fs (%.0f%%)\n",
			s.PID, s.RSSBeforeKiB, s.RSSConnKiB, s.RSSEndKiB, s.RSSPerConnByte, s.CPUSeconds, s.CPUPercent)
	}
	fmt.Fprintf(w, "  generator    RSS %d KiB, CPU %.2fs (%.0f%%), %.2fs in all\n", r.Client.RSSEndKiB, r.Client.CPUSeconds, r.Client.CPUPercent, r.Seconds)
}

// startCPUProfile profiles this process into file until the returned
// function is called.
func startCPUProfile(file string) (func(), error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
