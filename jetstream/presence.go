package jetstream

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/ssehub/ssehub/hub"
)

// Presence is a hub.Presence in a JetStream key-value bucket beside the
// log's stream (named after it, "_PRESENCE" appended, with its replicas):
// every node sharing the log lists the subscriptions of every live node.
// The key "n.<node>" is a node's heartbeat, "s.<node>.<subscriber>" one of
// its subscriptions. A node is dead when its heartbeat is older than the
// TTL by the servers' clock: the time they stored it, against the time
// they stored this node's latest heartbeat plus the time elapsed since on
// this node's monotonic clock. So the nodes' wall clocks are never
// compared, and their skew does not matter.
type Presence struct {
	l    *Log
	kv   njs.KeyValue
	node string
	ttl  time.Duration
	// now is this node's clock, read only for the time elapsed since
	// clock.local.
	now func() time.Time

	mu sync.Mutex
	// clock is the servers' time of this node's latest heartbeat, and
	// now() when this node read it back.
	clock struct{ server, local time.Time }

	stop func() // stops the heartbeat
}

var _ hub.Presence = (*Presence)(nil)

// reaped is the heartbeat value by which a reaper claims a dead node.
const reaped = "reaped"

// Presence creates or opens the log's presence bucket and starts this
// node's heartbeat, renewed every ttl/3 until Close. ttl 0 means
// hub.DefaultPresenceTTL. The node gets a new random name, so a restarted
// hub is a new node and its predecessor is reaped.
func (l *Log) Presence(ctx context.Context, ttl time.Duration) (*Presence, error) {
	return l.presence(ctx, ttl, time.Now)
}

// presence is Presence on the node clock now.
func (l *Log) presence(ctx context.Context, ttl time.Duration, now func() time.Time) (*Presence, error) {
	if ttl <= 0 {
		ttl = hub.DefaultPresenceTTL
	}
	ctx, cancel := l.bound(ctx)
	defer cancel()
	kv, err := l.js.CreateOrUpdateKeyValue(ctx, njs.KeyValueConfig{
		Bucket:   l.name + "_PRESENCE",
		Replicas: l.stream.CachedInfo().Config.Replicas,
	})
	if err != nil {
		return nil, l.classify(ctx, "presence bucket", err)
	}
	p := &Presence{
		l:    l,
		kv:   kv,
		node: strings.ReplaceAll(uuid.NewString(), "-", ""),
		ttl:  ttl,
		now:  now,
	}
	if err := p.beat(ctx); err != nil {
		return nil, l.classify(ctx, "presence heartbeat", err)
	}
	p.stop = hub.StartHeartbeat(l.ctx, ttl/3, p.beat, func(err error) {
		p.l.logger.Warn("jetstream: presence heartbeat failed", "node", p.node, "err", err)
	})
	return p, nil
}

// Node returns this node's name.
func (p *Presence) Node() string { return p.node }

// beat renews this node's heartbeat and reads back the servers' time of
// it.
func (p *Presence) beat(ctx context.Context) error {
	if _, err := p.kv.Put(ctx, "n."+p.node, nil); err != nil {
		return err
	}
	e, err := p.kv.Get(ctx, "n."+p.node)
	if err != nil {
		return err
	}
	// Read after the servers stored the heartbeat, so that serverNow errs
	// early, and a dead node is found a round trip late, never a live one
	// early.
	local := p.now()
	p.mu.Lock()
	if e.Created().After(p.clock.server) {
		p.clock.server, p.clock.local = e.Created(), local
	}
	p.mu.Unlock()
	return nil
}

// serverNow is the servers' time now, as this node tells it from its
// latest heartbeat.
func (p *Presence) serverNow() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.clock.server.Add(p.now().Sub(p.clock.local))
}

func (p *Presence) key(node, subscriber string) string {
	return "s." + node + "." + base64.RawURLEncoding.EncodeToString([]byte(subscriber))
}

// Join records e as one of this node's subscriptions, since the time the
// servers store it.
func (p *Presence) Join(ctx context.Context, e hub.PresenceEntry) error {
	e.Node, e.Since = p.node, time.Time{}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("jetstream: presence: %w", err)
	}
	ctx, cancel := p.l.bound(ctx)
	defer cancel()
	if _, err := p.kv.Put(ctx, p.key(p.node, e.Subscriber), b); err != nil {
		return p.l.classify(ctx, "presence join", err)
	}
	return nil
}

// Leave removes one of this node's subscriptions.
func (p *Presence) Leave(ctx context.Context, subscriber string) error {
	ctx, cancel := p.l.bound(ctx)
	defer cancel()
	if err := p.kv.Purge(ctx, p.key(p.node, subscriber)); err != nil {
		return p.l.classify(ctx, "presence leave", err)
	}
	return nil
}

