package mercure

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// presenceTimeout bounds one write to the cluster's presence, which for an
// ended subscription happens after the request's context is done.
const presenceTimeout = 5 * time.Second

// join records a new subscriber in the cluster's presence, if there is
// one. A failure is logged: the subscription works, it is only missing
// from other nodes' listings.
//
// Only Mercure 0.x subscriptions are shared so far: the 1.0 API and events
// still cover this node's.
func (h *Handler) join(ctx context.Context, s *activeSub) {
	if h.presence == nil || s.d == dialect1 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), presenceTimeout)
	defer cancel()
	e := hub.PresenceEntry{Subscriber: s.subscriber, Topics: s.topics, Payload: s.payload, Since: time.Now()}
	if err := h.presence.Join(ctx, e); err != nil {
		h.log.WarnContext(ctx, "mercure: record the subscription in the cluster's presence", "subscriber", s.subscriber, "err", err)
	}
}

// leave removes an ended subscriber from the cluster's presence.
func (h *Handler) leave(ctx context.Context, s *activeSub) {
	if h.presence == nil || s.d == dialect1 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), presenceTimeout)
	defer cancel()
	if err := h.presence.Leave(ctx, s.subscriber); err != nil {
		h.log.WarnContext(ctx, "mercure: remove the subscription from the cluster's presence", "subscriber", s.subscriber, "err", err)
	}
}

// subscriptionDocs returns the documents of the active subscriptions
// whose topic selector is topic ("" for all) and whose subscriber is
// subscriber ("" for all): this node's, or with a presence every live
// node's, oldest first.
func (h *Handler) subscriptionDocs(ctx context.Context, topic, subscriber string) ([]subscriptionDoc, error) {
	if h.presence == nil {
		return h.subs.docs(topic, subscriber), nil
	}
	es, err := h.presence.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the cluster's subscriptions: %w", err)
	}
	slices.SortFunc(es, func(a, b hub.PresenceEntry) int {
		return cmp.Or(a.Since.Compare(b.Since), cmp.Compare(a.Subscriber, b.Subscriber))
	})
	docs := []subscriptionDoc{}
	for _, e := range es {
		if subscriber != "" && e.Subscriber != subscriber {
			continue
		}
		for _, t := range e.Topics {
			if topic == "" || t == topic {
				docs = append(docs, newSubscriptionDoc(t, e.Subscriber, true, e.Payload))
			}
		}
	}
	return docs, nil
}

// Reap announces, on hb, the end of the subscriptions of the dead nodes of
// the cluster sharing p (see hub.Presence): each is announced once, by the
// node whose Reap claimed it.
func Reap(ctx context.Context, hb *hub.Hub, p hub.Presence, log *slog.Logger) error {
	es, err := p.Reap(ctx)
	for _, e := range es {
		announceSub(ctx, hb, log, &activeSub{subscriber: e.Subscriber, topics: e.Topics, payload: e.Payload}, false)
	}
	if len(es) > 0 {
		log.InfoContext(ctx, "mercure: subscriptions of dead nodes marked inactive", "subscriptions", len(es))
	}
	if err != nil {
		return fmt.Errorf("mercure: reaping the subscriptions of dead nodes: %w", err)
	}
	return nil
}

// RunReaper calls Reap every interval until ctx is done, logging failures.
func RunReaper(ctx context.Context, hb *hub.Hub, p hub.Presence, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := Reap(ctx, hb, p, log); err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "mercure: presence", "err", err)
		}
	}
}
