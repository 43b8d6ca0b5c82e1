package hub_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// The concurrency tests publish to these topics; every fifth update is
// private. The end update, which every subscriber matches, closes the stream.
const (
	topicFmt = "https://example.com/t/%d"
	endTopic = "https://example.com/end"
	endID    = "end"
)

// kinds are the subscriptions the concurrency tests use, with the delivery
// rule spelled out independently of the hub's matcher.
var kinds = []struct {
	sub   hub.Subscription
	wants func(topic int, private bool) bool
}{
	{hub.Subscription{Topics: []string{"*"}}, func(_ int, p bool) bool { return !p }},
	{hub.Subscription{Topics: []string{"https://example.com/t/{n}", endTopic}, Authorized: []string{"*"}},
		func(int, bool) bool { return true }},
	{hub.Subscription{Topics: []string{"https://example.com/t/1", endTopic}, Authorized: []string{"https://example.com/t/1"}},
		func(n int, _ bool) bool { return n == 1 }},
	{hub.Subscription{Topics: []string{"https://example.com/t/2", "https://example.com/t/{n}", endTopic}, Authorized: []string{"https://example.com/t/{n}"}},
		func(n int, p bool) bool { return !p || n >= 0 }},
}

// history is the log's order, read back at the end of a test.
type history struct {
	ids     []string
	topic   []int // -1 for the end update
	private []bool
	index   map[string]int
}

func readHistory(t *testing.T, l hub.Log) *history {
	t.Helper()
	hist := &history{index: map[string]int{}}
	for u, err := range l.Read(t.Context(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		n := -1
		if u.Topics[0] != endTopic {
			fmt.Sscanf(u.Topics[0], topicFmt, &n)
		}
		hist.index[u.ID] = len(hist.ids)
		hist.ids = append(hist.ids, u.ID)
		hist.topic = append(hist.topic, n)
		hist.private = append(hist.private, u.Private)
	}
	return hist
}

// expected returns what kind k must receive after the update with ID start
// ("earliest": from the beginning).
func (hist *history) expected(t *testing.T, k int, start string) []string {
	t.Helper()
	from := 0
	if start != "earliest" {
		i, ok := hist.index[start]
		if !ok {
			t.Fatalf("start ID %q is not in the log", start)
		}
		from = i + 1
	}
	var out []string
	for i := from; i < len(hist.ids); i++ {
		if hist.topic[i] < 0 || kinds[k].wants(hist.topic[i], hist.private[i]) {
			out = append(out, hist.ids[i])
		}
	}
	return out
}

// client is one subscriber's life: it subscribes from last, runs, and on a
// slow disconnect resubscribes from the last ID it received, until ctx is
// done or it has seen the end update.
type client struct {
	kind        int
	last        string        // the Last-Event-ID of its first subscription
	delay       time.Duration // per Write, to play a slow client
	start       string        // the LastEventID the hub answered first
	ids         []string      // everything received, across reconnections
	disconnects int
	err         error
}

func (c *client) run(ctx context.Context, h *hub.Hub) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	last := c.last
	for ctx.Err() == nil {
		s := kinds[c.kind].sub
		s.LastEventID = last
		sub, err := h.Subscribe(ctx, s)
		if err != nil {
			if ctx.Err() == nil {
				c.err = err
			}
			return
		}
		if c.start == "" {
			c.start = sub.LastEventID()
		}
		if sub.HistoryIncomplete() {
			c.err = fmt.Errorf("Last-Event-ID %q not found", last)
			sub.Close()
			return
		}
		w := &idWriter{stopAt: endID, stop: cancel, delay: c.delay}
		err = sub.Run(ctx, w)
		c.ids = append(c.ids, w.ids...)
		if w.err != nil {
			c.err = w.err
			return
		}
		switch {
		case errors.Is(err, hub.ErrSlowSubscriber):
			c.disconnects++
			if len(c.ids) > 0 {
				last = c.ids[len(c.ids)-1]
			} else {
				last = c.start
			}
		case err != nil:
			c.err = err
			return
		}
	}
}

// check compares what c received with the log: all of it when complete,
// else a prefix.
func (c *client) check(t *testing.T, hist *history, complete bool) {
	t.Helper()
	if c.err != nil {
		t.Errorf("client %+v: %v", c.kind, c.err)
		return
	}
	if c.start == "" {
		return // left before it subscribed
	}
	want := hist.expected(t, c.kind, c.start)
	got := c.ids
	if !complete {
		want = want[:min(len(want), len(got))]
	}
	if !slices.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Errorf("kind %d from %q (%d disconnects): got %d events, want %d; first difference at %d: got %q, want %q",
			c.kind, c.start, c.disconnects, len(got), len(want), i, at(got, i), at(want, i))
	}
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "<none>"
}

// publishers publish n updates each (or until stop is closed), recording
// the IDs published so far.
type publishers struct {
	mu  sync.Mutex
	ids []string
	n   atomic.Int64
}