// entries returns the current values of the keys matching filter.
func (p *Presence) entries(ctx context.Context, filter string) ([]njs.KeyValueEntry, error) {
	w, err := p.kv.Watch(ctx, filter, njs.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	var out []njs.KeyValueEntry
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return out, fmt.Errorf("%w: presence watch closed", ErrUnavailable)
			}
			if e == nil { // the initial values are all in
				return out, nil
			}
			out = append(out, e)
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
}

// nodes returns the heartbeats, by node name.
func (p *Presence) nodes(ctx context.Context) (map[string]njs.KeyValueEntry, error) {
	es, err := p.entries(ctx, "n.*")
	if err != nil {
		return nil, err
	}
	m := make(map[string]njs.KeyValueEntry, len(es))
	for _, e := range es {
		m[strings.TrimPrefix(e.Key(), "n.")] = e
	}
	return m, nil
}

// live reports whether the heartbeat e is younger than the TTL at the
// servers' time now.
func (p *Presence) live(e njs.KeyValueEntry, now time.Time) bool {
	return string(e.Value()) != reaped && now.Sub(e.Created()) < p.ttl
}

// List returns the subscriptions of the nodes whose heartbeat is younger
// than the TTL.
func (p *Presence) List(ctx context.Context) ([]hub.PresenceEntry, error) {
	ctx, cancel := p.l.bound(ctx)
	defer cancel()
	now := p.serverNow()
	nodes, err := p.nodes(ctx)
	if err != nil {
		return nil, p.l.classify(ctx, "presence list", err)
	}
	es, err := p.entries(ctx, "s.>")
	if err != nil {
		return nil, p.l.classify(ctx, "presence list", err)
	}
	var out []hub.PresenceEntry
	for _, e := range es {
		node, _, _ := strings.Cut(strings.TrimPrefix(e.Key(), "s."), ".")
		if n, ok := nodes[node]; !ok || !p.live(n, now) {
			continue
		}
		var pe hub.PresenceEntry
		if err := json.Unmarshal(e.Value(), &pe); err != nil {
			return nil, fmt.Errorf("jetstream: presence entry %s: %w: %v", e.Key(), ErrCorrupt, err)
		}
		pe.Since = e.Created()
		out = append(out, pe)
	}
	return out, nil
}

// Reap removes the subscriptions of the nodes whose heartbeat is older than
// the TTL and returns them. A reaper claims a dead node by replacing its
// heartbeat at the revision it read, so of concurrent reapers one gets its
// subscriptions.
func (p *Presence) Reap(ctx context.Context) ([]hub.PresenceEntry, error) {
	ctx, cancel := p.l.bound(ctx)
	defer cancel()
	now := p.serverNow()
	nodes, err := p.nodes(ctx)
	if err != nil {
		return nil, p.l.classify(ctx, "presence reap", err)
	}
	var out []hub.PresenceEntry
	for node, hb := range nodes {
		if p.live(hb, now) || node == p.node {
			continue
		}
		if string(hb.Value()) != reaped {
			if _, err := p.kv.Update(ctx, hb.Key(), []byte(reaped), hb.Revision()); err != nil {
				if errors.Is(err, njs.ErrKeyExists) {
					continue // another reaper, or the node came back
				}
				return out, p.l.classify(ctx, "presence reap", err)
			}
		} else if now.Sub(hb.Created()) < p.ttl {
			continue // claimed by a reaper that may still be at work
		}
		es, err := p.entries(ctx, "s."+node+".>")
		if err != nil {
			return out, p.l.classify(ctx, "presence reap", err)
		}
		for _, e := range es {
			var pe hub.PresenceEntry
			if err := json.Unmarshal(e.Value(), &pe); err == nil {
				pe.Since = e.Created()
				out = append(out, pe)
			}
			if err := p.kv.Purge(ctx, e.Key()); err != nil {
				return out, p.l.classify(ctx, "presence reap", err)
			}
		}
		if err := p.kv.Purge(ctx, hb.Key()); err != nil {
			return out, p.l.classify(ctx, "presence reap", err)
		}
	}
	return out, nil
}

// Close stops the heartbeat and removes this node and its subscriptions,
// whose ends the node announces itself.
func (p *Presence) Close() error {
	p.stop()
	if p.l.ctx.Err() != nil {
		return hub.ErrClosed
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	es, err := p.entries(ctx, "s."+p.node+".>")
	for _, e := range es {
		err = errors.Join(err, p.kv.Purge(ctx, e.Key()))
	}
	err = errors.Join(err, p.kv.Purge(ctx, "n."+p.node))
	if err != nil {
		return p.l.classify(ctx, "presence close", err)
	}
	return nil
}
