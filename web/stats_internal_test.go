package web

import (
	"context"
	"log/slog"
	"testing"

	"github.com/ssehub/ssehub/hub"
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
		s.sample(ctx)
	}
}
