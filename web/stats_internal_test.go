package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/sse"
)

// BenchmarkSample measures one sample of the dashboard's figures, which
// every open dashboard takes once a second.
func BenchmarkSample(b *testing.B) {
	log := hub.NewMemoryLog(hub.MemoryLogOptions{})
	defer log.Close()
	h, err := hub.New(hub.Options{Log: log, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close(context.Background())
	hd, err := New(Options{Hub: h, HistorySize: func(context.Context) (int, error) { return 1, nil }})
	if err != nil {
		b.Fatal(err)
	}
	s := hd.(*handler).newSampler()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s.mu.Lock()
		s.sample(ctx)
		s.mu.Unlock()
	}
}

// TestStreamsShareOneReading is issue 19 item 7: however many dashboard
// streams are open, the store is read once per interval, not once per
// stream.
func TestStreamsShareOneReading(t *testing.T) {
	log := hub.NewMemoryLog(hub.MemoryLogOptions{})
	defer log.Close()
	h, err := hub.New(hub.Options{Log: log, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	var reads atomic.Int64
	hd, err := New(Options{Hub: h, Logger: slog.New(slog.DiscardHandler), HistorySize: func(context.Context) (int, error) {
		reads.Add(1)
		return 7, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hd)
	defer srv.Close()
	const streams = 50
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range streams {
		wg.Go(func() {
			r, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+statsPath, nil)
			resp, err := srv.Client().Do(r)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			for ev, err := range sse.Events(resp.Body) {
				if err != nil {
					t.Error(err)
					return
				}
				if !strings.Contains(ev.Data, `"history":7`) {
					t.Errorf("figures without the history: %s", ev.Data)
				}
				return // one sample each
			}
		})
	}
	wg.Wait()
	// The 50 first samples come within one interval, give or take a
	// slow start: a reading or two, not 50.
	if n := reads.Load(); n > 3 {
		t.Fatalf("%d streams read the store %d times for their first figures, want them to share one reading", streams, n)
	}
}

// TestAdmitStats: the figures stream goes through Options.AdmitStats, which
// may refuse it, and whose release runs when the stream ends.
func TestAdmitStats(t *testing.T) {
	h, err := hub.New(hub.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	var admitted, released atomic.Int64
	hd, err := New(Options{Hub: h, Logger: slog.New(slog.DiscardHandler), AdmitStats: func(w http.ResponseWriter, r *http.Request) (func(), time.Time, bool) {
		if r.URL.Query().Get("authorization") != "yes" {
			http.Error(w, "no", http.StatusUnauthorized)
			return nil, time.Time{}, false
		}
		admitted.Add(1)
		// The stream must end by this time, as its token does.
		return func() { released.Add(1) }, time.Now().Add(300 * time.Millisecond), true
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hd)
	defer srv.Close()
	resp, err := http.Get(srv.URL + statsPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("refused by AdmitStats: %d, want its 401", resp.StatusCode)
	}
	// The dashboard page hands its authorization on to the stream.
	resp, err = http.Get(srv.URL + "/dashboard?authorization=yes")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), statsPath+"?authorization=yes") {
		t.Fatalf("the dashboard page does not hand its token on to %s", statsPath)
	}
	resp, err = http.Get(srv.URL + statsPath + "?authorization=yes")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("admitted: %v %v", resp, err)
	}
	// The stream ends by itself at the admitted time.
	done := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, resp.Body); done <- err }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream outlived its admission")
	}
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for released.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("admitted %d streams, released %d after the client left", admitted.Load(), released.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
