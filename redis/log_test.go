package redis_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/logtest"
	"github.com/ssehub/ssehub/redis"
	"github.com/ssehub/ssehub/redis/redistest"
)

// prefixes hands out a fresh key prefix per log, so the subtests of one
// test share a server without seeing each other's updates.
var prefixes atomic.Int64

func newPrefix(t testing.TB) string {
	return fmt.Sprintf("test%d", prefixes.Add(1))
}

func openLog(t testing.TB, srv *redistest.Server, opts redis.Options) *redis.Log {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = newPrefix(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := redis.Open(ctx, srv.URL(), opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", srv.URL(), err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestConformance(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	logtest.Run(t, func(t *testing.T) hub.Log {
		return openLog(t, srv, redis.Options{})
	})
}

func TestRetention(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	logtest.RunRetention(t, func(t *testing.T, maxLen int, maxAge time.Duration) hub.Log {
		return openLog(t, srv, redis.Options{MaxLen: maxLen, MaxAge: maxAge})
	})
}

func TestDuplicates(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	logtest.RunDuplicates(t, func(t *testing.T, maxLen int, window time.Duration) hub.Log {
		return openLog(t, srv, redis.Options{MaxLen: maxLen, DuplicateWindow: window})
	})
}

func TestOpenBadOptions(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		url   string
		opts  redis.Options
		field string
	}{
		{"redis://127.0.0.1:1/0", redis.Options{MaxLen: -1}, "MaxLen"},
		{"redis://127.0.0.1:1/0", redis.Options{MaxAge: -time.Second}, "MaxAge"},
		{"redis://127.0.0.1:1/0", redis.Options{MaxAge: time.Nanosecond}, "MaxAge"},
		{"redis://127.0.0.1:1/0", redis.Options{Prefix: "a{b}"}, "Prefix"},
		{"http://127.0.0.1:1/0", redis.Options{}, "URL"},
		{"redis://127.0.0.1:1/notadb", redis.Options{}, "URL"},
	} {
		l, err := redis.Open(ctx, tc.url, tc.opts)
		if err == nil {
			l.Close()
			t.Fatalf("Open(%q, %+v) succeeded", tc.url, tc.opts)
		}
		if !containsWord(err.Error(), tc.field) {
			t.Errorf("Open(%q, %+v) = %v; want it to name %s", tc.url, tc.opts, err, tc.field)
		}
	}
}

func containsWord(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i:i+len(w)] == w {
			return true
		}
	}
	return false
}

func TestOpenUnreachable(t *testing.T) {
	// Port 1 on loopback refuses at once.
	_, err := redis.Open(t.Context(), "redis://127.0.0.1:1/0", redis.Options{})
	if !errors.Is(err, redis.ErrUnavailable) {
		t.Fatalf("Open of a closed port = %v, want ErrUnavailable", err)
	}
}

// TestTwoNodes checks that two Logs on one stream agree on everything.
func TestTwoNodes(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := newPrefix(t)
	a := openLog(t, srv, redis.Options{Prefix: prefix})
	b := openLog(t, srv, redis.Options{Prefix: prefix})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	fa, fb := collect(ctx, a, 0), collect(ctx, b, 0)
	var appended []*hub.Update
	for i := range 200 {
		u := &hub.Update{ID: fmt.Sprintf("u%d", i), Topics: []string{"t"}, Data: "x"}
		node := a
		if i%3 == 0 {
			node = b
		}
		if err := node.Append(ctx, u); err != nil {
			t.Fatalf("Append: %v", err)
		}
		appended = append(appended, u)
	}
	for i, u := range appended {
		if i > 0 && u.Seq != appended[i-1].Seq+1 {
			t.Fatalf("update %d: Seq %d after %d: not dense across nodes", i, u.Seq, appended[i-1].Seq)
		}
		for name, l := range map[string]*redis.Log{"A": a, "B": b} {
			seq, err := l.Find(ctx, u.ID)
			if err != nil || seq != u.Seq {
				t.Fatalf("node %s: Find(%s) = %d, %v; want %d", name, u.ID, seq, err, u.Seq)
			}
		}
	}
	ga, gb := fa.take(t, len(appended)), fb.take(t, len(appended))
	for i, u := range appended {
		if ga[i].ID != u.ID || ga[i].Seq != u.Seq || gb[i].ID != u.ID || gb[i].Seq != u.Seq {
			t.Fatalf("update %d: appended %s/%d, node A followed %s/%d, node B %s/%d",
				i, u.ID, u.Seq, ga[i].ID, ga[i].Seq, gb[i].ID, gb[i].Seq)
		}
		if !ga[i].Time.Equal(u.Time) || !gb[i].Time.Equal(u.Time) {
			t.Fatalf("update %d: Time %v appended, %v / %v followed", i, u.Time, ga[i].Time, gb[i].Time)
		}
	}
	// Resume on B right after an update appended on A.
	mid := appended[100]
	seq, err := b.Find(ctx, mid.ID)
	if err != nil {
		t.Fatal(err)
	}
	var rest []string
	for u, err := range b.Read(ctx, seq) {
		if err != nil {
			t.Fatal(err)
		}
		rest = append(rest, u.ID)
	}
	if len(rest) != 99 || rest[0] != "u101" || rest[98] != "u199" {
		t.Fatalf("Read on B after %s: %d updates from %v", mid.ID, len(rest), rest[:min(3, len(rest))])
	}
	for name, l := range map[string]*redis.Log{"A": a, "B": b} {
		n, err := l.Len(ctx)
		if err != nil || n != 200 {
			t.Fatalf("node %s: Len = %d, %v; want 200", name, n, err)
		}
	}
}

