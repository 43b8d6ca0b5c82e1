package bolt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

func openTest(t testing.TB, opts Options) (*Log, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hub.db")
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, path
}

func appendN(t testing.TB, l *Log, n int, prefix string) []*hub.Update {
	t.Helper()
	out := make([]*hub.Update, n)
	for i := range out {
		u := &hub.Update{ID: fmt.Sprintf("%s%d", prefix, i), Topics: []string{"t"}, Data: fmt.Sprint(i)}
		if err := l.Append(context.Background(), u); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		out[i] = u
	}
	return out
}

func collect(t testing.TB, seq func(func(*hub.Update, error) bool)) []*hub.Update {
	t.Helper()
	var out []*hub.Update
	for u, err := range seq {
		if err != nil {
			t.Fatalf("iteration failed after %d updates: %v", len(out), err)
		}
		out = append(out, u)
	}
	return out
}

func seqs(us []*hub.Update) []uint64 {
	out := make([]uint64, len(us))
	for i, u := range us {
		out[i] = u.Seq
	}
	return out
}

func TestAppendSetsSeqAndTime(t *testing.T) {
	l, _ := openTest(t, Options{})
	before := time.Now()
	us := appendN(t, l, 5, "id")
	for i, u := range us {
		if u.Seq != uint64(i+1) {
			t.Errorf("update %d: Seq = %d, want %d", i, u.Seq, i+1)
		}
		if u.Time.Before(before.Truncate(time.Microsecond)) || u.Time.After(time.Now()) {
			t.Errorf("update %d: Time %v not within the append", i, u.Time)
		}
		if i > 0 && u.Time.Before(us[i-1].Time) {
			t.Errorf("update %d: Time went backwards", i)
		}
	}
	if last, err := l.Last(context.Background()); err != nil || last != 5 {
		t.Errorf("Last = %d, %v; want 5", last, err)
	}
	if n, err := l.Len(context.Background()); err != nil || n != 5 {
		t.Errorf("Len = %d, %v; want 5", n, err)
	}
}

func TestAppendRejectsBadInput(t *testing.T) {
	l, _ := openTest(t, Options{})
	ctx := context.Background()
	if err := l.Append(ctx, &hub.Update{Topics: []string{"t"}}); err == nil {
		t.Error("empty ID accepted")
	}
	if err := l.Append(ctx, &hub.Update{ID: string(make([]byte, 40000))}); err == nil {
		t.Error("oversized ID accepted")
	}
	if err := l.Append(ctx, nil); err == nil {
		t.Error("nil update accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.Append(cctx, &hub.Update{ID: "x"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with cancelled ctx = %v", err)
	}
	if n, _ := l.Len(ctx); n != 0 {
		t.Errorf("Len = %d after rejected appends", n)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "x.db"), Options{MaxLen: -1}); err == nil {
		t.Error("negative MaxLen accepted")
	}
}

func TestRoundTripFields(t *testing.T) {
	l, _ := openTest(t, Options{})
	in := &hub.Update{ID: "urn:1", Topics: []string{"a", "b"}, Type: "ev", Data: "x\ny", Retry: 1500 * time.Millisecond, Private: true}
	if err := l.Append(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	got := collect(t, l.Read(context.Background(), 0))
	if len(got) != 1 {
		t.Fatalf("read %d updates", len(got))
	}
	g := got[0]
	if g.ID != in.ID || g.Type != in.Type || g.Data != in.Data || g.Retry != in.Retry || !g.Private ||
		len(g.Topics) != 2 || g.Topics[1] != "b" || g.Seq != in.Seq || !g.Time.Equal(in.Time) {
		t.Errorf("read %+v, appended %+v", g, in)
	}
}

func TestFind(t *testing.T) {
	l, _ := openTest(t, Options{})
	ctx := context.Background()
	appendN(t, l, 3, "id")
	dup := &hub.Update{ID: "id1", Topics: []string{"t"}}
	if err := l.Append(ctx, dup); err != nil {
		t.Fatal(err)
	}
	if seq, err := l.Find(ctx, "id1"); err != nil || seq != 2 {
		t.Errorf("Find(id1) = %d, %v; want the earliest copy 2, not %d", seq, err, dup.Seq)
	}
	if seq, err := l.Find(ctx, "id2"); err != nil || seq != 3 {
		t.Errorf("Find(id2) = %d, %v; want 3", seq, err)
	}
	for _, id := range []string{"nope", ""} {
		if _, err := l.Find(ctx, id); !errors.Is(err, hub.ErrNotFound) {
			t.Errorf("Find(%q) err = %v, want ErrNotFound", id, err)
		}
	}
}

func TestRead(t *testing.T) {
	l, _ := openTest(t, Options{})
	ctx := context.Background()
	appendN(t, l, 2*readChunk+10, "id")
	all := collect(t, l.Read(ctx, 0))
	if len(all) != 2*readChunk+10 {
		t.Fatalf("Read(0) gave %d updates", len(all))
	}
	for i, u := range all {
		if u.Seq != uint64(i+1) || u.ID != fmt.Sprintf("id%d", i) {
			t.Fatalf("update %d: Seq %d ID %q", i, u.Seq, u.ID)
		}
	}
	tail := collect(t, l.Read(ctx, 500))
	if len(tail) != len(all)-500 || tail[0].Seq != 501 {
		t.Errorf("Read(500) gave %d updates from %v", len(tail), seqs(tail[:1]))
	}
	if got := collect(t, l.Read(ctx, 10_000)); len(got) != 0 {
		t.Errorf("Read past the end gave %d", len(got))
	}
	// Stopping early must not leak a transaction: Close would block on it.
	for range l.Read(ctx, 0) {
		break
	}
	// Read stops at the end as of the call even if appends continue.
	it := l.Read(ctx, 0)
	appendN(t, l, 5, "more")
	if got := collect(t, it); len(got) != len(all) {
		t.Errorf("Read saw %d updates, want the %d present at call time", len(got), len(all))
	}
}

func TestFollow(t *testing.T) {
	l, _ := openTest(t, Options{})
	appendN(t, l, 3, "old")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan *hub.Update)
	errc := make(chan error, 1)
	go func() {
		for u, err := range l.Follow(ctx, 1) {
			if err != nil {
				errc <- err
				return
			}
			got <- u
		}
		errc <- nil
	}()
	want := []uint64{2, 3}
	for _, w := range want {
		if u := <-got; u.Seq != w {
			t.Fatalf("got Seq %d, want %d", u.Seq, w)
		}
	}
	for i := range 3 {
		u := &hub.Update{ID: fmt.Sprint("new", i)}
		if err := l.Append(ctx, u); err != nil {
			t.Fatal(err)
		}
		if g := <-got; g.Seq != u.Seq || g.ID != u.ID {
			t.Fatalf("followed %d %q, appended %d %q", g.Seq, g.ID, u.Seq, u.ID)
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Follow ended with %v after ctx done, want nil", err)
	}
}

func TestFollowEndsOnClose(t *testing.T) {
	l, _ := openTest(t, Options{})
	errc := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		var last error
		for _, err := range l.Follow(context.Background(), 0) {
			last = err
		}
		errc <- last
	}()
	<-started
	time.Sleep(10 * time.Millisecond)
	l.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, hub.ErrClosed) {
			t.Errorf("Follow ended with %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not end on Close")
	}
}

