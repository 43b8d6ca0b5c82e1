package logtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// RunDuplicates runs the subtests for a log's duplicate window (see
// hub.Log's Append).
//
// open must return a new, empty log that keeps exactly the newest maxLen
// updates (maxLen 0: the implementation's default, at least 2,000), has no
// age limit, and answers a retry (an append of an ID and content it
// appended less than window ago) as a duplicate; a negative window turns
// that off. The subtests use
// windows of at least 200ms and sleep about a second in total.
func RunDuplicates(t *testing.T, open func(t *testing.T, maxLen int, window time.Duration) hub.Log) {
	t.Helper()
	run := func(name string, maxLen int, window time.Duration, fn func(*testing.T, hub.Log, time.Duration)) {
		t.Run(name, func(t *testing.T) {
			l := open(t, maxLen, window)
			t.Cleanup(func() { _ = l.Close() })
			fn(t, l, window)
		})
	}
	run("Retry", 0, time.Minute, testRetry)
	run("ReusedID", 0, time.Minute, testReusedID)
	run("ConcurrentRetries", 0, time.Minute, testConcurrentRetries)
	run("AfterWindow", 0, 200*time.Millisecond, testAfterWindow)
	run("Off", 0, -1, testDuplicatesOff)
	run("FindReused", 0, -1, testFindReused)
	run("FindReusedTrimmed", 2, -1, testFindReusedTrimmed)
}

// testRetry: a publisher retries after a timeout, sending the same update
// again; the retry is answered with the stored update, which alone is read
// and followed.
func testRetry(t *testing.T, l hub.Log, _ time.Duration) {
	ctx, cancel := context.WithCancel(ctxFor(t))
	defer cancel()
	ch := follow(ctx, l, 0)
	first := fullUpdate("p")
	if err := l.Append(ctx, first); err != nil {
		t.Fatalf("Append: %v", err)
	}
	other := appendN(t, l, "o", 1)[0]
	retry := fullUpdate("p")
	if err := l.Append(ctx, retry); err != nil {
		t.Fatalf("Append(retry): %v", err)
	}
	if retry.Seq != first.Seq || !retry.Time.Equal(first.Time) {
		t.Fatalf("retry: Seq %d Time %v; want the stored update's %d %v", retry.Seq, retry.Time, first.Seq, first.Time)
	}
	got := readAll(t, l, 0)
	wantIDs(t, "Read(0)", got, []string{"p", "o0"})
	if seq, err := l.Last(ctx); err != nil || seq != other.Seq {
		t.Fatalf("Last = %d, %v; want %d", seq, err, other.Seq)
	}
	more := appendN(t, l, "m", 1)
	wantIDs(t, "Follow(0)", receive(t, ch, 3), []string{"p", "o0", "m0"})
	if more[0].Seq <= other.Seq {
		t.Fatalf("Seq %d after %d", more[0].Seq, other.Seq)
	}
}

// fullUpdate returns an update with every field a publisher supplies set,
// the same for the same id.
func fullUpdate(id string) *hub.Update {
	return &hub.Update{
		ID:      id,
		Topics:  []string{"https://example.com/t", "https://example.com/u"},
		Type:    "changed",
		Data:    "data " + id,
		Retry:   3 * time.Second,
		Private: true,
	}
}

