package reliability

import (
	"context"
	"fmt"
	"sync"
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
			var subsDone sync.WaitGroup
			defer subsDone.Wait()
			defer cancel()
			pick := func(i int) func() string { return func() string { return nodes[i%2].url } }
			subs := make([]*resumer, 4)
			for i := range subs {
				subs[i] = newResumer(topic, "", pick(i))
				subsDone.Go(func() { subs[i].run(ctx) })
			}
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
				m := publishMarker(t, ctx, pick(round), tok, topic, crashPublishers, round<<32, l)
				for i, s := range subs {
					if !s.waitFor(m, markerWait) {
						t.Fatalf("round %d: subscriber %d did not receive %s within %v", round, i, m, markerWait)
					}
				}
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
