package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/logtest"
	"github.com/ssehub/ssehub/jetstream"
	"github.com/ssehub/ssehub/jetstream/jstest"
)

// streams hands out a fresh stream name and subject per log, so the
// subtests of one test share a server without seeing each other's updates.
var streams atomic.Int64

func fresh(opts jetstream.Options) jetstream.Options {
	n := streams.Add(1)
	if opts.Stream == "" {
		opts.Stream = fmt.Sprintf("T%d", n)
		opts.Subject = fmt.Sprintf("t%d", n)
	}
	return opts
}

func openLog(t testing.TB, urls string, opts jetstream.Options) *jetstream.Log {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := jetstream.Open(ctx, urls, opts)
	if err != nil {
		t.Fatalf("Open(%s, %+v): %v", urls, opts, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestConformance(t *testing.T) {
	srv := jstest.Start(t)
	logtest.Run(t, func(t *testing.T) hub.Log {
		return openLog(t, srv.URL(), fresh(jetstream.Options{}))
	})
}

func TestRetention(t *testing.T) {
	srv := jstest.Start(t)
	logtest.RunRetention(t, func(t *testing.T, maxLen int, maxAge time.Duration) hub.Log {
		return openLog(t, srv.URL(), fresh(jetstream.Options{MaxLen: maxLen, MaxAge: maxAge}))
	})
}

func TestDuplicates(t *testing.T) {
	srv := jstest.Start(t)
	logtest.RunDuplicates(t, func(t *testing.T, maxLen int, window time.Duration) hub.Log {
		return openLog(t, srv.URL(), fresh(jetstream.Options{MaxLen: maxLen, DuplicateWindow: window}))
	})
}

// TestConformanceCluster runs the suite on a three-server cluster with
// three replicas, where Read's direct gets may reach a replica that has
// not applied the newest appends yet.
func TestConformanceCluster(t *testing.T) {
	c := jstest.StartCluster(t, 3)
	logtest.Run(t, func(t *testing.T) hub.Log {
		return openLog(t, c.URL(), fresh(jetstream.Options{}))
	})
}

func TestOpenBadOptions(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		opts  jetstream.Options
		field string
	}{
		{jetstream.Options{MaxLen: -1}, "MaxLen"},
		{jetstream.Options{MaxAge: -time.Second}, "MaxAge"},
		{jetstream.Options{MaxAge: time.Millisecond}, "MaxAge"},
		{jetstream.Options{DuplicateWindow: time.Millisecond}, "DuplicateWindow"},
		{jetstream.Options{DuplicateWindow: time.Minute, MaxAge: time.Second}, "DuplicateWindow"},
		{jetstream.Options{Replicas: 7}, "Replicas"},
		{jetstream.Options{Stream: "a.b"}, "Stream"},
		{jetstream.Options{Subject: "a.*"}, "Subject"},
		{jetstream.Options{Subject: "a..b"}, "Subject"},
	} {
		l, err := jetstream.Open(ctx, "nats://127.0.0.1:1", tc.opts)
		if err == nil {
			l.Close()
			t.Fatalf("Open(%+v) succeeded", tc.opts)
		}
		if errors.Is(err, jetstream.ErrUnavailable) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("Open(%+v) = %v; want it to name %s before connecting", tc.opts, err, tc.field)
		}
	}
}

// TestOpenUnreachable checks that Open waits for a server until ctx ends,
// then fails naming both.
func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_, err := jetstream.Open(ctx, "nats://127.0.0.1:1", jetstream.Options{})
	if !errors.Is(err, jetstream.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) ||
		!strings.Contains(err.Error(), "no servers available") {
		t.Fatalf("Open of a closed port = %v, want ErrUnavailable, the deadline and the cause", err)
	}
}

// waits counts the waits Open logs.
type waits struct{ n atomic.Int64 }

func (w *waits) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func (w *waits) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "waiting") {
		w.n.Add(1)
	}
	return len(p), nil
}

