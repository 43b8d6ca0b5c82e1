package reliability

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// ack is one publish the hub answered 200.
type ack struct {
	publisher, seq int
	data, id       string
}

// ledger records the acknowledged publishes, the promise a hub must keep.
type ledger struct {
	mu     sync.Mutex
	acks   []ack
	byData map[string]ack
}

func (l *ledger) add(a ack) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byData == nil {
		l.byData = map[string]ack{}
	}
	l.acks = append(l.acks, a)
	l.byData[a.data] = a
}

// snapshot returns the publishes acknowledged so far.
func (l *ledger) snapshot() []ack {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acks[:len(l.acks):len(l.acks)]
}

func (l *ledger) lookup(data string) (ack, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.byData[data]
	return a, ok
}

// payload is the data of publisher k's n-th attempt: unique, so that a
// duplicate delivery is visible.
func payload(k, n int) string { return fmt.Sprintf("p%d-%d", k, n) }

func parsePayload(data string) (k, n int, ok bool) {
	ks, ns, found := strings.Cut(strings.TrimPrefix(data, "p"), "-")
	if !found || !strings.HasPrefix(data, "p") {
		return 0, 0, false
	}
	k, err1 := strconv.Atoi(ks)
	n, err2 := strconv.Atoi(ns)
	return k, n, err1 == nil && err2 == nil
}

// publisher publishes to topic through pick() until ctx ends, one request
// at a time, recording every acknowledged one. A failed attempt is not
// retried with the same data: the hub may or may not have stored it.
type publisher struct {
	k        int
	topic    string
	tok      string
	pick     func() string
	ledger   *ledger
	failures atomic.Int64
}

// startPublishers runs crashPublishers publishers of topic into l,
// publisher k sending to whichever hub pick(k) names, until stop is called;
// stop is idempotent and waits for them. failures then tells how many of
// their publishes failed.
func startPublishers(ctx context.Context, topic, tok string, pick func(k int) func() string, l *ledger) (stop func(), failures func() int64) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for k := range crashPublishers {
		p := &publisher{k: k, topic: topic, tok: tok, pick: pick(k), ledger: l}
		wg.Go(func() {
			p.run(ctx)
			failed.Add(p.failures.Load())
		})
	}
	var once sync.Once
	return func() { once.Do(func() { cancel(); wg.Wait() }) }, failed.Load
}

func (p *publisher) run(ctx context.Context) {
	c := &http.Client{Timeout: 5 * time.Second}
	defer c.CloseIdleConnections()
	for n := 0; ctx.Err() == nil; n++ {
		data := payload(p.k, n)
		id, err := publish(ctx, c, p.pick(), p.tok, url.Values{"topic": {p.topic}, "data": {data}})
		if err != nil {
			p.failures.Add(1)
			// A dead hub refuses at once; do not spin.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p.ledger.add(ack{publisher: p.k, seq: n, data: data, id: id})
	}
}

// publishMarker publishes data with publisher number k through pick()
// until a hub acknowledges it, and records it.
func publishMarker(t testing.TB, ctx context.Context, pick func() string, tok, topic string, k, n int, l *ledger) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	defer c.CloseIdleConnections()
	data := payload(k, n)
	deadline := time.Now().Add(markerAck)
	for {
		id, err := publish(ctx, c, pick(), tok, url.Values{"topic": {topic}, "data": {data}})
		if err == nil {
			l.add(ack{publisher: k, seq: n, data: data, id: id})
			return data
		}
		if time.Now().After(deadline) {
			t.Fatalf("marker %s not acknowledged within %v: %v", data, markerAck, err)
		}
		// A fresh attempt gets fresh data: the failed one may be stored.
		n += 1 << 20
		data = payload(k, n)
		time.Sleep(20 * time.Millisecond)
	}
}

// resumer is a subscriber that, like an EventSource, reconnects whenever
// its stream ends and resumes from the last event ID it received.
type resumer struct {
	topic string
	tok   string // "" for anonymous
	pick  func() string

	mu       sync.Mutex
	got      []ack // data and ID of every event, in arrival order
	count    map[string]int
	lastID   string
	connects int
	notify   chan struct{}
}