// testReusedID: within the window, an update that reuses a stored ID with
// different content is not a retry but a new update: each is stored and
// read and followed in order, Find resolves the ID to its earliest copy,
// and a retry of the newest copy is still answered with it. Mercure 1.0
// (v1.0.0-alpha.3), "Reconnection": a Last-Event-ID shared by several
// updates resolves to the earliest, and the hub MUST send every update
// published after it, "including any later update carrying the same,
// reused ID"; issue 14: publishing a duplicate ID is accepted.
func testReusedID(t *testing.T, l hub.Log, _ time.Duration) {
	ctx, cancel := context.WithCancel(ctxFor(t))
	defer cancel()
	ch := follow(ctx, l, 0)
	// Each differs from the first in one field a publisher supplies.
	variants := []func(*hub.Update){
		func(u *hub.Update) {},
		func(u *hub.Update) { u.Data = "other data" },
		func(u *hub.Update) { u.Topics = u.Topics[:1] },
		func(u *hub.Update) { u.Topics = []string{u.Topics[1], u.Topics[0]} },
		func(u *hub.Update) { u.Type = "" },
		func(u *hub.Update) { u.Retry = 0 },
		func(u *hub.Update) { u.Private = false },
	}
	var stored []*hub.Update
	want := []string{}
	for i, change := range variants {
		u := fullUpdate("r")
		change(u)
		if err := l.Append(ctx, u); err != nil {
			t.Fatalf("Append(variant %d): %v", i, err)
		}
		if n := len(stored); n > 0 && u.Seq <= stored[n-1].Seq {
			t.Fatalf("variant %d of a reused ID: Seq %d, want a new update after %d", i, u.Seq, stored[n-1].Seq)
		}
		stored = append(stored, u)
		want = append(want, "r")
	}
	got := readAll(t, l, 0)
	wantIDs(t, "Read(0)", got, want)
	for i, u := range got {
		if u.Seq != stored[i].Seq || u.Data != stored[i].Data || u.Type != stored[i].Type ||
			u.Retry != stored[i].Retry || u.Private != stored[i].Private || !slices.Equal(u.Topics, stored[i].Topics) {
			t.Fatalf("Read(0)[%d] = %+v, want %+v", i, *u, *stored[i])
		}
	}
	wantIDs(t, "Follow(0)", receive(t, ch, len(want)), want)
	if seq, err := l.Find(ctx, "r"); err != nil || seq != stored[0].Seq {
		t.Fatalf("Find(r) = %d, %v; want the earliest copy %d", seq, err, stored[0].Seq)
	}
	wantIDs(t, "Read after Find(r)", readAll(t, l, stored[0].Seq), want[1:])

	newest := stored[len(stored)-1]
	retry := fullUpdate("r")
	variants[len(variants)-1](retry)
	if err := l.Append(ctx, retry); err != nil {
		t.Fatalf("Append(retry): %v", err)
	}
	if retry.Seq != newest.Seq {
		t.Fatalf("retry of the newest copy: Seq %d, want its %d", retry.Seq, newest.Seq)
	}
	wantIDs(t, "Read(0) after the retry", readAll(t, l, 0), want)
}

// testConcurrentRetries: many appends of one ID at once, beside others,
// store it once and all get its Seq.
func testConcurrentRetries(t *testing.T, l hub.Log, _ time.Duration) {
	ctx := ctxFor(t)
	const n = 16
	seqs := make([]uint64, n)
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			u := newUpdate("same")
			if err := l.Append(ctx, u); err != nil {
				errs <- err
				return
			}
			seqs[i] = u.Seq
		})
		wg.Go(func() {
			if err := l.Append(ctx, newUpdate(fmt.Sprintf("other%d", i))); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Append: %v", err)
	}
	for i, s := range seqs {
		if s != seqs[0] {
			t.Fatalf("append %d of the same ID got Seq %d, append 0 got %d", i, s, seqs[0])
		}
	}
	read := readAll(t, l, 0)
	if len(read) != n+1 {
		t.Fatalf("Read(0) yielded %d updates, want %d: %q", len(read), n+1, ids(read))
	}
	copies := 0
	for _, u := range read {
		if u.ID == "same" {
			copies++
			if u.Seq != seqs[0] {
				t.Fatalf("the stored copy has Seq %d, the appends got %d", u.Seq, seqs[0])
			}
		}
	}
	if copies != 1 {
		t.Fatalf("%d copies of the ID stored, want 1", copies)
	}
}

