package mercure

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
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
func (h *Handler) join(ctx context.Context, s *activeSub) {
	if h.presence == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), presenceTimeout)
	defer cancel()
	e := hub.PresenceEntry{Subscriber: s.subscriber, Topics: s.topics, Payload: s.payload, Selectors: s.matchers, Payloads: s.payloads}
	if err := h.presence.Join(ctx, e); err != nil {
		h.log.WarnContext(ctx, "mercure: record the subscription in the cluster's presence", "subscriber", s.subscriber, "err", err)
	}
}

// leave removes an ended subscriber from the cluster's presence.
func (h *Handler) leave(ctx context.Context, s *activeSub) {
	if h.presence == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), presenceTimeout)
	defer cancel()
	if err := h.presence.Leave(ctx, s.subscriber); err != nil {
		h.log.WarnContext(ctx, "mercure: remove the subscription from the cluster's presence", "subscriber", s.subscriber, "err", err)
	}
}

// cluster returns the active subscriptions of every live node of the
// cluster sharing the presence, in dialect d, oldest first.
func (h *Handler) cluster(ctx context.Context, d dialect) ([]*activeSub, error) {
	es, err := h.presence.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the cluster's subscriptions: %w", err)
	}
	slices.SortFunc(es, func(a, b hub.PresenceEntry) int {
		return cmp.Or(a.Since.Compare(b.Since), cmp.Compare(a.Subscriber, b.Subscriber))
	})
	subs := make([]*activeSub, 0, len(es))
	for _, e := range es {
		if s := fromPresence(e); s.d == d {
			subs = append(subs, s)
		}
	}
	return subs, nil
}

// fromPresence is the subscription a presence entry records.
func fromPresence(e hub.PresenceEntry) *activeSub {
	s := &activeSub{subscriber: e.Subscriber, topics: e.Topics, payload: e.Payload}
	if len(e.Selectors) > 0 {
		s.d, s.matchers = dialect1, e.Selectors
		// A payload per matcher, whatever the entry holds; none is
		// nil, as in this node's own subscriptions.
		s.payloads = make([]json.RawMessage, len(s.matchers))
		for i := range min(len(e.Payloads), len(s.payloads)) {
			if string(e.Payloads[i]) != "null" {
				s.payloads[i] = e.Payloads[i]
			}
		}
	}
	return s
}

// subscriptions returns, for the subscriptions API request r, the active
// subscriptions in dialect d whose subscriber is subscriber ("" for all):
// this node's, or with a presence every live node's, oldest first. When
// the cluster's cannot be listed it answers r with a 503 and reports
// false.
func (h *Handler) subscriptions(w http.ResponseWriter, r *http.Request, d dialect, subscriber string) ([]*activeSub, bool) {
	if h.presence == nil {
		return h.subs.list(d, subscriber), true
	}
	subs, err := h.cluster(r.Context(), d)
	if err != nil {
		h.log.WarnContext(r.Context(), "mercure: subscriptions API", "err", err)
		h.refuseSubscription(w, &refusal{status: http.StatusServiceUnavailable, msg: "the cluster's subscriptions cannot be listed now"})
		return nil, false
	}
	if subscriber != "" {
		subs = slices.DeleteFunc(subs, func(s *activeSub) bool { return s.subscriber != subscriber })
	}
	return subs, true
}

// Reap announces, on hb, the end of the subscriptions of the dead nodes of
// the cluster sharing p (see hub.Presence): each is announced once, by the
// node whose Reap claimed it.
func Reap(ctx context.Context, hb *hub.Hub, p hub.Presence, log *slog.Logger) error {
	es, err := p.Reap(ctx)
	for _, e := range es {
		announceSub(ctx, hb, log, fromPresence(e), false)
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
