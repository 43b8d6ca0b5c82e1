package hub_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/logtest"
)

func TestMemoryLog(t *testing.T) {
	logtest.Run(t, func(t *testing.T) hub.Log {
		return hub.NewMemoryLog(hub.MemoryLogOptions{})
	})
}

func TestMemoryLogRetention(t *testing.T) {
	logtest.RunRetention(t, func(t *testing.T, maxLen int, maxAge time.Duration) hub.Log {
		return hub.NewMemoryLog(hub.MemoryLogOptions{MaxLen: maxLen, MaxAge: maxAge})
	})
}

func TestMemoryLogDuplicates(t *testing.T) {
	logtest.RunDuplicates(t, func(t *testing.T, maxLen int, window time.Duration) hub.Log {
		return hub.NewMemoryLog(hub.MemoryLogOptions{MaxLen: maxLen, DuplicateWindow: window})
	})
}

// TestMemoryLogCompaction appends far past MaxLen so the backing slice is
// compacted many times, and checks the kept window after each step.
func TestMemoryLogCompaction(t *testing.T) {
	l := hub.NewMemoryLog(hub.MemoryLogOptions{MaxLen: 100})
	defer l.Close()
	ctx := t.Context()
	var seqs []uint64
	for i := range 1000 {
		u := &hub.Update{ID: fmt.Sprint(i), Topics: []string{"t"}}
		if err := l.Append(ctx, u); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, u.Seq)
		if i%97 != 0 {
			continue
		}
		from := max(0, len(seqs)-100)
		var got []uint64
		for u, err := range l.Read(ctx, 0) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, u.Seq)
		}
		if !slices.Equal(got, seqs[from:]) {
			t.Fatalf("after %d appends: Read(0) = %v…, want %v…", i+1, got[:min(3, len(got))], seqs[from:from+3])
		}
	}
	if n, err := l.Len(ctx); n != 100 || err != nil {
		t.Fatalf("Len = %d, %v; want 100", n, err)
	}
	if _, err := l.Find(ctx, "899"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("Find(899) = %v, want ErrNotFound", err)
	}
	if seq, err := l.Find(ctx, "900"); err != nil || seq != seqs[900] {
		t.Fatalf("Find(900) = %d, %v; want %d", seq, err, seqs[900])
	}
}

// TestMemoryLogLen: Len has the stores' signature and answers as they do
// for a cancelled context and a closed log.
func TestMemoryLogLen(t *testing.T) {
	l := hub.NewMemoryLog(hub.MemoryLogOptions{})
	ctx := context.Background()
	for i := range 3 {
		if err := l.Append(ctx, &hub.Update{ID: fmt.Sprint(i), Topics: []string{"t"}}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := l.Len(ctx); n != 3 || err != nil {
		t.Fatalf("Len = %d, %v; want 3", n, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Len(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("Len(cancelled) = %v", err)
	}
	l.Close()
	if _, err := l.Len(ctx); !errors.Is(err, hub.ErrClosed) {
		t.Fatalf("Len after Close = %v, want ErrClosed", err)
	}
}

// TestMemoryLogMaxBytes is issue 19 item 10: the history is bounded in
// bytes as well as in updates, by default too, and the newest update is
// kept however large.
func TestMemoryLogMaxBytes(t *testing.T) {
	ctx := context.Background()
	quarter := strings.Repeat("x", 256<<10)
	l := hub.NewMemoryLog(hub.MemoryLogOptions{MaxBytes: 1 << 20})
	defer l.Close()
	var ids []string
	for i := range 10 {
		ids = append(ids, fmt.Sprint("q", i))
		if err := l.Append(ctx, &hub.Update{ID: ids[i], Topics: []string{"t"}, Data: quarter}); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := l.Len(ctx); n != 3 {
		t.Fatalf("1 MiB bound, 10 updates of 256 KiB: %d kept, want 3", n)
	}
	if _, err := l.Find(ctx, ids[6]); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("Find(%s) = %v, want ErrNotFound: it is beyond the bound", ids[6], err)
	}
	if _, err := l.Find(ctx, ids[7]); err != nil {
		t.Fatalf("Find(%s) = %v", ids[7], err)
	}
	if err := l.Append(ctx, &hub.Update{ID: "big", Topics: []string{"t"}, Data: quarter + quarter + quarter + quarter + quarter}); err != nil {
		t.Fatal(err)
	}
	if n, _ := l.Len(ctx); n != 1 {
		t.Fatalf("after an update over the bound: %d kept, want it alone", n)
	}

	// The default bound: 300 updates of 1 MiB (one shared string) keep
	// within DefaultMemoryLogMaxBytes.
	mib := strings.Repeat("x", 1<<20)
	d := hub.NewMemoryLog(hub.MemoryLogOptions{})
	defer d.Close()
	for i := range 300 {
		if err := d.Append(ctx, &hub.Update{ID: fmt.Sprint(i), Topics: []string{"t"}, Data: mib}); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := d.Len(ctx); n != hub.DefaultMemoryLogMaxBytes>>20-1 {
		t.Fatalf("default bound, 300 updates of 1 MiB: %d kept, want %d", n, hub.DefaultMemoryLogMaxBytes>>20-1)
	}
	// Negative: no bound in bytes.
	u := hub.NewMemoryLog(hub.MemoryLogOptions{MaxBytes: -1})
	defer u.Close()
	for i := range 300 {
		if err := u.Append(ctx, &hub.Update{ID: fmt.Sprint(i), Topics: []string{"t"}, Data: mib}); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := u.Len(ctx); n != 300 {
		t.Fatalf("no bound in bytes: %d kept, want 300", n)
	}
}
