package reliability

import (
	"context"
	"fmt"
	"sync"
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
	var subsDone sync.WaitGroup
	defer subsDone.Wait()
	defer cancel()
	subs := make([]*resumer, 6)
	for i := range subs {
		subs[i] = newResumer(topic, "", prefer(i%2))
		subsDone.Go(func() { subs[i].run(ctx) })
	}

	stop, failures := startPublishers(ctx, topic, tok, func(k int) func() string { return prefer(k % 2) }, l)
	defer stop()

	const markers = crashPublishers
	waitAll := func(what string, m string, before []ack) {
		t.Helper()
		for i, s := range subs {
			if !s.waitFor(m, markerWait) {
				t.Fatalf("%s: subscriber %d did not receive %s within %v", what, i, m, markerWait)
			}
			if v := s.check(l, before); !v.ok() {
				t.Fatalf("%s: subscriber %d: %+v", what, i, v)
			}
		}
	}
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
		waitAll(fmt.Sprintf("round %d, node %d killed", round, victim), m, before)
		nodes[victim].Store(startHub(t, args...))
		alive[victim].Store(true)
	}
	stop()
	before := l.snapshot()
	m := publishMarker(t, ctx, prefer(0), tok, topic, markers, rounds, l)
	waitAll("final", m, before)
	var lost, dup, received, connects int
	for _, s := range subs {
		v := s.check(l, l.snapshot())
		lost += v.lost
		dup += v.duplicated
		received += v.received
		s.mu.Lock()
		connects += s.connects
		s.mu.Unlock()
	}
	t.Logf("redis node crash: 2 nodes, %d SIGKILL rounds, %d updates acknowledged, %d subscribers received %d events, "+
		"lost %d, duplicated %d; %d publish attempts failed; %d subscriber connections",
		rounds, len(l.snapshot()), len(subs), received, lost, dup, failures(), connects)
	for i := range nodes {
		nodes[i].Load().stop()
	}
}
