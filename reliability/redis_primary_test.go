package reliability

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ssehub/ssehub/redis/redistest"
)

// TestCrashRedisPrimary is TestCrashJetStream's counterpart on Redis: two
// hub processes share one redis-server, the single primary, which is
// SIGKILLed and restarted each round while publishers and subscribers run.
// It measures what Redis loses. With appendfsync always, an acknowledged
// append is on disk, so nothing acknowledged may be lost. Without
// persistence the restarted Redis is empty: updates acknowledged before
// the kill that a hub's follower had not read yet never reach anyone, and
// the history is gone; the count is logged, not held to zero.
func TestCrashRedisPrimary(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		aof  bool
	}{{"appendfsync-always", true}, {"no-persistence", false}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t, redistest.Options{AppendOnly: tc.aof})
			rounds := 3
			if soak() {
				rounds = 20
			}
			args := []string{"--redis", srv.URL(), "--jwt-key", jwtKey, "--anonymous"}
			nodes := [2]*hubProc{startHub(t, args...), startHub(t, args...)}
			const topic = "https://example.com/redis-primary"
			tok := token(t, []string{topic}, nil)
			l := &ledger{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pick := func(i int) func() string { return func() string { return nodes[i%2].url } }
			subs := runResumers(t, ctx, topic, 4, pick)
			stop, failures := startPublishers(ctx, topic, tok, pick, l)
			defer stop()
			for round := range rounds {
				time.Sleep(700 * time.Millisecond)
				if err := srv.Kill(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(300 * time.Millisecond)
				if err := srv.Resume(); err != nil {
					t.Fatal(err)
				}
				waitMarker(t, ctx, tc.aof, round, func(try int) string {
					return publishMarker(t, ctx, pick(round), tok, topic, crashPublishers, round<<32|try<<24, l)
				}, subs)
			}
			stop()
			m := publishMarker(t, ctx, pick(0), tok, topic, crashPublishers, rounds<<32, l)
			var lost, dup, order, received int
			for i, s := range subs {
				if !s.waitFor(m, markerWait) {
					t.Fatalf("final: subscriber %d did not receive %s", i, m)
				}
				v := s.check(l, l.snapshot())
				lost += v.lost
				dup += v.duplicated
				order += v.outOfOrder
				received += v.received
				if tc.aof && !v.ok() {
					t.Errorf("subscriber %d: %+v", i, v)
				}
			}
			t.Logf("redis primary crash (%s): 2 hubs, %d SIGKILL rounds of the redis-server, %d updates acknowledged, %d subscribers received %d events, "+
				"lost %d (%s per subscriber), duplicated %d, out of order %d; %d publish attempts failed",
				tc.name, rounds, len(l.snapshot()), len(subs), received, lost, fmt.Sprintf("%.1f", float64(lost)/float64(len(subs))), dup, order, failures())
			for _, h := range nodes {
				h.stop()
			}
		})
	}
}

// waitMarker publishes a marker and waits until every subscriber has it.
// With appendfsync always the first marker must arrive. Without
// persistence the restarted Redis has forgotten the Seqs handed out, and
// the append script restarts them above what the appending hub has seen,
// which can be at or below what the other hub's follower has read: a
// marker published just after the restart can then be lost for that hub's
// subscribers like any other update. So it tries a few markers, each a
// fresh update that the ledger counts (a missed one as lost), and fails
// only if none reaches everyone.
func waitMarker(t *testing.T, ctx context.Context, durable bool, round int, publish func(try int) string, subs []*resumer) {
	t.Helper()
	tries, wait := 1, markerWait
	if !durable {
		tries, wait = 4, markerWait/3
	}
	var missed string
	for try := range tries {
		m := publish(try)
		missed = ""
		for i, s := range subs {
			if !s.waitFor(m, wait) {
				missed = fmt.Sprintf("subscriber %d did not receive %s within %v", i, m, wait)
				break
			}
		}
		if missed == "" {
			return
		}
		t.Logf("round %d: %s", round, missed)
	}
	t.Fatalf("round %d: %s (after %d markers)", round, missed, tries)
}
