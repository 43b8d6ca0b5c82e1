package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/logtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConformance(t *testing.T) {
	logtest.Run(t, func(t *testing.T) hub.Log {
		l, _ := openTest(t, Options{})
		return l
	})
}

func TestConformanceNoGroupCommit(t *testing.T) {
	logtest.Run(t, func(t *testing.T) hub.Log {
		l, _ := openTest(t, Options{NoGroupCommit: true})
		return l
	})
}

func TestRetentionConformance(t *testing.T) {
	logtest.RunRetention(t, func(t *testing.T, maxLen int, maxAge time.Duration) hub.Log {
		l, _ := openTest(t, Options{MaxLen: maxLen, MaxAge: maxAge})
		return l
	})
}

func TestDuplicatesConformance(t *testing.T) {
	logtest.RunDuplicates(t, func(t *testing.T, maxLen int, window time.Duration) hub.Log {
		l, _ := openTest(t, Options{MaxLen: maxLen, DuplicateWindow: window})
		return l
	})
}

// waitLen waits, at most 10 s, until the background retention has brought
// l down to want updates, and fails with what otherwise.
func waitLen(t *testing.T, l *Log, want int, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := l.Len(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: Len %d, want %d", what, n, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func reopen(t *testing.T, l *Log, path string, opts Options) *Log {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestReplayAcrossRestart(t *testing.T) {
	l, path := openTest(t, Options{})
	appendN(t, l, 10, "id")
	l = reopen(t, l, path, Options{})
	ctx := context.Background()
	seq, err := l.Find(ctx, "id5")
	if err != nil || seq != 6 {
		t.Fatalf("Find after restart = %d, %v; want 6", seq, err)
	}
	got := collect(t, l.Read(ctx, seq))
	if len(got) != 4 || got[0].ID != "id6" || got[3].ID != "id9" {
		t.Fatalf("Read(6) after restart gave %v", seqs(got))
	}
	if last, _ := l.Last(ctx); last != 10 {
		t.Errorf("Last after restart = %d", last)
	}
	u := &hub.Update{ID: "next"}
	if err := l.Append(ctx, u); err != nil || u.Seq != 11 {
		t.Errorf("Append after restart: Seq %d, %v; want 11", u.Seq, err)
	}
	if !u.Time.After(got[3].Time) && !u.Time.Equal(got[3].Time) {
		t.Errorf("Time went backwards across restart")
	}
}

// TestSeqNotReusedAfterTrimmingAll empties the log by age, restarts, and
// checks that numbering continues: a subscriber holding an old Seq must not
// be confused by a new update reusing it.
func TestSeqNotReusedAfterTrimmingAll(t *testing.T) {
	opts := Options{MaxAge: 50 * time.Millisecond}
	l, path := openTest(t, opts)
	appendN(t, l, 5, "id")
	ctx := context.Background()
	waitLen(t, l, 0, "sweep left updates")
	l = reopen(t, l, path, opts)
	if n, _ := l.Len(ctx); n != 0 {
		t.Fatalf("Len after restart = %d", n)
	}
	if _, err := l.Find(ctx, "id0"); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("Find of a trimmed ID after restart: %v", err)
	}
	u := &hub.Update{ID: "id0"}
	if err := l.Append(ctx, u); err != nil || u.Seq != 6 {
		t.Fatalf("Append after trimming all: Seq %d, %v; want 6", u.Seq, err)
	}
	// The index must hold no stale entries for the trimmed IDs.
	l.db.View(func(tx *bbolt.Tx) error {
		if n := tx.Bucket(bucketIDs).Stats().KeyN; n != 1 {
			t.Errorf("ids bucket holds %d keys, want 1", n)
		}
		return nil
	})
}

func TestLowerMaxLenOnReopen(t *testing.T) {
	l, path := openTest(t, Options{})
	bulkLoad(t, l, 3*trimPerTx+7)
	l = reopen(t, l, path, Options{MaxLen: 10})
	ctx := context.Background()
	waitLen(t, l, 10, "backlog not worked off")
	got := collect(t, l.Read(ctx, 0))
	if len(got) != 10 || got[9].Seq != uint64(3*trimPerTx+7) {
		t.Errorf("Read after trimming gave %v", seqs(got))
	}
}

