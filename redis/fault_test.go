package redis_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/redis"
	"github.com/ssehub/ssehub/redis/redistest"
)

// hangGuard bounds a single operation against a stopped server. It is far
// above the dial and I/O timeouts the package sets, so it catches hangs,
// not slowness.
const hangGuard = 15 * time.Second

// refollower follows l the way the hub does: on a failure it follows again
// from the last Seq it received, after a pause.
type refollower struct {
	mu   sync.Mutex
	got  []*hub.Update
	errs []error
	more chan struct{} // signalled after each update
	done chan struct{}
}

func refollow(ctx context.Context, l hub.Log, after uint64) *refollower {
	f := &refollower{more: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		for ctx.Err() == nil {
			for u, err := range l.Follow(ctx, after) {
				f.mu.Lock()
				if err != nil {
					f.errs = append(f.errs, err)
				} else {
					f.got = append(f.got, u)
					after = u.Seq
				}
				f.mu.Unlock()
				select {
				case f.more <- struct{}{}:
				default:
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return f
}

// wait waits until f has n updates and returns them and the errors seen.
func (f *refollower) wait(t *testing.T, n int) ([]*hub.Update, []error) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		f.mu.Lock()
		got, errs := f.got, f.errs
		f.mu.Unlock()
		if len(got) >= n {
			return got, errs
		}
		select {
		case <-f.more:
		case <-timeout:
			t.Fatalf("follower has %d of %d updates; errors: %v", len(got), n, errs)
		}
	}
}

func appendAll(t *testing.T, l hub.Log, prefix string, n int) []*hub.Update {
	t.Helper()
	ups := make([]*hub.Update, n)
	for i := range ups {
		ups[i] = &hub.Update{ID: fmt.Sprintf("%s%d", prefix, i), Topics: []string{"t"}, Data: "d"}
		if err := l.Append(t.Context(), ups[i]); err != nil {
			t.Fatalf("Append(%s): %v", ups[i].ID, err)
		}
	}
	return ups
}

// checkExactlyOnce checks that got is want, in order, each once.
func checkExactlyOnce(t *testing.T, got, want []*hub.Update) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("followed %d updates, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID || got[i].Seq != want[i].Seq {
			t.Fatalf("update %d: followed %s/%d, want %s/%d", i, got[i].ID, got[i].Seq, want[i].ID, want[i].Seq)
		}
	}
}

func TestRedisDown(t *testing.T) {
	for _, stop := range []struct {
		name string
		fn   func(*redistest.Server) error
	}{
		{"Stop", (*redistest.Server).Stop},
		{"Kill", (*redistest.Server).Kill},
	} {
		t.Run(stop.name, func(t *testing.T) {
			srv := redistest.Start(t, redistest.Options{AppendOnly: true})
			l := openLog(t, srv, redis.Options{})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			f := refollow(ctx, l, 0)

			before := appendAll(t, l, "before", 50)
			f.wait(t, 50)
			if err := stop.fn(srv); err != nil {
				t.Fatal(err)
			}

			start := time.Now()
			err := l.Append(ctx, &hub.Update{ID: "lost", Topics: []string{"t"}})
			if !errors.Is(err, redis.ErrUnavailable) {
				t.Fatalf("Append with Redis down = %v, want ErrUnavailable", err)
			}
			if d := time.Since(start); d > hangGuard {
				t.Fatalf("Append with Redis down took %v", d)
			}
			t.Logf("Append with Redis down failed after %v: %v", time.Since(start), err)
			for _, op := range []struct {
				name string
				fn   func() error
			}{
				{"Find", func() error { _, err := l.Find(ctx, "before1"); return err }},
				{"Last", func() error { _, err := l.Last(ctx); return err }},
				{"Len", func() error { _, err := l.Len(ctx); return err }},
				{"Read", func() error {
					for _, err := range l.Read(ctx, 0) {
						if err != nil {
							return err
						}
					}
					return nil
				}},
			} {
				if err := op.fn(); !errors.Is(err, redis.ErrUnavailable) {
					t.Errorf("%s with Redis down = %v, want ErrUnavailable", op.name, err)
				}
			}

			if err := srv.Resume(); err != nil {
				t.Fatal(err)
			}
			// The first commands after the restart may still meet the pool's
			// dead connections or its dial back-off; they fail cleanly.
			var after []*hub.Update
			deadline := time.Now().Add(hangGuard)
			for i := 0; len(after) < 50; {
				u := &hub.Update{ID: fmt.Sprintf("after%d", i), Topics: []string{"t"}, Data: "d"}
				if err := l.Append(ctx, u); err != nil {
					if !errors.Is(err, redis.ErrUnavailable) || time.Now().After(deadline) {
						t.Fatalf("Append after restart: %v", err)
					}
					time.Sleep(20 * time.Millisecond)
					continue
				}
				after = append(after, u)
				i++
			}
			// Redis was down, so the failed append cannot have taken a Seq.
			if after[0].Seq != before[49].Seq+1 {
				t.Fatalf("first Seq after restart %d, last before %d", after[0].Seq, before[49].Seq)
			}
			if _, err := l.Find(ctx, "lost"); !errors.Is(err, hub.ErrNotFound) {
				t.Errorf("Find(lost) = %v, want ErrNotFound", err)
			}
			got, errs := f.wait(t, 100)
			checkExactlyOnce(t, got, append(before, after...))
			if len(errs) == 0 {
				t.Error("the follower saw no error while Redis was down")
			}
			for _, err := range errs {
				if !errors.Is(err, redis.ErrUnavailable) {
					t.Errorf("Follow yielded %v, want ErrUnavailable", err)
				}
			}
			if seq, err := l.Find(ctx, "before10"); err != nil || seq != before[10].Seq {
				t.Errorf("Find(before10) after restart = %d, %v; want %d", seq, err, before[10].Seq)
			}
			cancel()
			<-f.done
		})
	}
}

