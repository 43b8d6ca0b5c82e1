// Package logtest is the conformance suite for implementations of hub.Log.
//
// A Log implementation calls Run, and RunRetention if it supports retention,
// from one of its tests:
//
//	func TestConformance(t *testing.T) {
//		logtest.Run(t, func(t *testing.T) hub.Log {
//			return openEmptyLog(t)
//		})
//	}
//
// open is called once per subtest and must return a new, empty log that keeps
// at least 2,000 updates and has no age limit. The suite closes the log at the
// end of each subtest (it ignores the error of a second Close); open may
// register further cleanup with t.Cleanup. Subtests run one after another.
//
// A store whose logs can share a connection with a sibling log of the
// same store calls RunSiblings.
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

// wait bounds every blocking step, so a broken log fails the test instead
// of hanging it.
const wait = 10 * time.Second

// Run runs the subtests every hub.Log must pass.
func Run(t *testing.T, open func(t *testing.T) hub.Log) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, l hub.Log)
	}{
		{"AppendSetsSeqAndTime", testAppend},
		{"RoundTrip", testRoundTrip},
		{"Find", testFind},
		{"Read", testRead},
		{"Follow", testFollow},
		{"FollowFromMiddle", testFollowFromMiddle},
		{"ConcurrentAppends", testConcurrent},
		{"Last", testLast},
		{"Close", testClose},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := open(t)
			t.Cleanup(func() { _ = l.Close() })
			tc.fn(t, l)
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	t.Cleanup(cancel)
	return ctx
}

// concurrentLimit bounds the whole of a batch whose steps are bounded by
// progressCtx, so a store that progresses but crawls still ends the test.
const concurrentLimit = 3 * time.Minute