func TestFileSizeBounded(t *testing.T) {
	const maxLen = 1000
	l, path := openTest(t, Options{MaxLen: maxLen})
	data := strings.Repeat("x", 512)
	write := func(n int, prefix string) {
		var wg sync.WaitGroup
		for w := range 32 {
			wg.Go(func() {
				for i := w; i < n; i += 32 {
					if err := l.Append(context.Background(), &hub.Update{ID: fmt.Sprint(prefix, i), Data: data}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	write(3*maxLen, "warm")
	warm := size()
	write(20*maxLen, "more")
	after := size()
	t.Logf("file size after %d appends: %d bytes; after %d more: %d bytes", 3*maxLen, warm, 20*maxLen, after)
	if n, _ := l.Len(context.Background()); n != maxLen {
		t.Errorf("Len = %d, want %d", n, maxLen)
	}
	// bbolt grows the file in steps; with freed pages reused it must not
	// keep growing with the number of appends.
	if after > 2*warm {
		t.Errorf("file grew from %d to %d bytes while holding %d updates", warm, after, maxLen)
	}
}

func TestCorruptRecord(t *testing.T) {
	l, path := openTest(t, Options{MaxLen: 50})
	appendN(t, l, 3, "id")
	err := l.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketUpdates).Put(seqKey(2), []byte{recordV1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 'x'})
	})
	if err != nil {
		t.Fatal(err)
	}
	// Reopen, as after a crash: the log now has only the file to go by,
	// not the updates it committed itself. The check at Open would refuse
	// the file (TestOpenRefusesCorruptFile); skipped, the reads report it.
	l = reopen(t, l, path, Options{MaxLen: 50, SkipCheck: true})
	ctx := context.Background()
	var got []*hub.Update
	var last error
	for u, err := range l.Read(ctx, 0) {
		if err != nil {
			last = err
			continue
		}
		got = append(got, u)
	}
	if len(got) != 1 || got[0].Seq != 1 || !errors.Is(last, ErrCorrupt) {
		t.Errorf("Read over a corrupt record: %v then %v", seqs(got), last)
	}
	if !strings.Contains(fmt.Sprint(last), "update 2") {
		t.Errorf("error %q does not name the record", last)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	last = nil
	for _, err := range l.Follow(fctx, 1) {
		last = err
	}
	if !errors.Is(last, ErrCorrupt) {
		t.Errorf("Follow over a corrupt record ended with %v", last)
	}
	// Reading past it works, and retention removes it without trouble.
	if got := collect(t, l.Read(ctx, 2)); len(got) != 1 || got[0].Seq != 3 {
		t.Errorf("Read(2) gave %v", seqs(got))
	}
	appendN(t, l, 60, "more")
	if got := collect(t, l.Read(ctx, 0)); len(got) != 50 {
		t.Errorf("Read after trimming the corrupt record gave %d updates", len(got))
	}
}

// TestCloseWhileAppending closes the log under a stream of appends: every
// Append returns nil or ErrClosed, none hangs, no goroutine is left, and
// every acknowledged append is in the file after reopening.
func TestCloseWhileAppending(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	l, path := openTest(t, Options{})
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	start := make(chan struct{})
	// Close comes once an append is acknowledged, while the others go on:
	// a fixed 50 ms sleep saw none acknowledged yet 2 times in 200 under
	// load (the first commit had not returned within 50 ms).
	first := make(chan struct{})
	for w := range 64 {
		wg.Go(func() {
			<-start
			for i := 0; ; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				err := l.Append(context.Background(), &hub.Update{ID: id})
				if errors.Is(err, hub.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				acked = append(acked, id)
				if len(acked) == 1 {
					close(first)
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	select {
	case <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("no append acknowledged within 10s")
	}
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung")
	}
	wg.Wait()

	l2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	for _, id := range acked {
		if _, err := l2.Find(context.Background(), id); err != nil {
			t.Fatalf("acknowledged %s lost: %v", id, err)
		}
	}
	t.Logf("%d appends acknowledged before Close", len(acked))
}

func TestAppendCancelledWhileWaiting(t *testing.T) {
	l, _ := openTest(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var cancelled, stored int
	var mu sync.Mutex
	for w := range 32 {
		wg.Go(func() {
			for i := range 20 {
				u := &hub.Update{ID: fmt.Sprintf("w%d-%d", w, i)}
				err := l.Append(ctx, u)
				mu.Lock()
				switch {
				case err == nil:
					stored++
				case errors.Is(err, context.Canceled):
					cancelled++
					if u.Seq != 0 {
						t.Errorf("cancelled Append set Seq %d", u.Seq)
					}
				default:
					t.Errorf("Append: %v", err)
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	cancel()
	wg.Wait()
	n, _ := l.Len(context.Background())
	// A cancelled Append may still have been committed, never the reverse.
	if n < stored || n > stored+cancelled {
		t.Errorf("Len %d outside [%d, %d]", n, stored, stored+cancelled)
	}
}

// bulkLoad writes n small updates straight into the file in large
// transactions, in the format Append uses: a fast way to build a long
// history.
func bulkLoad(t testing.TB, l *Log, n int) {
	t.Helper()
	now := time.Now().UnixNano()
	for done := 0; done < n; {
		err := l.db.Update(func(tx *bbolt.Tx) error {
			ub, ib := tx.Bucket(bucketUpdates), tx.Bucket(bucketIDs)
			for i := 0; i < 20_000 && done < n; i++ {
				seq, _ := ub.NextSequence()
				rec := encodeUpdate(nil, &hub.Update{ID: fmt.Sprint("bulk", seq), Topics: []string{"t"}, Data: strings.Repeat("d", 100)})
				setRecordTime(rec, now)
				k := binary.BigEndian.AppendUint64(nil, seq)
				if err := ub.Put(k, rec); err != nil {
					return err
				}
				if err := ib.Put(fmt.Append(nil, "bulk", seq), k); err != nil {
					return err
				}
				done++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	l.last.Store(uint64(n))
}

// TestReplayTouchesOnlyTail checks that resuming near the end of a long
// history looks at the tail only. 20,000 updates make a scan from the
// start plain (it would look at 19,990 records, not 10); 200,000 took 42 s
// under -race on a loaded machine to say the same.
func TestReplayTouchesOnlyTail(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 20,000-update history")
	}
	const n = 20_000
	l, path := openTest(t, Options{MaxLen: 2 * n})
	bulkLoad(t, l, n)
	l = reopen(t, l, path, Options{MaxLen: 2 * n})
	ctx := context.Background()
	seq, err := l.Find(ctx, fmt.Sprint("bulk", n-10))
	if err != nil || seq != n-10 {
		t.Fatalf("Find = %d, %v", seq, err)
	}
	before := l.visited.Load()
	got := collect(t, l.Read(ctx, seq))
	if len(got) != 10 || got[9].Seq != n {
		t.Fatalf("Read gave %d updates", len(got))
	}
	if v := l.visited.Load() - before; v > 11 {
		t.Errorf("Read of the last 10 looked at %d records", v)
	}
}
