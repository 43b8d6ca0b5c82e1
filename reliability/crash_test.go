package reliability

import (
	"context"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Figures of the crash tests; SSEHUB_SOAK=1 runs more rounds.
const (
	crashRounds     = 20
	soakCrashRounds = 100
	crashPublishers = 4
	markerWait      = 15 * time.Second
	// markerAck bounds how long a round's marker may take to be
	// acknowledged after the faults: a JetStream cluster that lost its
	// stream leader elects another first, which took over 20 s under
	// -race while other tests loaded the 2 cores (TestCrashJetStream in
	// CI). It times nothing; what a round checks is the delivery.
	markerAck = time.Minute
)

func soak() bool { return os.Getenv("SSEHUB_SOAK") == "1" }

// TestCrashBolt runs the hub on its bbolt history under steady publishing,
// kills it with SIGKILL at a random moment of each round and restarts it
// on the same data directory. A subscriber resuming from its last event
// ID must receive every acknowledged update exactly once, in order.
func TestCrashBolt(t *testing.T) {
	t.Parallel()
	rounds := crashRounds
	if soak() {
		rounds = soakCrashRounds
	}
	args := []string{"--data", t.TempDir(), "--jwt-key", jwtKey, "--anonymous"}
	var cur atomic.Pointer[hubProc]
	cur.Store(startHub(t, args...))
	pick := func() string { return cur.Load().url }

	const topic = "https://example.com/crash"
	tok := token(t, []string{topic}, nil)
	l := &ledger{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub := newResumer(topic, "", pick)
	var subDone sync.WaitGroup
	subDone.Go(func() { sub.run(ctx) })
	defer subDone.Wait()
	defer cancel()

	stop, failures := startPublishers(ctx, topic, tok, func(int) func() string { return pick }, l)
	defer stop()

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	const markers = crashPublishers // the markers' publisher number
	for round := range rounds {
		// Everything acknowledged before the marker's publish must
		// arrive before the marker, which comes after it in the log.
		before := l.snapshot()
		m := publishMarker(t, ctx, pick, tok, topic, markers, round, l)
		if !sub.waitFor(m, markerWait) {
			t.Fatalf("round %d: marker not received within %v\n%s", round, markerWait, cur.Load().Tail(40))
		}
		if v := sub.check(l, before); !v.ok() {
			t.Fatalf("round %d: %+v", round, v)
		}
		time.Sleep(500*time.Millisecond + time.Duration(rng.Int64N(int64(time.Second))))
		cur.Load().Kill()
		cur.Store(startHub(t, args...))
	}
	stop()
	m := publishMarker(t, ctx, pick, tok, topic, markers, rounds, l)
	if !sub.waitFor(m, markerWait) {
		t.Fatalf("final marker not received within %v", markerWait)
	}
	v := sub.check(l, l.snapshot())
	sub.mu.Lock()
	connects := sub.connects
	sub.mu.Unlock()
	t.Logf("bolt crash: %d SIGKILL rounds, %d updates acknowledged, %d received, lost %d, duplicated %d, out of order %d, "+
		"wrong ID %d; %d stored without acknowledgement; %d publish attempts failed; subscriber connected %d times",
		rounds, v.acked, v.received, v.lost, v.duplicated, v.outOfOrder, v.wrongID, v.unacked, failures(), connects)
	if !v.ok() {
		t.Fatalf("delivery broken: %+v", v)
	}
	cur.Load().stop()
}