// runResumers starts n anonymous resumers of topic, the i-th connecting
// through pick(i), that run until ctx ends; the test's cleanup waits for
// them (after its deferred calls, which end ctx).
func runResumers(t testing.TB, ctx context.Context, topic string, n int, pick func(i int) func() string) []*resumer {
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	subs := make([]*resumer, n)
	for i := range subs {
		subs[i] = newResumer(topic, "", pick(i))
		wg.Go(func() { subs[i].run(ctx) })
	}
	return subs
}

func newResumer(topic, tok string, pick func() string) *resumer {
	return &resumer{topic: topic, tok: tok, pick: pick, count: map[string]int{}, notify: make(chan struct{}, 1)}
}

// run subscribes until ctx ends.
func (s *resumer) run(ctx context.Context) {
	for ctx.Err() == nil {
		s.once(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *resumer) once(ctx context.Context) {
	s.mu.Lock()
	last := s.lastID
	s.connects++
	s.mu.Unlock()
	if last == "" {
		last = "earliest"
	}
	r, err := http.NewRequestWithContext(ctx, "GET", s.pick()+"/.well-known/mercure?topic="+url.QueryEscape(s.topic), nil)
	if err != nil {
		return
	}
	r.Header.Set("Last-Event-ID", last)
	if s.tok != "" {
		r.Header.Set("Authorization", "Bearer "+s.tok)
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return
	}
	for ev, err := range sse.Events(resp.Body) {
		if err != nil {
			return
		}
		s.mu.Lock()
		s.got = append(s.got, ack{data: ev.Data, id: ev.ID})
		s.count[ev.Data]++
		if ev.ID != "" {
			s.lastID = ev.ID
		}
		s.mu.Unlock()
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

// waitFor waits until data has arrived.
func (s *resumer) waitFor(data string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		n := s.count[data]
		s.mu.Unlock()
		if n > 0 {
			return true
		}
		select {
		case <-s.notify:
		case <-deadline:
			return false
		}
	}
}

// verdict compares what a resumer received with the acknowledged publishes.
type verdict struct {
	acked, received, lost, duplicated, outOfOrder, wrongID, unacked int
	firstProblems                                                   []string
}

func (v *verdict) problem(format string, args ...any) {
	if len(v.firstProblems) < 10 {
		v.firstProblems = append(v.firstProblems, fmt.Sprintf(format, args...))
	}
}

// check holds s to acks: each of them received exactly once with its ID,
// each publisher's in the order it published them; nothing received twice.
func (s *resumer) check(l *ledger, acks []ack) verdict {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := verdict{acked: len(acks), received: len(s.got)}
	for _, a := range acks {
		if s.count[a.data] == 0 {
			v.lost++
			v.problem("lost %s (ID %s)", a.data, a.id)
		}
	}
	lastSeq := map[int]int{}
	for _, g := range s.got {
		if s.count[g.data] > 1 {
			v.duplicated++
			v.problem("duplicate %s (ID %s)", g.data, g.id)
			continue
		}
		k, n, ok := parsePayload(g.data)
		if !ok {
			v.problem("foreign event %q", g.data)
			continue
		}
		if prev, seen := lastSeq[k]; seen && n <= prev {
			v.outOfOrder++
			v.problem("%s after p%d-%d", g.data, k, prev)
		}
		lastSeq[k] = n
		a, ok := l.lookup(g.data)
		switch {
		case !ok:
			v.unacked++ // stored, but its answer was lost in the crash
		case a.id != g.id:
			v.wrongID++
			v.problem("%s arrived with ID %s, acknowledged as %s", g.data, g.id, a.id)
		}
	}
	return v
}

func (v verdict) ok() bool {
	return v.lost == 0 && v.duplicated == 0 && v.outOfOrder == 0 && v.wrongID == 0
}

// awaitMarker waits until every subscriber has received marker m, and
// holds each to the acknowledgements made before it.
func awaitMarker(t *testing.T, what string, subs []*resumer, l *ledger, m string, before []ack) {
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

// tally sums the subscribers' verdicts against everything acknowledged,
// and counts their connections.
func tally(subs []*resumer, l *ledger) (sum verdict, connects int) {
	for _, s := range subs {
		v := s.check(l, l.snapshot())
		sum.lost += v.lost
		sum.duplicated += v.duplicated
		sum.outOfOrder += v.outOfOrder
		sum.received += v.received
		sum.unacked += v.unacked
		s.mu.Lock()
		connects += s.connects
		s.mu.Unlock()
	}
	return sum, connects
}
