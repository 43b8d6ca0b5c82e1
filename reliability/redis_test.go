package reliability

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/redis/redistest"
)

// TestCrashRedisNode runs two hub processes on one redis-server, with
// publishers and subscribers spread over both. Each round SIGKILLs one
// node; its publishers and subscribers move to the other, the subscribers
// resuming from their last event ID, and the node comes back. Every
// subscriber must receive every acknowledged update exactly once, in order.
func TestCrashRedisNode(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	rounds := 6
	if soak() {
		rounds = 40
	}
	args := []string{"--redis", srv.URL(), "--jwt-key", jwtKey, "--anonymous"}

	var nodes [2]atomic.Pointer[hubProc]
	var alive [2]atomic.Bool
	for i := range nodes {
		nodes[i].Store(startHub(t, args...))
		alive[i].Store(true)
	}
	// prefer returns a picker for node i that falls over to the other
	// while i is down.
	prefer := func(i int) func() string {
		return func() string {
			if !alive[i].Load() {
				i = 1 - i
			}
			return nodes[i].Load().url
		}
	}

	const topic = "https://example.com/redis-crash"
	tok := token(t, []string{topic}, nil)
	l := &ledger{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	subs := runResumers(t, ctx, topic, 6, func(i int) func() string { return prefer(i % 2) })

	stop, failures := startPublishers(ctx, topic, tok, func(k int) func() string { return prefer(k % 2) }, l)
	defer stop()

	const markers = crashPublishers

	for round := range rounds {
		time.Sleep(700 * time.Millisecond)
		victim := round % 2
		alive[victim].Store(false)
		nodes[victim].Load().Kill()
		// Publishing goes on through the survivor; a marker published
		// there after the kill must reach every subscriber, those of
		// the dead node included, after all that was acknowledged.
		time.Sleep(300 * time.Millisecond)
		before := l.snapshot()
		m := publishMarker(t, ctx, prefer(1-victim), tok, topic, markers, round, l)
		awaitMarker(t, fmt.Sprintf("round %d, node %d killed", round, victim), subs, l, m, before)
		nodes[victim].Store(startHub(t, args...))
		alive[victim].Store(true)
	}
	stop()
	before := l.snapshot()
	m := publishMarker(t, ctx, prefer(0), tok, topic, markers, rounds, l)
	awaitMarker(t, "final", subs, l, m, before)
	v, connects := tally(subs, l)
	t.Logf("redis node crash: 2 nodes, %d SIGKILL rounds, %d updates acknowledged, %d subscribers received %d events, "+
		"lost %d, duplicated %d; %d publish attempts failed; %d subscriber connections",
		rounds, len(l.snapshot()), len(subs), v.received, v.lost, v.duplicated, failures(), connects)
	for i := range nodes {
		nodes[i].Load().stop()
	}
}