// TestRedisDataLoss restarts a Redis without persistence, which comes back
// empty: Seqs must continue above the ones already followed, so that
// followers, which resume after their last Seq, still get every new update.
func TestRedisDataLoss(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := newPrefix(t)
	a := openLog(t, srv, redis.Options{Prefix: prefix})
	b := openLog(t, srv, redis.Options{Prefix: prefix})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f := refollow(ctx, b, 0)

	before := appendAll(t, a, "before", 20)
	f.wait(t, 20)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Len(ctx); err != nil || n != 0 {
		t.Fatalf("Len after a restart without persistence = %d, %v; want 0 (the test needs the data gone)", n, err)
	}
	after := appendAll(t, b, "after", 10)
	if after[0].Seq <= before[19].Seq {
		t.Fatalf("first Seq after the data loss is %d, not above the last one followed, %d", after[0].Seq, before[19].Seq)
	}
	after = append(after, appendAll(t, a, "more", 10)...)
	got, _ := f.wait(t, 40)
	checkExactlyOnce(t, got, append(before, after...))
	cancel()
	<-f.done
}

// TestRetryAfterTimeout reproduces a publisher's retry after a timeout:
// Redis is busy (a script runs for 600 ms), the append's context expires
// while its command waits in the socket, Redis runs the command once it is
// free, and the publisher retries with the same ID. With the duplicate
// window the retry is answered with the stored update; without one (the
// control, proving the first attempt was stored) the update is stored
// twice.
func TestRetryAfterTimeout(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	for _, tc := range []struct {
		window time.Duration
		copies int
	}{{0, 1}, {-1, 2}} {
		l := openLog(t, srv, redis.Options{DuplicateWindow: tc.window})
		// The script is written on a connection of its own before the
		// append starts, so that Redis reads it first and the append
		// waits behind it. (Sent from a goroutine after a 100 ms sleep,
		// it reached Redis after the append 1 time in 30 under load.)
		// A PING first: until Redis has accepted the connection, what it
		// carries waits behind the append.
		stall, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		stall.SetDeadline(time.Now().Add(hangGuard))
		replies := bufio.NewReader(stall)
		if _, err := io.WriteString(stall, resp("PING")); err != nil {
			t.Fatal(err)
		}
		if reply, err := replies.ReadString('\n'); reply != "+PONG\r\n" {
			t.Fatalf("PING: %q, %v", reply, err)
		}
		if _, err := io.WriteString(stall, resp("EVAL", busyScript, "0")); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		first := &hub.Update{ID: "retried", Topics: []string{"t"}, Data: "1"}
		err = l.Append(ctx, first)
		cancel()
		if err == nil {
			t.Fatalf("window %v: the append answered while Redis was busy", tc.window)
		}
		if reply, err := replies.ReadString('\n'); reply != ":1\r\n" {
			t.Fatalf("busy script: %q, %v", reply, err)
		}
		stall.Close()
		retry := &hub.Update{ID: "retried", Topics: []string{"t"}, Data: "1"}
		if err := l.Append(t.Context(), retry); err != nil {
			t.Fatalf("window %v: retry: %v", tc.window, err)
		}
		copies := 0
		for u, err := range l.Read(t.Context(), 0) {
			if err != nil {
				t.Fatal(err)
			}
			if u.ID == "retried" {
				copies++
			}
		}
		if copies != tc.copies {
			t.Fatalf("window %v: %d copies stored, want %d", tc.window, copies, tc.copies)
		}
		if tc.copies == 1 && retry.Seq != 1 {
			t.Fatalf("retry answered with Seq %d, want the timed-out append's 1", retry.Seq)
		}
	}
}

// busyScript keeps Redis busy for 600 ms: no other client is served
// meanwhile.
const busyScript = `
local s = redis.call('TIME')
local start = s[1] * 1000000 + s[2]
repeat local n = redis.call('TIME') until n[1] * 1000000 + n[2] - start > 600000
return 1`

// resp encodes a command in the Redis protocol.
func resp(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}
