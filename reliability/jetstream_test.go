package reliability

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/jetstream"
	"github.com/ssehub/ssehub/jetstream/jstest"
)

// TestCrashJetStream runs three hub processes on a three-server JetStream
// cluster (the stream has three replicas), with publishers and
// EventSource-like subscribers spread over the hubs. Each round SIGKILLs,
// in turn: the NATS server leading the stream; another NATS server; a hub
// node; a NATS server and a hub node together. Publishers and subscribers
// of a dead hub move to another, the subscribers resuming from their last
// event ID; then the dead come back. Every subscriber must receive every
// acknowledged update exactly once, each publisher's in order.
func TestCrashJetStream(t *testing.T) {
	t.Parallel()
	c := jstest.StartCluster(t, 3)
	rounds := 10
	if soak() {
		rounds = 40
	}
	args := []string{"--nats", c.URL(), "--jwt-key", jwtKey, "--anonymous"}

	const n = 3
	var nodes [n]atomic.Pointer[hubProc]
	var alive [n]atomic.Bool
	for i := range nodes {
		nodes[i].Store(startHub(t, args...))
		alive[i].Store(true)
	}
	// prefer returns a picker for node i that falls over to the next live
	// one while i is down.
	prefer := func(i int) func() string {
		return func() string {
			for j := range n {
				if k := (i + j) % n; alive[k].Load() {
					return nodes[k].Load().url
				}
			}
			return nodes[i].Load().url
		}
	}

	// The hubs' stream, as they created it, to find its leader.
	octx, ocancel := context.WithTimeout(context.Background(), 20*time.Second)
	js, err := jetstream.Open(octx, c.URL(), jetstream.Options{})
	ocancel()
	if err != nil {
		t.Fatal(err)
	}
	defer js.Close()
	leader := func() *jstest.Server {
		deadline := time.Now().Add(20 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			name, err := js.Leader(ctx)
			cancel()
			if s := c.Server(name); err == nil && s != nil {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("no stream leader within 20s: %q, %v", name, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	const topic = "https://example.com/jetstream-crash"
	tok := token(t, []string{topic}, nil)
	l := &ledger{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	subs := runResumers(t, ctx, topic, 6, func(i int) func() string { return prefer(i % n) })
	stop, failures := startPublishers(ctx, topic, tok, func(k int) func() string { return prefer(k % n) }, l)
	defer stop()

	const markers = crashPublishers

	kinds := []string{"the stream leader", "a follower server", "a hub node", "the stream leader and a hub node"}
	for round := range rounds {
		time.Sleep(500 * time.Millisecond)
		kind := round % len(kinds)
		var server *jstest.Server
		switch kind {
		case 0, 3:
			server = leader()
		case 1:
			lead := leader()
			for _, s := range c.Servers {
				if s != lead {
					server = s
					break
				}
			}
		}
		victim := -1
		if kind >= 2 {
			victim = round % n
			alive[victim].Store(false)
			nodes[victim].Load().Kill()
		}
		if server != nil {
			if err := server.Kill(); err != nil {
				t.Fatal(err)
			}
		}
		// A marker published after the faults, through a live hub, must
		// reach every subscriber after all that was acknowledged.
		time.Sleep(300 * time.Millisecond)
		before := l.snapshot()
		// Each round's marker numbers start above any retry of the last's
		// (publishMarker adds 1<<20 per failed attempt), so they stay in
		// order.
		m := publishMarker(t, ctx, prefer((victim+1+n)%n), tok, topic, markers, round<<32, l)
		awaitMarker(t, fmt.Sprintf("round %d, killed %s", round, kinds[kind]), subs, l, m, before)
		if server != nil {
			if err := server.Resume(); err != nil {
				t.Fatal(err)
			}
		}
		if victim >= 0 {
			nodes[victim].Store(startHub(t, args...))
			alive[victim].Store(true)
		}
	}
	stop()
	before := l.snapshot()
	m := publishMarker(t, ctx, prefer(0), tok, topic, markers, rounds<<32, l)
	awaitMarker(t, "final", subs, l, m, before)
	v, connects := tally(subs, l)
	t.Logf("jetstream crash: 3 hubs on 3 NATS servers, %d SIGKILL rounds, %d updates acknowledged, %d subscribers received %d events, "+
		"lost %d, duplicated %d, stored but unacknowledged %d; %d publish attempts failed; %d subscriber connections",
		rounds, len(l.snapshot()), len(subs), v.received, v.lost, v.duplicated, v.unacked, failures(), connects)
	for i := range nodes {
		nodes[i].Load().stop()
	}
}