func (p *publishers) run(t *testing.T, h *hub.Hub, count, each int, pause time.Duration, stop <-chan struct{}) {
	var wg sync.WaitGroup
	for w := range count {
		wg.Go(func() {
			for i := range each {
				select {
				case <-stop:
					return
				default:
				}
				n := p.n.Add(1)
				id, err := h.Publish(context.Background(), &hub.Update{
					Topics:  []string{fmt.Sprintf(topicFmt, (w+i)%4)},
					Data:    fmt.Sprintf("publisher %d update %d", w, i),
					Private: n%5 == 0,
				})
				if err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
				p.mu.Lock()
				p.ids = append(p.ids, id)
				p.mu.Unlock()
				if pause > 0 {
					time.Sleep(pause)
				}
			}
		})
	}
	wg.Wait()
}

// pick returns a random Last-Event-ID: an update published so far, or
// (sometimes) "" or "earliest".
func (p *publishers) pick(r *rand.Rand) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch x := r.IntN(10); {
	case x == 0 || len(p.ids) == 0:
		return ""
	case x == 1:
		return "earliest"
	default:
		return p.ids[r.IntN(len(p.ids))]
	}
}

func publishEnd(t *testing.T, h *hub.Hub) {
	t.Helper()
	publish(t, h, &hub.Update{ID: endID, Topics: []string{endTopic, "https://example.com/t/-1"}})
}

// TestExactlyOnceWhilePublishing has subscribers join with last event IDs
// from the middle of the stream while it is being published: each must get
// exactly the updates after its ID that it may receive, in log order.
func TestExactlyOnceWhilePublishing(t *testing.T) {
	log := newLog(t, hub.MemoryLogOptions{MaxLen: 1 << 20})
	h := newHub(t, hub.Options{Log: log, QueueSize: 1 << 16})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var p publishers
	var wg sync.WaitGroup
	clients := make([]*client, 24)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range clients {
		delay := time.Duration(r.IntN(60)) * time.Millisecond
		seed := r.Uint64()
		c := &client{kind: i % len(kinds)}
		clients[i] = c
		wg.Go(func() {
			time.Sleep(delay)
			c.last = p.pick(rand.New(rand.NewPCG(seed, 0)))
			c.run(ctx, h)
		})
	}
	p.run(t, h, 4, 400, 100*time.Microsecond, nil)
	publishEnd(t, h)
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("clients did not all see the end update in time")
	}

	hist := readHistory(t, log)
	for _, c := range clients {
		if c.disconnects > 0 {
			t.Errorf("a client was disconnected as slow with a queue of %d", 1<<16)
		}
		c.check(t, hist, true)
	}
	if st := h.Stats(); st.Published != 4*400+1 {
		t.Errorf("Published = %d, want %d", st.Published, 4*400+1)
	}
}

// TestStress runs, for a bounded time, concurrent publishers; subscribers
// that stay to the end; subscribers that join and leave again and again;
// and slow subscribers that get disconnected and resume from the last ID
// they received. Every stream, resumed ones concatenated, must be exactly
// the log's matching updates in order, with no gap and no duplicate.
func TestStress(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test")
	}
	log := newLog(t, hub.MemoryLogOptions{MaxLen: 1 << 20})
	h := newHub(t, hub.Options{Log: log, QueueSize: 16})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const publishFor = 1500 * time.Millisecond
	stop := make(chan struct{})
	time.AfterFunc(publishFor, func() { close(stop) })
	var p publishers
	r := rand.New(rand.NewPCG(3, 4))

	var wg sync.WaitGroup
	var stayers, slow []*client
	for i := range 8 {
		c := &client{kind: i % len(kinds)}
		stayers = append(stayers, c)
		delay := time.Duration(r.IntN(800)) * time.Millisecond
		seed := r.Uint64()
		wg.Go(func() {
			time.Sleep(delay)
			c.last = p.pick(rand.New(rand.NewPCG(seed, 0)))
			c.run(ctx, h)
		})
	}
	for i := range 4 {
		c := &client{kind: i % len(kinds), delay: 2 * time.Millisecond}
		slow = append(slow, c)
		wg.Go(func() { c.run(ctx, h) })
	}
	var leftMu sync.Mutex
	var left []*client
	for i := range 6 {
		seed := r.Uint64()
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, 0))
			for {
				select {
				case <-stop:
					return
				default:
				}
				c := &client{kind: i % len(kinds), last: p.pick(r)}
				stay, cancel := context.WithTimeout(ctx, time.Duration(5+r.IntN(100))*time.Millisecond)
				c.run(stay, h)
				cancel()
				leftMu.Lock()
				left = append(left, c)
				leftMu.Unlock()
			}
		})
	}
	p.run(t, h, 4, 100_000, 0, stop)
	publishEnd(t, h)
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("clients did not all see the end update in time")
	}

	hist := readHistory(t, log)
	disconnects := 0
	for _, c := range append(stayers, slow...) {
		c.check(t, hist, true)
		disconnects += c.disconnects
	}
	for _, c := range left {
		c.check(t, hist, false)
	}
	st := h.Stats()
	t.Logf("%d updates, %d subscriptions that left, %d slow disconnects (%d of the slow clients), stats %+v",
		len(hist.ids), len(left), st.SlowDisconnects, disconnects, st)
	if disconnects == 0 {
		t.Error("no slow client was ever disconnected: the test did not exercise resumption")
	}
	if st.Subscribers != 0 {
		t.Errorf("Subscribers = %d after every client left", st.Subscribers)
	}
}
