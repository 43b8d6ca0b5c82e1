package hub

import (
	"context"
	"encoding/json"
	"time"
)

// DefaultPresenceTTL is how long a node's subscriptions stay listed after
// its last heartbeat when a Presence's options leave the TTL zero: a node
// that crashes has its subscriptions marked inactive within about this.
const DefaultPresenceTTL = 15 * time.Second

// Presence is the set of active subscriptions of every node sharing a log,
// for the subscriptions API and events of a cluster. Each node records its
// own subscriptions, and its implementation renews a heartbeat for the
// node while it runs; a node whose heartbeat is older than the TTL (it
// crashed, or lost the store) is dead, and Reap hands its subscriptions to
// one surviving node to announce as inactive.
//
// Implementations: the redis and jetstream packages, beside their logs.
// Every method is safe for concurrent use.
type Presence interface {
	// Join records e as active on this node. e.Node is set by the
	// implementation.
	Join(ctx context.Context, e PresenceEntry) error
	// Leave removes this node's subscription with the given subscriber ID.
	Leave(ctx context.Context, subscriber string) error
	// List returns the subscriptions of every live node, in no order.
	List(ctx context.Context) ([]PresenceEntry, error)
	// Reap removes the subscriptions of dead nodes and returns them. Each
	// is returned to one caller, whichever node calls.
	Reap(ctx context.Context) ([]PresenceEntry, error)
}

// PresenceEntry is one subscriber's subscriptions on one node: a Mercure
// 0.x subscriber's topic selectors and its token's payload, or a Mercure
// 1.0 subscriber's selectors (its matchers) with each one's payload.
type PresenceEntry struct {
	Subscriber string          `json:"subscriber"`
	Topics     []string        `json:"topics,omitempty"`
	Payload    json.RawMessage `json:"payload,omitempty"`
	Selectors  []Selector      `json:"selectors,omitempty"`
	// Payloads are the payloads of Selectors, in their order; null for
	// none.
	Payloads []json.RawMessage `json:"payloads,omitempty"`
	Node     string            `json:"node"`
	// Since is when the store recorded the subscription, by the store's
	// clock, set by the implementation (nodes' clocks may disagree); the
	// API lists subscriptions in this order.
	Since time.Time `json:"since"`
}

// StartHeartbeat calls beat every interval, in a goroutine of its own,
// until ctx is done or stop is called, and hands its failures, while it
// runs, to failed. Each call is bounded by interval, so that a stalled
// store cannot stretch the gap between two beats past it. stop returns
// once the goroutine has; it may be called more than once. It is the loop
// of the Presence implementations' node heartbeats.
func StartHeartbeat(ctx context.Context, interval time.Duration, beat func(context.Context) error, failed func(error)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
			bctx, cancelBeat := context.WithTimeout(ctx, interval)
			err := beat(bctx)
			cancelBeat()
			if err != nil && ctx.Err() == nil {
				failed(err)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