// progressCtx returns a context for a batch of operations and the function
// each completed operation calls. The context is canceled, naming what, when
// progress is not called for wait, or after concurrentLimit in all.
func progressCtx(t *testing.T, what string) (context.Context, func()) {
	ctx, cancelLimit := context.WithTimeoutCause(t.Context(), concurrentLimit,
		fmt.Errorf("%s took longer than %v in all", what, concurrentLimit))
	ctx, cancel := context.WithCancelCause(ctx)
	tick := make(chan struct{}, 1)
	go func() {
		stall := time.NewTimer(wait)
		defer stall.Stop()
		for {
			select {
			case <-tick:
				stall.Reset(wait)
			case <-stall.C:
				cancel(fmt.Errorf("%s: none completed for %v", what, wait))
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel(nil)
		cancelLimit()
	})
	return ctx, func() {
		select {
		case tick <- struct{}{}:
		default: // a tick is pending already
		}
	}
}

func newUpdate(id string) *hub.Update {
	return &hub.Update{ID: id, Topics: []string{"https://example.com/t"}, Data: "data " + id}
}

// appendN appends n updates with IDs prefix0…prefix(n-1) and returns them.
func appendN(t *testing.T, l hub.Log, prefix string, n int) []*hub.Update {
	t.Helper()
	ctx := ctxFor(t)
	ups := make([]*hub.Update, n)
	for i := range ups {
		ups[i] = newUpdate(fmt.Sprintf("%s%d", prefix, i))
		if err := l.Append(ctx, ups[i]); err != nil {
			t.Fatalf("Append(%s): %v", ups[i].ID, err)
		}
	}
	return ups
}

// readAll collects Read(after), failing the test on a yielded error.
func readAll(t *testing.T, l hub.Log, after uint64) []*hub.Update {
	t.Helper()
	var got []*hub.Update
	for u, err := range l.Read(ctxFor(t), after) {
		if err != nil {
			t.Fatalf("Read(%d): %v", after, err)
		}
		got = append(got, u)
	}
	return got
}

// ids lists the IDs of ups, for comparisons that print well.
func ids(ups []*hub.Update) []string {
	out := make([]string, len(ups))
	for i, u := range ups {
		out[i] = u.ID
	}
	return out
}

func wantIDs(t *testing.T, what string, got []*hub.Update, want []string) {
	t.Helper()
	if g := ids(got); !slices.Equal(g, want) {
		t.Fatalf("%s: got IDs %q, want %q", what, g, want)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Seq <= got[i-1].Seq {
			t.Fatalf("%s: Seq %d follows %d: not increasing", what, got[i].Seq, got[i-1].Seq)
		}
	}
}

func testAppend(t *testing.T, l hub.Log) {
	ups := appendN(t, l, "a", 5)
	for i, u := range ups {
		if u.Seq == 0 {
			t.Fatalf("update %d: Seq is 0", i)
		}
		if u.Time.IsZero() {
			t.Fatalf("update %d: Time not set", i)
		}
		if i > 0 && u.Seq <= ups[i-1].Seq {
			t.Fatalf("update %d: Seq %d not greater than previous %d", i, u.Seq, ups[i-1].Seq)
		}
		if i > 0 && u.Time.Before(ups[i-1].Time) {
			t.Fatalf("update %d: Time %v before previous %v", i, u.Time, ups[i-1].Time)
		}
	}
}

func testRoundTrip(t *testing.T, l hub.Log) {
	in := &hub.Update{
		ID:      "urn:uuid:0190f6e0-0000-7000-8000-000000000001",
		Topics:  []string{"https://example.com/books/1", "https://example.com/books/{id}", "urn:x"},
		Type:    "book-updated",
		Data:    "line one\nline two\r\n{\"json\": \"é ✓\"}",
		Retry:   2500 * time.Millisecond,
		Private: true,
	}
	if err := l.Append(ctxFor(t), in); err != nil {
		t.Fatalf("Append: %v", err)
	}
	got := readAll(t, l, 0)
	if len(got) != 1 {
		t.Fatalf("Read(0) yielded %d updates, want 1", len(got))
	}
	u := got[0]
	if u.ID != in.ID || !slices.Equal(u.Topics, in.Topics) || u.Type != in.Type ||
		u.Data != in.Data || u.Retry != in.Retry || u.Private != in.Private || u.Seq != in.Seq {
		t.Fatalf("Read(0) = %+v, want %+v", *u, *in)
	}
	if u.Time.IsZero() {
		t.Fatal("Read: Time not set")
	}
}

// testFind: a reused ID resolves to its earliest copy (issue 19, item 8),
// also when the copies are on other topics: a publisher allowed on topic a
// who republishes topic b's ID must not make b's subscribers resuming from
// it skip b's later updates. Within the duplicate window an identical
// reuse (a) is a retry, answered with the first copy's Seq, while one with
// other content (x on topic a) is stored (see hub.Log's Append);
// RunDuplicates checks more reuses.
func testFind(t *testing.T, l hub.Log) {
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
	if a2.Seq != a1.Seq || onA.Seq <= afterB.Seq {
		t.Fatalf("reused IDs within the duplicate window: a %d then %d, want the retry answered with the first; x on b %d, on a %d, want a new update after %d", a1.Seq, a2.Seq, onB.Seq, onA.Seq, afterB.Seq)
	}
	if seq, err := l.Find(ctx, "b"); err != nil || seq != b.Seq {
		t.Fatalf("Find(b) = %d, %v; want %d, nil", seq, err, b.Seq)
	}
	if seq, err := l.Find(ctx, "a"); err != nil || seq != a1.Seq {
		t.Fatalf("Find(a) = %d, %v; want the earliest copy %d, nil", seq, err, a1.Seq)
	}
	if seq, err := l.Find(ctx, "x"); err != nil || seq != onB.Seq {
		t.Fatalf("Find(x) = %d, %v; want the copy on topic b %d, nil", seq, err, onB.Seq)
	}
	wantIDs(t, "Read(0)", readAll(t, l, 0), []string{"a", "b", "x", "b-after", "x"})
	if seq, err := l.Find(ctx, "unknown"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("Find(unknown) = %d, %v; want an error wrapping ErrNotFound", seq, err)
	}
}

func testRead(t *testing.T, l hub.Log) {
	if got := readAll(t, l, 0); len(got) != 0 {
		t.Fatalf("Read(0) on an empty log yielded %q", ids(got))
	}
	ups := appendN(t, l, "r", 5)
	wantIDs(t, "Read(0)", readAll(t, l, 0), []string{"r0", "r1", "r2", "r3", "r4"})
	wantIDs(t, "Read(after r2)", readAll(t, l, ups[2].Seq), []string{"r3", "r4"})
	wantIDs(t, "Read(after last)", readAll(t, l, ups[4].Seq), []string{})

	// Stopping early must be allowed and must not disturb later reads.
	for range l.Read(ctxFor(t), 0) {
		break
	}
	wantIDs(t, "Read(0) after an early break", readAll(t, l, 0), []string{"r0", "r1", "r2", "r3", "r4"})
}

// follow runs l.Follow(ctx, after) in a goroutine and sends what it yields
// on the returned channel, which is closed when the iterator ends.
func follow(ctx context.Context, l hub.Log, after uint64) <-chan result {
	ch := make(chan result, 4096)
	go func() {
		defer close(ch)
		for u, err := range l.Follow(ctx, after) {
			ch <- result{u, err}
		}
	}()
	return ch
}

type result struct {
	u   *hub.Update
	err error
}

// receive takes n updates from ch.
func receive(t *testing.T, ch <-chan result, n int) []*hub.Update {
	t.Helper()
	// The bound is on progress, not on the whole batch: a follower that
	// delivers thousands of updates on a loaded machine may take longer than
	// wait in total, while one that hangs delivers nothing for wait.
	stall := time.NewTimer(wait)
	defer stall.Stop()
	var got []*hub.Update
	for len(got) < n {
		select {
		case r, ok := <-ch:
			if !ok {
				t.Fatalf("Follow ended after %d of %d updates", len(got), n)
			}
			if r.err != nil {
				t.Fatalf("Follow yielded error after %d updates: %v", len(got), r.err)
			}
			got = append(got, r.u)
			stall.Reset(wait)
		case <-stall.C:
			t.Fatalf("Follow: received %d of %d updates, then none for %v", len(got), n, wait)
		}
	}
	return got
}

// ends waits for ch to be closed and returns the last error it carried.
func ends(t *testing.T, ch <-chan result) error {
	t.Helper()
	timeout := time.After(wait)
	var last error
	for {
		select {
		case r, ok := <-ch:
			if !ok {
				return last
			}
			if r.err == nil {
				t.Fatalf("Follow yielded %s while it should end", r.u.ID)
			}
			last = r.err
		case <-timeout:
			t.Fatalf("Follow did not end within %v", wait)
		}
	}
}

func testFollow(t *testing.T, l hub.Log) {
	appendN(t, l, "old", 3)
	ctx, cancel := context.WithCancel(ctxFor(t))
	defer cancel()
	ch := follow(ctx, l, 0)
	wantIDs(t, "Follow(0), existing", receive(t, ch, 3), []string{"old0", "old1", "old2"})

	// Appends after a pause: the follower must be waiting, not polling a
	// stale snapshot.
	time.Sleep(20 * time.Millisecond)
	appendN(t, l, "new", 2)
	wantIDs(t, "Follow(0), new", receive(t, ch, 2), []string{"new0", "new1"})
	appendN(t, l, "more", 1)
	wantIDs(t, "Follow(0), more", receive(t, ch, 1), []string{"more0"})

	cancel()
	if err := ends(t, ch); err != nil {
		t.Fatalf("Follow ended with %v after ctx was canceled, want no error", err)
	}
}

func testFollowFromMiddle(t *testing.T, l hub.Log) {
	ups := appendN(t, l, "m", 4)
	ctx, cancel := context.WithCancel(ctxFor(t))
	defer cancel()
	ch := follow(ctx, l, ups[1].Seq)
	wantIDs(t, "Follow(after m1)", receive(t, ch, 2), []string{"m2", "m3"})
	appendN(t, l, "n", 1)
	wantIDs(t, "Follow(after m1), new", receive(t, ch, 1), []string{"n0"})

	// Following from the end yields only what is appended later.
	ch2 := follow(ctx, l, ups[3].Seq)
	wantIDs(t, "Follow(after m3)", receive(t, ch2, 1), []string{"n0"})
	cancel()
	ends(t, ch)
	ends(t, ch2)
}

func testConcurrent(t *testing.T, l hub.Log) {
	const writers, each = 8, 200
	// The follower is bounded by receive, which fails once nothing arrives
	// for wait; cancel ends it.
	followCtx, cancelFollow := context.WithCancel(t.Context())
	defer cancelFollow()
	ch := follow(followCtx, l, 0)

	// This subtest checks order and uniqueness, not throughput (benchmarks
	// do). A store that syncs every Append on its own (bolt with
	// NoGroupCommit) spends seconds on 1,600 of them when idle and many
	// times that on a loaded machine, so the appends are bounded by
	// progress: the test fails when no Append completes for wait, and when
	// all of them take longer than concurrentLimit.
	ctx, progress := progressCtx(t, "concurrent Append")
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := l.Append(ctx, newUpdate(fmt.Sprintf("w%d-%d", w, i))); err != nil {
					errs <- err
					return
				}
				progress()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Append: %v (%v)", err, context.Cause(ctx))
	}

	read := readAll(t, l, 0)
	if len(read) != writers*each {
		t.Fatalf("Read(0) yielded %d updates, want %d", len(read), writers*each)
	}
	seen := make(map[string]bool, len(read))
	next := make([]int, writers) // per writer, the next index expected
	for i, u := range read {
		if seen[u.ID] {
			t.Fatalf("update %s read twice", u.ID)
		}
		seen[u.ID] = true
		if i > 0 && u.Seq <= read[i-1].Seq {
			t.Fatalf("Read: Seq %d follows %d", u.Seq, read[i-1].Seq)
		}
		// One writer's appends are sequential, so they keep their order.
		var w, n int
		if _, err := fmt.Sscanf(u.ID, "w%d-%d", &w, &n); err != nil {
			t.Fatalf("unexpected ID %q", u.ID)
		}
		if n != next[w] {
			t.Fatalf("writer %d: read update %d, want %d", w, n, next[w])
		}
		next[w]++
	}

	followed := receive(t, ch, writers*each)
	wantIDs(t, "Follow(0) vs Read(0)", followed, ids(read))
	for i := range read {
		if followed[i].Seq != read[i].Seq {
			t.Fatalf("update %s: Follow Seq %d, Read Seq %d", read[i].ID, followed[i].Seq, read[i].Seq)
		}
	}
}