// testAfterWindow: an ID appended again after the window is a new update,
// and Find keeps resolving it to the earliest copy.
func testAfterWindow(t *testing.T, l hub.Log, window time.Duration) {
	ctx := ctxFor(t)
	a1 := appendN(t, l, "a", 1)[0]
	time.Sleep(window + 200*time.Millisecond)
	a2 := newUpdate("a0")
	if err := l.Append(ctx, a2); err != nil {
		t.Fatalf("Append: %v", err)
	}
	if a2.Seq <= a1.Seq {
		t.Fatalf("a0 after the window: Seq %d, want a new update after %d", a2.Seq, a1.Seq)
	}
	wantIDs(t, "Read(0)", readAll(t, l, 0), []string{"a0", "a0"})
	if seq, err := l.Find(ctx, "a0"); err != nil || seq != a1.Seq {
		t.Fatalf("Find(a0) = %d, %v; want the earliest copy %d", seq, err, a1.Seq)
	}
}

// testDuplicatesOff: without a window every append is stored.
func testDuplicatesOff(t *testing.T, l hub.Log, _ time.Duration) {
	ctx := ctxFor(t)
	a1, a2 := newUpdate("a"), newUpdate("a")
	for _, u := range []*hub.Update{a1, a2} {
		if err := l.Append(ctx, u); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	if a2.Seq <= a1.Seq {
		t.Fatalf("second a without a window: Seq %d after %d", a2.Seq, a1.Seq)
	}
	wantIDs(t, "Read(0)", readAll(t, l, 0), []string{"a", "a"})
}

// testFindReused: stored reuses of an ID resolve to its earliest copy,
// also across topics (issue 19, item 8).
func testFindReused(t *testing.T, l hub.Log, _ time.Duration) {
	ctx := ctxFor(t)
	a1, b, a2 := newUpdate("a"), newUpdate("b"), newUpdate("a")
	onB, afterB, onA := newUpdate("x"), newUpdate("b-after"), newUpdate("x")
	onB.Topics, afterB.Topics = []string{"https://example.com/b"}, []string{"https://example.com/b"}
	onA.Topics = []string{"https://example.com/a"}
	for _, u := range []*hub.Update{a1, b, a2, onB, afterB, onA} {
		if err := l.Append(ctx, u); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	if seq, err := l.Find(ctx, "a"); err != nil || seq != a1.Seq {
		t.Fatalf("Find(a) = %d, %v; want the earliest copy %d, nil", seq, err, a1.Seq)
	}
	if seq, err := l.Find(ctx, "x"); err != nil || seq != onB.Seq {
		t.Fatalf("Find(x) = %d, %v; want the copy on topic b %d, not the later one on topic a %d", seq, err, onB.Seq, onA.Seq)
	}
	seq, _ := l.Find(ctx, "x")
	wantIDs(t, "Read after Find(x)", readAll(t, l, seq), []string{"b-after", "x"})
}

// testFindReusedTrimmed checks what Find answers for a stored reuse of an
// ID as retention removes its copies: the first copy while it is kept;
// ErrNotFound once it is gone and later copies are kept (where a
// subscriber holding the ID stands is unknown, and replaying everything
// kept loses nothing); and, once every copy is gone, the first copy of the
// ID appended since.
func testFindReusedTrimmed(t *testing.T, l hub.Log, _ time.Duration) {
	ctx := ctxFor(t)
	a1, b, a2 := newUpdate("a"), newUpdate("b"), newUpdate("a")
	for _, u := range []*hub.Update{a1, b} {
		if err := l.Append(ctx, u); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	if seq, err := l.Find(ctx, "a"); err != nil || seq != a1.Seq {
		t.Fatalf("Find(a) = %d, %v; want %d", seq, err, a1.Seq)
	}
	if err := l.Append(ctx, a2); err != nil { // trims a1
		t.Fatalf("Append: %v", err)
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
