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

// testMaxLenReusedID checks what Find answers for a reused ID as retention
// removes its copies: the first copy while it is kept; ErrNotFound once it
// is gone and later copies are kept (where a subscriber holding the ID
// stands is unknown, and replaying everything kept loses nothing); and,
// once every copy is gone, the first copy of the ID appended since.
//
// A log that deduplicates (see hub.Log) stores no second copy within its
// window, trimmed first copy or not: the reuses are answered with the
// first copy's Seq, and once that copy is trimmed Find knows no "a".
func testMaxLenReusedID(t *testing.T, l hub.Log, _ time.Duration) {
	ctx := ctxFor(t)
	a1, b, a2 := newUpdate("a"), newUpdate("b"), newUpdate("a")
	for _, u := range []*hub.Update{a1, b} {
		if err := l.Append(ctx, u); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	if err := l.Append(ctx, a2); err != nil { // trims a1, unless a duplicate
		t.Fatalf("Append: %v", err)
	}
	if a2.Seq == a1.Seq {
		testMaxLenDeduplicated(t, l, a1)
		return
	}
	if seq, err := l.Find(ctx, "a"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("Find(a) after trimming its first copy = %d, %v; want ErrNotFound", seq, err)
	}
	if _, err := l.Find(ctx, "b"); err != nil {
		t.Fatalf("Find(b) = %v", err)
	}
	for _, id := range []string{"c", "d"} { // trim b, then a2
		if err := l.Append(ctx, newUpdate(id)); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	for _, id := range []string{"a", "b"} {
		if _, err := l.Find(ctx, id); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("Find(%s) = %v, want ErrNotFound", id, err)
		}
	}
	a3 := newUpdate("a")
	if err := l.Append(ctx, a3); err != nil {
		t.Fatalf("Append: %v", err)
	}
	if seq, err := l.Find(ctx, "a"); err != nil || seq != a3.Seq {
		t.Fatalf("Find(a) after every copy was trimmed and it was reused = %d, %v; want %d, nil", seq, err, a3.Seq)
	}
}

// testMaxLenDeduplicated continues testMaxLenReusedID for a log that
// answered the second "a" as a duplicate of a1: the log holds a1 and b.
func testMaxLenDeduplicated(t *testing.T, l hub.Log, a1 *hub.Update) {
	ctx := ctxFor(t)
	wantIDs(t, "Read(0) after a duplicate", readAll(t, l, 0), []string{"a", "b"})
	if seq, err := l.Find(ctx, "a"); err != nil || seq != a1.Seq {
		t.Fatalf("Find(a) = %d, %v; want %d, nil", seq, err, a1.Seq)
	}
	appendN(t, l, "c", 1) // trims a1
	if seq, err := l.Find(ctx, "a"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("Find(a) after trimming its only copy = %d, %v; want ErrNotFound", seq, err)
	}
	a3 := newUpdate("a")
	if err := l.Append(ctx, a3); err != nil {
		t.Fatalf("Append: %v", err)
	}
	if a3.Seq != a1.Seq {
		t.Fatalf("a third a within the window: Seq %d, want the first copy's %d", a3.Seq, a1.Seq)
	}
	wantIDs(t, "Read(0) after a duplicate of a trimmed update", readAll(t, l, 0), []string{"b", "c0"})
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
