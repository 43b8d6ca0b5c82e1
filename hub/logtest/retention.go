package logtest

import (
	"errors"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// RunRetention runs the subtests for a log's retention limits.
//
// open must return a new, empty log that keeps exactly the newest maxLen
// updates (maxLen 0: the implementation's default, at least 2,000) and drops
// updates appended more than maxAge ago (maxAge 0: no age limit). Aged-out
// updates must vanish from Find and Read as soon as they are older than
// maxAge, whether or not the log has trimmed them from storage yet.
//
// The age subtest sleeps about a second in total.
func RunRetention(t *testing.T, open func(t *testing.T, maxLen int, maxAge time.Duration) hub.Log) {
	t.Helper()
	run := func(name string, maxLen int, maxAge time.Duration, fn func(*testing.T, hub.Log, time.Duration)) {
		t.Run(name, func(t *testing.T) {
			l := open(t, maxLen, maxAge)
			t.Cleanup(func() { _ = l.Close() })
			fn(t, l, maxAge)
		})
	}
	run("MaxLen", 5, 0, testMaxLen)
	run("MaxLenKeepsReusedID", 2, 0, testMaxLenReusedID)
	run("MaxAge", 0, 300*time.Millisecond, testMaxAge)
}

func testMaxLen(t *testing.T, l hub.Log, _ time.Duration) {
	ctx := ctxFor(t)
	ups := appendN(t, l, "k", 12)
	wantIDs(t, "Read(0) with MaxLen 5", readAll(t, l, 0), []string{"k7", "k8", "k9", "k10", "k11"})
	wantIDs(t, "Read(after k8)", readAll(t, l, ups[8].Seq), []string{"k9", "k10", "k11"})
	// Reading from before the oldest kept update starts at the oldest.
	wantIDs(t, "Read(after k2)", readAll(t, l, ups[2].Seq), []string{"k7", "k8", "k9", "k10", "k11"})
	for _, id := range []string{"k0", "k6"} {
		if seq, err := l.Find(ctx, id); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("Find(%s) of a trimmed update = %d, %v; want ErrNotFound", id, seq, err)
		}
	}
	if seq, err := l.Find(ctx, "k7"); err != nil || seq != ups[7].Seq {
		t.Fatalf("Find(k7) = %d, %v; want %d, nil", seq, err, ups[7].Seq)
	}
	if seq, err := l.Last(ctx); err != nil || seq != ups[11].Seq {
		t.Fatalf("Last = %d, %v; want %d, nil", seq, err, ups[11].Seq)
	}
}

// testMaxLenReusedID checks a reuse of an ID within the duplicate window
// as retention removes the first copy: the reuses are answered with that
// copy's Seq and not stored, and once the copy is trimmed Find knows no
// "a". Whether a reuse after the copy is gone, still within the window, is
// a duplicate or a new update is the log's choice (see hub.Log's Append);
// each is checked for consistency. RunDuplicates checks Find for reuses
// that are stored.
func testMaxLenReusedID(t *testing.T, l hub.Log, _ time.Duration) {
	ctx := ctxFor(t)
	a1, b, a2 := newUpdate("a"), newUpdate("b"), newUpdate("a")
	for _, u := range []*hub.Update{a1, b, a2} {
		if err := l.Append(ctx, u); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	if a2.Seq != a1.Seq {
		t.Fatalf("a reused within the duplicate window: Seq %d, want the first copy's %d", a2.Seq, a1.Seq)
	}
	wantIDs(t, "Read(0) after a duplicate", readAll(t, l, 0), []string{"a", "b"})
	if seq, err := l.Find(ctx, "a"); err != nil || seq != a1.Seq {
		t.Fatalf("Find(a) = %d, %v; want %d, nil", seq, err, a1.Seq)
	}
	c := appendN(t, l, "c", 1)[0] // trims a1
	if seq, err := l.Find(ctx, "a"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("Find(a) after trimming its only copy = %d, %v; want ErrNotFound", seq, err)
	}
	a3 := newUpdate("a")
	if err := l.Append(ctx, a3); err != nil {
		t.Fatalf("Append: %v", err)
	}
	switch {
	case a3.Seq == a1.Seq: // remembered beyond retention
		wantIDs(t, "Read(0) after a duplicate of a trimmed update", readAll(t, l, 0), []string{"b", "c0"})
		if _, err := l.Find(ctx, "a"); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("Find(a) = %v, want ErrNotFound", err)
		}
	case a3.Seq > c.Seq: // stored anew
		wantIDs(t, "Read(0) after reusing a trimmed update's ID", readAll(t, l, 0), []string{"c0", "a"})
		if seq, err := l.Find(ctx, "a"); err != nil || seq != a3.Seq {
			t.Fatalf("Find(a) after every copy was trimmed and it was reused = %d, %v; want %d, nil", seq, err, a3.Seq)
		}
	default:
		t.Fatalf("a reused after its copy was trimmed: Seq %d, neither the first copy's %d nor after %d", a3.Seq, a1.Seq, c.Seq)
	}
}

func testMaxAge(t *testing.T, l hub.Log, maxAge time.Duration) {
	ctx := ctxFor(t)
	old := appendN(t, l, "old", 2)
	if seq, err := l.Find(ctx, "old0"); err != nil || seq != old[0].Seq {
		t.Fatalf("Find(old0) while fresh = %d, %v; want %d, nil", seq, err, old[0].Seq)
	}
	time.Sleep(maxAge + 300*time.Millisecond)
	fresh := appendN(t, l, "new", 1)

	for _, id := range []string{"old0", "old1"} {
		if seq, err := l.Find(ctx, id); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("Find(%s) after MaxAge = %d, %v; want ErrNotFound", id, seq, err)
		}
	}
	if seq, err := l.Find(ctx, "new0"); err != nil || seq != fresh[0].Seq {
		t.Fatalf("Find(new0) = %d, %v; want %d, nil", seq, err, fresh[0].Seq)
	}
	wantIDs(t, "Read(0) after MaxAge", readAll(t, l, 0), []string{"new0"})

	// With no append since, everything ages out and Read is empty.
	time.Sleep(maxAge + 300*time.Millisecond)
	wantIDs(t, "Read(0) after everything aged out", readAll(t, l, 0), []string{})
	if _, err := l.Find(ctx, "new0"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("Find(new0) after MaxAge = %v, want ErrNotFound", err)
	}
}