// follower collects what one Follow yields.
type follower struct {
	ch chan followed
}

type followed struct {
	u   *hub.Update
	err error
}

func collect(ctx context.Context, l hub.Log, after uint64) *follower {
	f := &follower{ch: make(chan followed, 1<<14)}
	go func() {
		defer close(f.ch)
		for u, err := range l.Follow(ctx, after) {
			f.ch <- followed{u, err}
		}
	}()
	return f
}

// take returns the next n updates, failing on an error or a timeout.
func (f *follower) take(t testing.TB, n int) []*hub.Update {
	t.Helper()
	timeout := time.After(15 * time.Second)
	var got []*hub.Update
	for len(got) < n {
		select {
		case r, ok := <-f.ch:
			if !ok {
				t.Fatalf("Follow ended after %d of %d updates", len(got), n)
			}
			if r.err != nil {
				t.Fatalf("Follow failed after %d of %d updates: %v", len(got), n, r.err)
			}
			got = append(got, r.u)
		case <-timeout:
			t.Fatalf("Follow yielded %d of %d updates in time", len(got), n)
		}
	}
	return got
}

// TestCorruptEntry checks that an entry added to the stream by hand is
// reported, not yielded or panicked on.
func TestCorruptEntry(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := newPrefix(t)
	l := openLog(t, srv, redis.Options{Prefix: prefix})
	ctx := t.Context()
	if err := l.Append(ctx, &hub.Update{ID: "ok", Topics: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer c.Close()
	if err := c.XAdd(ctx, &goredis.XAddArgs{Stream: "{" + prefix + "}:updates", ID: "2-0", Values: []any{"t", "soon"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.HIncrBy(ctx, "{"+prefix+"}:head", "seq", 1).Err(); err != nil {
		t.Fatal(err)
	}
	var last error
	n := 0
	for _, err := range l.Read(ctx, 0) {
		if err != nil {
			last = err
		} else {
			n++
		}
	}
	if n != 1 || !errors.Is(last, redis.ErrCorrupt) {
		t.Fatalf("Read yielded %d updates and then %v; want 1 and ErrCorrupt", n, last)
	}
}

// TestTimeNeverGoesBack stands in for a server clock stepped back: the
// last append time is moved an hour ahead, and the next append must not be
// stamped before it.
func TestTimeNeverGoesBack(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := newPrefix(t)
	l := openLog(t, srv, redis.Options{Prefix: prefix})
	ctx := t.Context()
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer c.Close()
	ahead := time.Now().Add(time.Hour).UnixMicro()
	if err := c.HSet(ctx, "{"+prefix+"}:head", "time", ahead).Err(); err != nil {
		t.Fatal(err)
	}
	u := &hub.Update{ID: "a", Topics: []string{"t"}}
	if err := l.Append(ctx, u); err != nil {
		t.Fatal(err)
	}
	if u.Time.UnixMicro() != ahead {
		t.Fatalf("Append after a later append time: Time %v, want %v", u.Time, time.UnixMicro(ahead))
	}
}

// TestFollowCancelUnblocks checks that cancelling a Follow blocked in XREAD
// ends it by closing its connection, not when the 5 s block runs out.
func TestFollowCancelUnblocks(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	l := openLog(t, srv, redis.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	f := collect(ctx, l, 0)
	if err := l.Append(t.Context(), &hub.Update{ID: "a", Topics: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	f.take(t, 1) // Follow is now blocked in XREAD
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case r, ok := <-f.ch:
		if ok {
			t.Fatalf("Follow yielded %+v after cancel", r)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Follow still running 2 s after cancel: the blocked XREAD was not interrupted")
	}
}

// TestRetentionFreesRedis checks what retention leaves in Redis itself:
// the stream and the ID index shrink together, by length on append and by
// age in the idle sweep, without any reader.
func TestRetentionFreesRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := t.Context()
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer c.Close()
	sizes := func(prefix string) (int64, int64) {
		t.Helper()
		xlen, err := c.XLen(ctx, "{"+prefix+"}:updates").Result()
		if err != nil {
			t.Fatal(err)
		}
		hlen, err := c.HLen(ctx, "{"+prefix+"}:ids").Result()
		if err != nil {
			t.Fatal(err)
		}
		return xlen, hlen
	}

	t.Run("MaxLen", func(t *testing.T) {
		prefix := newPrefix(t)
		l := openLog(t, srv, redis.Options{Prefix: prefix, MaxLen: 5})
		appendAll(t, l, "u", 100)
		if xlen, hlen := sizes(prefix); xlen != 5 || hlen != 5 {
			t.Fatalf("after 100 appends with MaxLen 5: XLEN %d, HLEN %d; want 5, 5", xlen, hlen)
		}
	})
	t.Run("ForeignEntry", func(t *testing.T) {
		// An entry whose ID is not <seq>-0, added by hand, must not stop
		// trimming.
		prefix := newPrefix(t)
		l := openLog(t, srv, redis.Options{Prefix: prefix, MaxLen: 2})
		if err := c.XAdd(ctx, &goredis.XAddArgs{Stream: "{" + prefix + "}:updates", ID: "1-5", Values: []any{"x", "y"}}).Err(); err != nil {
			t.Fatal(err)
		}
		if err := c.HSet(ctx, "{"+prefix+"}:head", "seq", 1).Err(); err != nil {
			t.Fatal(err)
		}
		appendAll(t, l, "u", 5)
		if xlen, hlen := sizes(prefix); xlen != 2 || hlen != 2 {
			t.Fatalf("XLEN %d, HLEN %d; want 2, 2", xlen, hlen)
		}
	})
	t.Run("MaxAgeIdle", func(t *testing.T) {
		prefix := newPrefix(t)
		l := openLog(t, srv, redis.Options{Prefix: prefix, MaxAge: 200 * time.Millisecond})
		appendAll(t, l, "u", 10)
		deadline := time.Now().Add(10 * time.Second)
		for {
			xlen, hlen := sizes(prefix)
			if xlen == 0 && hlen == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("idle log with MaxAge 200ms still holds XLEN %d, HLEN %d after 10 s", xlen, hlen)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if seq, err := l.Last(ctx); err != nil || seq != 10 {
			t.Fatalf("Last after everything aged out = %d, %v; want 10", seq, err)
		}
	})
}

// TestFindStaleIndex checks that an index entry whose update is gone from
// the stream (removed by hand here) answers ErrNotFound and is dropped.
func TestFindStaleIndex(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := newPrefix(t)
	l := openLog(t, srv, redis.Options{Prefix: prefix})
	ctx := t.Context()
	ups := appendAll(t, l, "u", 3)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer c.Close()
	if err := c.XDel(ctx, "{"+prefix+"}:updates", fmt.Sprintf("%d-0", ups[1].Seq)).Err(); err != nil {
		t.Fatal(err)
	}
	if seq, err := l.Find(ctx, "u1"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("Find of an update removed from the stream = %d, %v; want ErrNotFound", seq, err)
	}
	if n, err := c.HExists(ctx, "{"+prefix+"}:ids", "u1").Result(); err != nil || n {
		t.Fatalf("stale index entry still there (%v, %v)", n, err)
	}
	if seq, err := l.Find(ctx, "u2"); err != nil || seq != ups[2].Seq {
		t.Fatalf("Find(u2) = %d, %v; want %d", seq, err, ups[2].Seq)
	}
}

// TestPresence runs the presence tests. logtest.RunPresenceSkew has nothing
// to skew here: Presence reads no node's clock, only Redis's TIME in its
// scripts.
func TestPresence(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	logtest.RunPresence(t, func(t *testing.T, ttl time.Duration) logtest.PresenceNodes {
		prefix := newPrefix(t)
		a := openLog(t, srv, redis.Options{Prefix: prefix})
		b := openLog(t, srv, redis.Options{Prefix: prefix})
		pa, err := a.Presence(t.Context(), ttl)
		if err != nil {
			t.Fatal(err)
		}
		pb, err := b.Presence(t.Context(), ttl)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pa.Close(); pb.Close() })
		return logtest.PresenceNodes{A: pa, B: pb, CrashA: func() { a.Close() }}
	})
}