// TestOpenWaitsForJetStream starts hubs and their NATS cluster together,
// as docker compose does: Open begins before any server accepts
// connections (Connect), or once one server accepts them but lacks the
// quorum to elect a meta leader (Quorum), and succeeds once the other two
// join.
func TestOpenWaitsForJetStream(t *testing.T) {
	for _, tc := range []struct {
		name      string
		listening bool // the first server accepts connections when Open begins
	}{{"Connect", false}, {"Quorum", true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := jstest.NewCluster(t, 3)
			if tc.listening {
				if err := c.Servers[0].Launch(); err != nil {
					t.Fatal(err)
				}
				if err := c.Servers[0].Listening(); err != nil {
					t.Fatal(err)
				}
			}
			var w waits
			opts := fresh(jetstream.Options{Replicas: 3, Logger: w.logger()})
			done := make(chan struct{})
			go func() {
				defer close(done)
				if !tc.listening {
					time.Sleep(500 * time.Millisecond)
					if err := c.Servers[0].Launch(); err != nil {
						t.Error(err)
						return
					}
				}
				time.Sleep(3 * time.Second)
				for _, s := range c.Servers[1:] {
					if err := s.Launch(); err != nil {
						t.Error(err)
					}
				}
			}()
			defer func() { <-done }()
			l := openLog(t, c.Servers[0].URL(), opts)
			if w.n.Load() == 0 {
				t.Error("Open logged no wait")
			}
			if err := l.Append(t.Context(), &hub.Update{ID: "a", Topics: []string{"t"}}); err != nil {
				t.Fatalf("Append: %v", err)
			}
			s, err := l.Sibling(t.Context(), fresh(jetstream.Options{Replicas: 3}))
			if err != nil {
				t.Fatalf("Sibling: %v", err)
			}
			s.Close()
		})
	}
}

