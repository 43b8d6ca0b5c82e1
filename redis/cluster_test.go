package redis_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/redis"
	"github.com/ssehub/ssehub/redis/redistest"
	"github.com/ssehub/ssehub/sse"
)

// node is one hub process: a Hub on its own redis.Log.
type node struct {
	log  *redis.Log
	hub  *hub.Hub
	dead atomic.Bool
}

func startNodes(t *testing.T, srv *redistest.Server, prefix string, n int) []*node {
	t.Helper()
	nodes := make([]*node, n)
	for i := range nodes {
		l := openLog(t, srv, redis.Options{Prefix: prefix})
		h, err := hub.New(hub.Options{Log: l, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatalf("hub.New on node %d: %v", i, err)
		}
		nd := &node{log: l, hub: h}
		t.Cleanup(func() { nd.kill() })
		nodes[i] = nd
	}
	return nodes
}

// kill stops the node the way a crashed process would stop serving: its
// subscribers are cut off and its log connection goes away.
func (n *node) kill() {
	if n.dead.Swap(true) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n.hub.Close(ctx)
	n.log.Close()
}

// client is one SSE subscriber. It subscribes on a node, decodes what Run
// writes with the sse package, and when Run ends (its node died, or it fell
// behind) resubscribes on a live node from the last event ID it received,
// as an EventSource would.
type client struct {
	topics []string

	mu   sync.Mutex
	ids  []string
	errs []error
	more chan struct{}
}

func (c *client) run(ctx context.Context, nodes []*node, first int) {
	lastID := ""
	for i := first; ctx.Err() == nil; i++ {
		nd := nodes[i%len(nodes)]
		if nd.dead.Load() {
			continue
		}
		sub, err := nd.hub.Subscribe(ctx, hub.Subscription{Topics: c.topics, LastEventID: lastID})
		if err != nil {
			c.fail(err)
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if lastID == "" {
			// A live-only subscription starts after this ID; resuming from
			// it later loses nothing.
			lastID = sub.LastEventID()
		}
		pr, pw := io.Pipe()
		decoded := make(chan string)
		go func() {
			defer close(decoded)
			dec := sse.NewDecoder(pr)
			for ev, err := range dec.Events() {
				if err != nil {
					pr.CloseWithError(err)
					return
				}
				c.mu.Lock()
				c.ids = append(c.ids, ev.ID)
				c.mu.Unlock()
				select {
				case c.more <- struct{}{}:
				default:
				}
			}
			decoded <- dec.LastEventID()
		}()
		err = sub.Run(ctx, pw)
		pw.Close()
		if id, ok := <-decoded; ok && id != "" {
			lastID = id
		}
		if err != nil && !errors.Is(err, hub.ErrClosed) {
			c.fail(err)
		}
	}
}

func (c *client) fail(err error) {
	c.mu.Lock()
	c.errs = append(c.errs, err)
	c.mu.Unlock()
}

func (c *client) received() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.ids)
}

func (c *client) wants(u *hub.Update) bool {
	for _, sel := range c.topics {
		if sel == "*" || sel == "https://example.com/books/{id}" || slices.Contains(u.Topics, sel) {
			return true
		}
	}
	return false
}

// TestThreeNodes runs three hubs on one Redis with publishers and
// subscribers spread over them, and checks that every subscriber receives
// every matching update exactly once, in the log's order, through a quiet
// run, a Redis restart and the loss of a node.
func TestThreeNodes(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	for _, tc := range []struct {
		name  string
		fault func(t *testing.T, nodes []*node)
	}{
		{"Steady", nil},
		{"RedisRestart", func(t *testing.T, _ []*node) {
			if err := srv.Restart(); err != nil {
				t.Errorf("restarting Redis: %v", err)
			}
		}},
		{"NodeDown", func(t *testing.T, nodes []*node) { nodes[2].kill() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runCluster(t, srv, tc.fault)
		})
	}
}

