package logtest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// PresenceNodes is what RunPresence's open returns: the presences of two
// nodes sharing one store, with the TTL it was asked for, and CrashA, which
// stops node A as a crash would: no more heartbeats, nothing removed.
type PresenceNodes struct {
	A, B   hub.Presence
	CrashA func()
}

// presenceTTL is the TTL RunPresence asks for: short, so that the dead
// node test is quick, and long beside a heartbeat round trip.
const presenceTTL = 1500 * time.Millisecond

// RunPresence runs the subtests every hub.Presence must pass. open is
// called once per subtest with the TTL to use and must return two nodes on
// a new, empty store. The subtests sleep about four TTLs in total.
func RunPresence(t *testing.T, open func(t *testing.T, ttl time.Duration) PresenceNodes) {
	t.Helper()
	for _, tc := range presenceTests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t, presenceTTL)) })
	}
}

var presenceTests = []struct {
	name string
	fn   func(*testing.T, PresenceNodes)
}{
	{"ListAcrossNodes", testPresenceList},
	{"DeadNodeReaped", testPresenceReap},
	{"LiveNodeKept", testPresenceLive},
}

// RunPresenceSkew runs RunPresence's subtests with node A's clock ahead of
// the real one by ten TTLs and B's behind by as much, and then the other
// way round: skew between nodes' clocks must neither mark a live node dead
// nor keep a dead one listed, whichever node lists or reaps. open is
// RunPresence's, with the skews to give the nodes' clocks from their
// start. An implementation that reads no node's clock has nothing to
// skew.
func RunPresenceSkew(t *testing.T, open func(t *testing.T, ttl, skewA, skewB time.Duration) PresenceNodes) {
	t.Helper()
	for _, skew := range []time.Duration{10 * presenceTTL, -10 * presenceTTL} {
		for _, tc := range presenceTests {
			t.Run(fmt.Sprintf("%s/skewA=%v", tc.name, skew), func(t *testing.T) { tc.fn(t, open(t, presenceTTL, skew, -skew)) })
		}
	}
}

// entry is a subscription to Join. Its Since is far off, as a node's
// skewed clock could give it: the implementation sets its own.
func entry(subscriber string, topics ...string) hub.PresenceEntry {
	return hub.PresenceEntry{
		Subscriber: subscriber, Topics: topics, Since: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		Payload: json.RawMessage(`{"user":"` + subscriber + `"}`),
	}
}

func join(t *testing.T, p hub.Presence, es ...hub.PresenceEntry) {
	t.Helper()
	for _, e := range es {
		if err := p.Join(ctxFor(t), e); err != nil {
			t.Fatalf("Join(%s): %v", e.Subscriber, err)
		}
	}
}

// subscribers lists es's subscribers, sorted, failing on a duplicate.
func subscribers(t *testing.T, what string, es []hub.PresenceEntry) []string {
	t.Helper()
	var out []string
	for _, e := range es {
		out = append(out, e.Subscriber)
	}
	sort.Strings(out)
	if len(slices.Compact(slices.Clone(out))) != len(out) {
		t.Fatalf("%s: a subscriber is listed twice: %q", what, out)
	}
	return out
}

func list(t *testing.T, p hub.Presence) []hub.PresenceEntry {
	t.Helper()
	es, err := p.List(ctxFor(t))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return es
}