// TestOpenNoQuorum checks that Open on a cluster that cannot elect a meta
// leader gives up when ctx ends, naming the deadline and what it waited
// for.
func TestOpenNoQuorum(t *testing.T) {
	c := jstest.NewCluster(t, 3)
	if err := c.Servers[0].Launch(); err != nil {
		t.Fatal(err)
	}
	if err := c.Servers[0].Listening(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	var w waits
	l, err := jetstream.Open(ctx, c.Servers[0].URL(), fresh(jetstream.Options{Replicas: 3, Logger: w.logger()}))
	if err == nil {
		l.Close()
		t.Fatal("Open without a quorum succeeded")
	}
	if !errors.Is(err, jetstream.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "gave up") {
		t.Fatalf("Open without a quorum = %v, want ErrUnavailable and the deadline", err)
	}
	if w.n.Load() == 0 {
		t.Error("Open logged no wait")
	}
}

// TestOpenConfigMismatch checks that Open never changes an existing
// stream: a different limit is an error naming the setting.
func TestOpenConfigMismatch(t *testing.T) {
	srv := jstest.Start(t)
	opts := fresh(jetstream.Options{MaxLen: 10})
	l := openLog(t, srv.URL(), opts)
	if err := l.Append(t.Context(), &hub.Update{ID: "kept", Topics: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	// The same options again open the existing stream.
	openLog(t, srv.URL(), opts)

	for _, tc := range []struct {
		change  func(*jetstream.Options)
		setting string
	}{
		{func(o *jetstream.Options) { o.MaxLen = 20 }, "max_msgs"},
		{func(o *jetstream.Options) { o.MaxAge = time.Hour }, "max_age"},
		{func(o *jetstream.Options) { o.DuplicateWindow = time.Minute }, "duplicate_window"},
		{func(o *jetstream.Options) { o.Replicas = 3 }, "num_replicas"},
		{func(o *jetstream.Options) { o.Subject = "other" }, "subjects"},
	} {
		o := opts
		tc.change(&o)
		var w waits
		o.Logger = w.logger()
		l2, err := jetstream.Open(t.Context(), srv.URL(), o)
		if err == nil {
			l2.Close()
			t.Fatalf("Open with %s changed succeeded", tc.setting)
		}
		var ce *jetstream.ConfigError
		if !errors.As(err, &ce) || !errors.Is(err, jetstream.ErrConfigMismatch) || ce.Setting != tc.setting {
			t.Fatalf("Open with %s changed = %v; want a *ConfigError naming %s", tc.setting, err, tc.setting)
		}
		if w.n.Load() != 0 {
			t.Errorf("Open with %s changed waited before failing", tc.setting)
		}
	}
	// Nothing was changed: the update is still there.
	if seq, err := l.Find(t.Context(), "kept"); err != nil || seq != 1 {
		t.Fatalf("Find(kept) after the refused opens = %d, %v", seq, err)
	}
}

// TestDuplicateID checks that a second publish of an update (same ID and
// content) within the duplicate window is answered with the first's Seq
// and Time and is not stored: what makes a publisher's retry after a
// timeout safe. RunDuplicates checks that other content is stored.
func TestDuplicateID(t *testing.T) {
	srv := jstest.Start(t)
	l := openLog(t, srv.URL(), fresh(jetstream.Options{}))
	ctx := t.Context()
	first := &hub.Update{ID: "urn:x:1", Topics: []string{"t"}, Data: "first"}
	if err := l.Append(ctx, first); err != nil {
		t.Fatal(err)
	}
	retry := &hub.Update{ID: "urn:x:1", Topics: []string{"t"}, Data: "first"}
	if err := l.Append(ctx, retry); err != nil {
		t.Fatal(err)
	}
	if retry.Seq != first.Seq || !retry.Time.Equal(first.Time) {
		t.Fatalf("retry: Seq %d Time %v; want the first's %d %v", retry.Seq, retry.Time, first.Seq, first.Time)
	}
	var got []*hub.Update
	for u, err := range l.Read(ctx, 0) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, u)
	}
	if len(got) != 1 || got[0].Data != "first" {
		t.Fatalf("Read(0) = %d updates (%+v), want only the first", len(got), got)
	}
}

// TestClusterLeaderKilled appends through one node and follows on another
// while the server leading the stream is killed: every acknowledged update
// is followed exactly once, in order, and a retry of an append whose
// answer was lost is not stored twice.
func TestClusterLeaderKilled(t *testing.T) {
	c := jstest.StartCluster(t, 3)
	opts := fresh(jetstream.Options{})
	a := openLog(t, c.URL(), opts)
	b := openLog(t, c.URL(), opts)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	follow := make(chan *hub.Update, 1000)
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	go func() {
		defer close(follow)
		for u, err := range b.Follow(fctx, 0) {
			if err != nil {
				t.Errorf("Follow: %v", err)
				return
			}
			follow <- u
		}
	}()

	var acked []*hub.Update
	appendRetrying := func(id string) {
		for {
			u := &hub.Update{ID: id, Topics: []string{"t"}, Data: id}
			actx, acancel := context.WithTimeout(ctx, 2*time.Second)
			err := a.Append(actx, u)
			acancel()
			if err == nil {
				acked = append(acked, u)
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("append %s: %v", id, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for i := range 20 {
		appendRetrying(fmt.Sprintf("before-%d", i))
	}
	leader, err := a.Leader(ctx)
	if err != nil || c.Server(leader) == nil {
		t.Fatalf("Leader = %q, %v", leader, err)
	}
	if err := c.Server(leader).Kill(); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		appendRetrying(fmt.Sprintf("after-%d", i))
	}
	for i, u := range acked {
		if i > 0 && u.Seq != acked[i-1].Seq+1 {
			t.Fatalf("append %s: Seq %d after %d: a retry was stored twice or a Seq skipped", u.ID, u.Seq, acked[i-1].Seq)
		}
	}
	timeout := time.After(30 * time.Second)
	for i, want := range acked {
		select {
		case u, ok := <-follow:
			if !ok {
				t.Fatalf("Follow ended after %d updates", i)
			}
			if u.ID != want.ID || u.Seq != want.Seq {
				t.Fatalf("followed update %d: %s (Seq %d), want %s (Seq %d)", i, u.ID, u.Seq, want.ID, want.Seq)
			}
		case <-timeout:
			t.Fatalf("followed %d of %d updates", i, len(acked))
		}
	}
	// The killed server comes back and catches up; the log reads the same
	// from either node.
	if err := c.Server(leader).Resume(); err != nil {
		t.Fatal(err)
	}
	if last, err := b.Last(ctx); err != nil || last != acked[len(acked)-1].Seq {
		t.Fatalf("Last on the other node = %d, %v; want %d", last, err, acked[len(acked)-1].Seq)
	}
}

// TestReuseAfterWindow checks an ID published again after the duplicate
// window: it is stored again, Find keeps resolving it to the earliest
// copy, and once retention removes that copy Find answers ErrNotFound
// rather than the later copy (the rule of hub/logtest's
// MaxLenKeepsReusedID for a log without a window).
func TestReuseAfterWindow(t *testing.T) {
	srv := jstest.Start(t)
	const window = 100 * time.Millisecond
	l := openLog(t, srv.URL(), fresh(jetstream.Options{MaxLen: 3, DuplicateWindow: window}))
	ctx := t.Context()
	add := func(id string) *hub.Update {
		u := &hub.Update{ID: id, Topics: []string{"t"}, Data: id}
		if err := l.Append(ctx, u); err != nil {
			t.Fatalf("Append(%s): %v", id, err)
		}
		return u
	}
	a1 := add("a")
	time.Sleep(window + 100*time.Millisecond)
	add("b")
	a2 := add("a")
	if a2.Seq == a1.Seq {
		t.Fatalf("a after the window: Seq %d, the first copy's; want it stored again", a2.Seq)
	}
	if seq, err := l.Find(ctx, "a"); err != nil || seq != a1.Seq {
		t.Fatalf("Find(a) = %d, %v; want the earliest copy %d", seq, err, a1.Seq)
	}
	add("c") // trims a1
	if seq, err := l.Find(ctx, "a"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("Find(a) after trimming its first copy = %d, %v; want ErrNotFound", seq, err)
	}
	add("d")
	add("e") // trims a2: no copy of a left
	time.Sleep(window + 100*time.Millisecond)
	a3 := add("a")
	if seq, err := l.Find(ctx, "a"); err != nil || seq != a3.Seq {
		t.Fatalf("Find(a) after every copy was trimmed and it was reused = %d, %v; want %d", seq, err, a3.Seq)
	}
}

func TestPresence(t *testing.T) {
	srv := jstest.Start(t)
	logtest.RunPresence(t, func(t *testing.T, ttl time.Duration) logtest.PresenceNodes {
		opts := fresh(jetstream.Options{})
		a, b := openLog(t, srv.URL(), opts), openLog(t, srv.URL(), opts)
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

// TestPresenceSkew runs the presence tests with the nodes' clocks far
// ahead of the servers' and far behind: liveness is decided on the
// servers' clock, so no node marks another dead early nor keeps it alive.
func TestPresenceSkew(t *testing.T) {
	srv := jstest.Start(t)
	logtest.RunPresenceSkew(t, func(t *testing.T, ttl, skewA, skewB time.Duration) logtest.PresenceNodes {
		opts := fresh(jetstream.Options{})
		a, b := openLog(t, srv.URL(), opts), openLog(t, srv.URL(), opts)
		pa, err := jetstream.PresenceOnClock(t.Context(), a, ttl, func() time.Time { return time.Now().Add(skewA) })
		if err != nil {
			t.Fatal(err)
		}
		pb, err := jetstream.PresenceOnClock(t.Context(), b, ttl, func() time.Time { return time.Now().Add(skewB) })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pa.Close(); pb.Close() })
		return logtest.PresenceNodes{A: pa, B: pb, CrashA: func() { a.Close() }}
	})
}

// TestOpenConcurrently opens one new stream from three nodes at once on a
// fresh cluster, as hubs started together do: every Open succeeds.
func TestOpenConcurrently(t *testing.T) {
	c := jstest.StartCluster(t, 3)
	opts := fresh(jetstream.Options{})
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			l, err := jetstream.Open(ctx, c.URL(), opts)
			if err == nil {
				t.Cleanup(func() { l.Close() })
			}
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatalf("Open: %v", err)
		}
	}

	// A node that would pick three replicas by default takes an existing
	// stream's one (nodes connecting while a cluster forms may guess
	// differently); asked for three explicitly, it refuses.
	one := fresh(jetstream.Options{Replicas: 1})
	openLog(t, c.URL(), one)
	auto := one
	auto.Replicas = 0
	openLog(t, c.URL(), auto)
	three := one
	three.Replicas = 3
	var ce *jetstream.ConfigError
	if l, err := jetstream.Open(t.Context(), c.URL(), three); !errors.As(err, &ce) || ce.Setting != "num_replicas" {
		if err == nil {
			l.Close()
		}
		t.Fatalf("Open with 3 replicas over a stream of 1: %v, want a ConfigError naming num_replicas", err)
	}
}