func TestClosed(t *testing.T) {
	l, _ := openTest(t, Options{})
	appendN(t, l, 1, "a")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := l.Append(ctx, &hub.Update{ID: "b"}); !errors.Is(err, hub.ErrClosed) {
		t.Errorf("Append: %v", err)
	}
	if _, err := l.Find(ctx, "a0"); !errors.Is(err, hub.ErrClosed) {
		t.Errorf("Find: %v", err)
	}
	if _, err := l.Last(ctx); !errors.Is(err, hub.ErrClosed) {
		t.Errorf("Last: %v", err)
	}
	if _, err := l.Len(ctx); !errors.Is(err, hub.ErrClosed) {
		t.Errorf("Len: %v", err)
	}
	for _, err := range l.Read(ctx, 0) {
		if !errors.Is(err, hub.ErrClosed) {
			t.Errorf("Read: %v", err)
		}
	}
	for _, err := range l.Follow(ctx, 0) {
		if !errors.Is(err, hub.ErrClosed) {
			t.Errorf("Follow: %v", err)
		}
	}
	if err := l.Close(); !errors.Is(err, hub.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}

func TestConcurrentAppendReadFollow(t *testing.T) {
	l, _ := openTest(t, Options{MaxLen: 500})
	const writers, each = 16, 100
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	followed := make(chan []uint64, 2)
	for range 2 {
		go func() {
			var got []uint64
			for u, err := range l.Follow(ctx, 0) {
				if err != nil {
					break
				}
				got = append(got, u.Seq)
				if u.Seq == writers*each {
					break
				}
			}
			followed <- got
		}()
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := l.Append(ctx, &hub.Update{ID: fmt.Sprintf("w%d-%d", w, i)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for ctx.Err() == nil {
			var prev uint64
			for u, err := range l.Read(ctx, 0) {
				if err != nil {
					t.Error(err)
					return
				}
				if u.Seq <= prev {
					t.Errorf("Read went from %d to %d", prev, u.Seq)
				}
				prev = u.Seq
			}
			if prev == writers*each {
				return
			}
		}
	})
	wg.Wait()
	for range 2 {
		got := <-followed
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] {
				t.Fatalf("Follow went from %d to %d", got[i-1], got[i])
			}
		}
		if len(got) == 0 || got[len(got)-1] != writers*each {
			t.Errorf("Follow did not reach the last update: %d updates", len(got))
		}
	}
	if n, _ := l.Len(context.Background()); n != 500 {
		t.Errorf("Len = %d, want MaxLen 500", n)
	}
}

func TestGroupCommitBatches(t *testing.T) {
	l, _ := openTest(t, Options{})
	const writers, each = 32, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := l.Append(context.Background(), &hub.Update{ID: fmt.Sprintf("w%d-%d", w, i)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	commits, appends := l.commits.Load(), l.appends.Load()
	t.Logf("%d appends in %d commits", appends, commits)
	if appends != writers*each {
		t.Fatalf("appends = %d", appends)
	}
	// With 32 writers blocked on each fsync, batches are far larger than
	// one; a quarter as many commits as appends is a loose bound.
	if commits*4 > appends {
		t.Errorf("%d commits for %d appends: not batching", commits, appends)
	}

	base, _ := openTest(t, Options{NoGroupCommit: true})
	var wg2 sync.WaitGroup
	for w := range 8 {
		wg2.Go(func() {
			for i := range 5 {
				if err := base.Append(context.Background(), &hub.Update{ID: fmt.Sprintf("w%d-%d", w, i)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg2.Wait()
	if c, a := base.commits.Load(), base.appends.Load(); c != a || a != 40 {
		t.Errorf("NoGroupCommit: %d commits for %d appends, want one each", c, a)
	}
}