func runCluster(t *testing.T, srv *redistest.Server, fault func(*testing.T, []*node)) {
	const (
		publishers = 4
		each       = 150 // confirmed publishes per publisher
		clients    = 30
	)
	nodes := startNodes(t, srv, newPrefix(t), 3)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	selectors := [][]string{
		{"https://example.com/books/1"},
		{"https://example.com/books/{id}"},
		{"*"},
		{"https://example.com/books/0", "https://example.com/books/2"},
	}
	cs := make([]*client, clients)
	var running sync.WaitGroup
	runCtx, stopClients := context.WithCancel(ctx)
	defer func() {
		stopClients()
		running.Wait()
	}()
	for i := range cs {
		cs[i] = &client{topics: selectors[i%len(selectors)], more: make(chan struct{}, 1)}
		running.Go(func() { cs[i].run(runCtx, nodes, i) })
	}
	// Subscribers go live asynchronously; wait until every hub has them all
	// before publishing, so each must receive every update.
	waitFor(t, "subscribers", func() bool {
		var n int64
		for _, nd := range nodes {
			n += nd.hub.Stats().Subscribers
		}
		return n == clients
	})

	var (
		confirmed atomic.Int64
		pubs      sync.WaitGroup
		failures  atomic.Int64
	)
	published := make([][]string, publishers)
	for p := range publishers {
		pubs.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(p), 1))
			for attempt := 0; len(published[p]) < each && ctx.Err() == nil; attempt++ {
				nd := nodes[rng.IntN(len(nodes))]
				if nd.dead.Load() {
					continue
				}
				u := &hub.Update{
					ID:     fmt.Sprintf("p%d-%d", p, attempt),
					Topics: []string{fmt.Sprintf("https://example.com/books/%d", rng.IntN(3))},
					Data:   "x",
				}
				if _, err := nd.hub.Publish(ctx, u); err != nil {
					// Not confirmed, so not counted; it may still be in
					// the log, which is the reference below.
					failures.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				published[p] = append(published[p], u.ID)
				if confirmed.Add(1) == publishers*each/2 && fault != nil {
					fault(t, nodes)
				}
			}
		})
	}
	pubs.Wait()
	if ctx.Err() != nil {
		t.Fatalf("publishing did not finish: %v", ctx.Err())
	}
	t.Logf("%d publishes failed during the fault", failures.Load())

	// The log is the reference: every confirmed publish must be in it, and
	// every subscriber must receive exactly its matching part, in order.
	var ref *redis.Log
	for _, nd := range nodes {
		if !nd.dead.Load() {
			ref = nd.log
		}
	}
	var logged []*hub.Update
	for u, err := range ref.Read(ctx, 0) {
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		logged = append(logged, u)
	}
	inLog := make(map[string]bool, len(logged))
	for _, u := range logged {
		inLog[u.ID] = true
	}
	for p, ids := range published {
		for _, id := range ids {
			if !inLog[id] {
				t.Fatalf("publisher %d: confirmed update %s is not in the log", p, id)
			}
		}
	}
	for i, c := range cs {
		var want []string
		for _, u := range logged {
			if c.wants(u) {
				want = append(want, u.ID)
			}
		}
		deadline := time.After(30 * time.Second)
		for len(c.received()) < len(want) {
			select {
			case <-c.more:
			case <-time.After(100 * time.Millisecond):
			case <-deadline:
				c.mu.Lock()
				errs := c.errs
				c.mu.Unlock()
				t.Fatalf("client %d %v: received %d of %d updates; errors: %v", i, c.topics, len(c.received()), len(want), errs)
			}
		}
	}
	// Anything sent twice would arrive by now.
	time.Sleep(200 * time.Millisecond)
	for i, c := range cs {
		var want []string
		for _, u := range logged {
			if c.wants(u) {
				want = append(want, u.ID)
			}
		}
		got := c.received()
		if !slices.Equal(got, want) {
			for j := range min(len(got), len(want)) {
				if got[j] != want[j] {
					t.Fatalf("client %d %v: event %d is %s, want %s (%d received, %d wanted)", i, c.topics, j, got[j], want[j], len(got), len(want))
				}
			}
			t.Fatalf("client %d %v: received %d events, want %d", i, c.topics, len(got), len(want))
		}
	}
	t.Logf("%d updates in the log, %d subscribers each received their part exactly once", len(logged), clients)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
