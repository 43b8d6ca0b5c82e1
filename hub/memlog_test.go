package hub_test

import (
	"errors"
	"fmt"
	"slices"
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
	if n := l.Len(); n != 100 {
		t.Fatalf("Len = %d, want 100", n)
	}
	if _, err := l.Find(ctx, "899"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("Find(899) = %v, want ErrNotFound", err)
	}
	if seq, err := l.Find(ctx, "900"); err != nil || seq != seqs[900] {
		t.Fatalf("Find(900) = %d, %v; want %d", seq, err, seqs[900])
	}
}
