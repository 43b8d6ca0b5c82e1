package demo

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/hub"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNewUpdate(t *testing.T) {
	now := time.Date(2026, 11, 21, 6, 0, 0, 123456789, time.UTC)
	for _, seq := range []uint64{1, 9, 10, 11, 20} {
		u := NewUpdate(seq, now, 42.5)
		if got, ok := ParseID(u.ID); !ok || got != seq {
			t.Errorf("seq %d: ParseID(%q) = %d, %v", seq, u.ID, got, ok)
		}
		if len(u.Topics) != 1 || u.Topics[0] != Topic {
			t.Errorf("seq %d: topics %q", seq, u.Topics)
		}
		var p Payload
		if err := json.Unmarshal([]byte(u.Data), &p); err != nil {
			t.Fatalf("seq %d: data is not JSON: %v\n%s", seq, err, u.Data)
		}
		if p.Seq != seq || p.Value != 42.5 || p.Message == "" || p.Time != "2026-11-21T06:00:00.123456789Z" {
			t.Errorf("seq %d: payload %+v", seq, p)
		}
		note := seq%NoteEvery == 0
		if (u.Type == NoteType) != note {
			t.Errorf("seq %d: type %q", seq, u.Type)
		}
		if multi := strings.Count(u.Data, "\n") >= 2; multi != note {
			t.Errorf("seq %d: multi-line data %v, want %v:\n%s", seq, multi, note, u.Data)
		}
	}
}

func TestParseIDRejects(t *testing.T) {
	for _, id := range []string{"", "urn:ssehub:demo:", "urn:ssehub:demo:0", "urn:ssehub:demo:-1",
		"urn:ssehub:demo:1x", "urn:uuid:0190", "urn:ssehub:demo:99999999999999999999999"} {
		if n, ok := ParseID(id); ok {
			t.Errorf("ParseID(%q) = %d, true", id, n)
		}
	}
}

// seqs reads the demo seqs stored in log, in log order.
func seqs(t *testing.T, log hub.Log) []uint64 {
	t.Helper()
	var out []uint64
	for u, err := range log.Read(t.Context(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := ParseID(u.ID); ok {
			out = append(out, n)
		}
	}
	return out
}

// runFor starts a hub on log, runs the demo until n more demo updates are
// stored, and stops both.
func runFor(t *testing.T, log hub.Log, n int) {
	t.Helper()
	h, err := hub.New(hub.Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	start := len(seqs(t, log))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, h, 5*time.Millisecond, slog.New(slog.DiscardHandler))
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(seqs(t, log)) < start+n {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("fewer than %d demo updates after 10s", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}

func contiguous(t *testing.T, got []uint64) {
	t.Helper()
	for i, n := range got {
		if n != uint64(i)+1 {
			t.Fatalf("seq %d at position %d, want %d: %v", n, i, i+1, got)
		}
	}
}

func TestRunContinuesAcrossRestarts(t *testing.T) {
	log := hub.NewMemoryLog(hub.MemoryLogOptions{})
	defer log.Close()
	runFor(t, log, 12)
	runFor(t, log, 5)
	got := seqs(t, log)
	if len(got) < 17 {
		t.Fatalf("%d demo updates, want ≥ 17", len(got))
	}
	contiguous(t, got)
}

// TestRunContinuesAfterOtherUpdates covers the slow path: the newest update
// in the log belongs to another topic, and is private.
func TestRunContinuesAfterOtherUpdates(t *testing.T) {
	log := hub.NewMemoryLog(hub.MemoryLogOptions{})
	defer log.Close()
	runFor(t, log, 3)
	for i, private := range []bool{false, true} {
		u := &hub.Update{ID: "other-" + string(rune('a'+i)), Topics: []string{"https://example.com/other"}, Data: "x", Private: private}
		if err := log.Append(t.Context(), u); err != nil {
			t.Fatal(err)
		}
	}
	runFor(t, log, 3)
	contiguous(t, seqs(t, log))
}

// TestResume appends straight to the log, as another node sharing it would,
// and starts a hub after each step: a hub starts at the log's end.
func TestResume(t *testing.T) {
	log := hub.NewMemoryLog(hub.MemoryLogOptions{})
	defer log.Close()
	ctx := t.Context()
	resumeOn := func() (uint64, error) {
		h, err := hub.New(hub.Options{Log: log})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close(context.Background())
		return resume(ctx, h)
	}
	if n, err := resumeOn(); err != nil || n != 1 {
		t.Fatalf("empty log: resume = %d, %v; want 1", n, err)
	}
	for _, u := range []*hub.Update{
		{ID: "first", Topics: []string{"https://example.com/a"}, Data: "a"},
		NewUpdate(41, time.Now(), 1),
		NewUpdate(42, time.Now(), 2),
	} {
		if err := log.Append(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := resumeOn(); err != nil || n != 43 {
		t.Fatalf("demo update newest: resume = %d, %v; want 43", n, err)
	}
	if err := log.Append(ctx, &hub.Update{ID: "last", Topics: []string{"https://example.com/b"}, Data: "b", Private: true}); err != nil {
		t.Fatal(err)
	}
	if n, err := resumeOn(); err != nil || n != 43 {
		t.Fatalf("other update newest: resume = %d, %v; want 43", n, err)
	}
}