func testPresenceList(t *testing.T, n PresenceNodes) {
	e1, e2 := entry("urn:s:1", "https://example.com/a", "https://example.com/{id}"), entry("urn:s:2", "b")
	// A Mercure 1.0 subscriber's matchers, with a payload for one.
	e2.Selectors = []hub.Selector{{Syntax: "exact", Text: "b"}, {Syntax: "urlpattern", Text: "https://example.com/:id"}}
	e2.Payloads = []json.RawMessage{nil, json.RawMessage(`{"x":1}`)}
	// The store's clock is this machine's: Since is within this span.
	before := time.Now().Add(-time.Second)
	join(t, n.A, e1)
	join(t, n.B, e2)
	after := time.Now().Add(time.Second)
	for name, p := range map[string]hub.Presence{"A": n.A, "B": n.B} {
		es := list(t, p)
		if got := subscribers(t, "List on "+name, es); !slices.Equal(got, []string{"urn:s:1", "urn:s:2"}) {
			t.Fatalf("List on node %s: %q, want both nodes' subscribers", name, got)
		}
		for _, e := range es {
			want := e1
			if e.Subscriber == e2.Subscriber {
				want = e2
			}
			if !slices.Equal(e.Topics, want.Topics) || string(e.Payload) != string(want.Payload) || e.Node == "" ||
				!slices.Equal(e.Selectors, want.Selectors) || !slices.EqualFunc(e.Payloads, want.Payloads, samePayload) {
				t.Fatalf("List on node %s: %+v, want %+v with a node", name, e, want)
			}
			if e.Since.Before(before) || e.Since.After(after) {
				t.Fatalf("List on node %s: %s since %v, want the store's time of its Join, between %v and %v", name, e.Subscriber, e.Since, before, after)
			}
		}
	}
	if err := n.A.Leave(ctxFor(t), e1.Subscriber); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	if got := subscribers(t, "List after Leave", list(t, n.B)); !slices.Equal(got, []string{"urn:s:2"}) {
		t.Fatalf("List on B after A's Leave: %q", got)
	}
}

func testPresenceReap(t *testing.T, n PresenceNodes) {
	join(t, n.A, entry("urn:s:a1", "t"), entry("urn:s:a2", "t", "u"))
	join(t, n.B, entry("urn:s:b1", "t"))
	n.CrashA()
	// Within the TTL and a heartbeat of slack A's subscriptions are gone
	// from the listing, and B's stay.
	deadline := time.Now().Add(2 * presenceTTL)
	for {
		got := subscribers(t, "List", list(t, n.B))
		if slices.Equal(got, []string{"urn:s:b1"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("List on B %v after A crashed: %q, want only B's", 2*presenceTTL, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Concurrent reapers get each dead subscription once between them.
	var mu sync.Mutex
	var reaped []hub.PresenceEntry
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			es, err := n.B.Reap(ctxFor(t))
			if err != nil {
				t.Errorf("Reap: %v", err)
			}
			mu.Lock()
			reaped = append(reaped, es...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if got := subscribers(t, "Reap", reaped); !slices.Equal(got, []string{"urn:s:a1", "urn:s:a2"}) {
		t.Fatalf("Reap after A crashed: %q, want A's subscriptions once", got)
	}
	for _, e := range reaped {
		if e.Subscriber == "urn:s:a2" && !slices.Equal(e.Topics, []string{"t", "u"}) {
			t.Fatalf("reaped %+v: topics lost", e)
		}
	}
	if es, err := n.B.Reap(ctxFor(t)); err != nil || len(es) != 0 {
		t.Fatalf("a second Reap = %d entries, %v; want none", len(es), err)
	}
}

func testPresenceLive(t *testing.T, n PresenceNodes) {
	join(t, n.A, entry("urn:s:a", "t"))
	time.Sleep(2 * presenceTTL) // heartbeats keep A alive
	if es, err := n.B.Reap(ctxFor(t)); err != nil || len(es) != 0 {
		t.Fatalf("Reap of a live node = %d entries, %v; want none", len(es), err)
	}
	if got := subscribers(t, "List", list(t, n.B)); !slices.Equal(got, []string{"urn:s:a"}) {
		t.Fatalf("List of a live node after two TTLs: %q", got)
	}
}

// samePayload reports whether two payloads are the same, none and JSON
// null alike.
func samePayload(a, b json.RawMessage) bool {
	if string(a) == "null" {
		a = nil
	}
	if string(b) == "null" {
		b = nil
	}
	return string(a) == string(b)
}