func testLast(t *testing.T, l hub.Log) {
	ctx := ctxFor(t)
	if seq, err := l.Last(ctx); err != nil || seq != 0 {
		t.Fatalf("Last on an empty log = %d, %v; want 0, nil", seq, err)
	}
	ups := appendN(t, l, "l", 3)
	if seq, err := l.Last(ctx); err != nil || seq != ups[2].Seq {
		t.Fatalf("Last = %d, %v; want %d, nil", seq, err, ups[2].Seq)
	}
}

func testClose(t *testing.T, l hub.Log) {
	appendN(t, l, "c", 2)
	ctx, cancel := context.WithCancel(ctxFor(t))
	defer cancel()
	ch := follow(ctx, l, 0)
	receive(t, ch, 2)

	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := ends(t, ch); err != nil && !errors.Is(err, hub.ErrClosed) {
		t.Fatalf("Follow running at Close ended with %v, want nil or ErrClosed", err)
	}

	if err := l.Append(ctx, newUpdate("after")); !errors.Is(err, hub.ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
	if _, err := l.Find(ctx, "c0"); !errors.Is(err, hub.ErrClosed) {
		t.Fatalf("Find after Close = %v, want ErrClosed", err)
	}
	if _, err := l.Last(ctx); !errors.Is(err, hub.ErrClosed) {
		t.Fatalf("Last after Close = %v, want ErrClosed", err)
	}
	if err := lastErr(l.Read(ctx, 0)); !errors.Is(err, hub.ErrClosed) {
		t.Fatalf("Read after Close ended with %v, want ErrClosed", err)
	}
	if err := ends(t, follow(ctx, l, 0)); !errors.Is(err, hub.ErrClosed) {
		t.Fatalf("Follow after Close ended with %v, want ErrClosed", err)
	}
}

// lastErr drains seq and returns the error it ended with.
func lastErr(seq func(func(*hub.Update, error) bool)) error {
	var last error
	for _, err := range seq {
		if err != nil {
			last = err
		}
	}
	return last
}
