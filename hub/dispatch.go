package hub

import (
	"time"

	"github.com/ssehub/ssehub/sse"
)

// Follower back-off after a Log.Follow failure.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// follow is the hub's one follower goroutine: it follows the log from the
// given Seq and fans out each update in log order. After a failure it backs
// off and follows again from the last Seq it fanned out, so nothing is lost
// or repeated.
func (h *Hub) follow(after uint64) {
	defer close(h.followerDone)
	backoff := minBackoff
	for {
		var failure error
		for u, err := range h.log.Follow(h.ctx, after) {
			if err != nil {
				failure = err
				break
			}
			if u.Seq <= after {
				continue // a log must not do this; never fan out twice
			}
			after = u.Seq
			h.dispatch(u)
			backoff = minBackoff
		}
		if h.ctx.Err() != nil {
			return
		}
		if failure != nil {
			h.logger.Error("hub: following the log failed; retrying", "after", after, "backoff", backoff, "err", failure)
		}
		t := time.NewTimer(backoff)
		select {
		case <-h.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// dispatch encodes u once and queues the bytes for every registered
// subscriber the delivery rule gives it to. It holds h.mu so that a replaying
// subscriber can go live atomically between two updates.
func (h *Hub) dispatch(u *Update) {
	e, err := sse.AppendEvent(nil, eventOf(u))
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pos, h.posID = u.Seq, u.ID
	if err != nil {
		// Publish validates, but a shared log may hold updates from
		// elsewhere.
		h.logger.Warn("hub: skipping an update that cannot be encoded", "id", u.ID, "seq", u.Seq, "err", err)
		return
	}
	for _, t := range u.Topics {
		for s := range h.exact[t] {
			h.offer(s, u, e)
		}
	}
	for sel, subs := range h.groups {
		for _, t := range u.Topics {
			if h.matcher.match(sel, t) {
				for s := range subs {
					h.offer(s, u, e)
				}
				break
			}
		}
	}
}

// offer queues e for s, which matched one of u's topics, if the rest of the
// delivery rule holds and s has not had u yet. Called with h.mu held.
func (h *Hub) offer(s *Subscriber, u *Update, e []byte) {
	if s.mark == u.Seq {
		return // matched by another selector already
	}
	s.mark = u.Seq
	if u.Seq <= s.skip {
		return // replayed before s went live
	}
	if u.Private && !h.matcher.matchAny(s.authorized, u.Topics) {
		return
	}
	if !s.enqueue(e, h.queueSize) {
		// Deleting from the maps dispatch is ranging over is safe in Go.
		h.unregister(s)
		h.slow.Add(1)
	}
}

// register adds s to the indexes. Called with h.mu held.
func (h *Hub) register(s *Subscriber) {
	for _, sel := range s.topics {
		idx := h.exact
		if sel == "*" || isTemplate(sel) {
			idx = h.groups
		}
		set := idx[sel]
		if set == nil {
			set = make(map[*Subscriber]struct{})
			idx[sel] = set
		}
		set[s] = struct{}{}
	}
	s.registered = true
}

// unregister removes s from the indexes. Called with h.mu held.
func (h *Hub) unregister(s *Subscriber) {
	if !s.registered {
		return
	}
	for _, sel := range s.topics {
		idx := h.exact
		if sel == "*" || isTemplate(sel) {
			idx = h.groups
		}
		if set := idx[sel]; set != nil {
			delete(set, s)
			if len(set) == 0 {
				delete(idx, sel)
			}
		}
	}
	s.registered = false
}
