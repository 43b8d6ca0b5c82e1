package hub

import (
	"fmt"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// Follower back-off after a Log.Follow failure.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// follow is a follower goroutine of the hub, of its log or of its
// announcements (what names which in the logs): it follows l from the
// given Seq and hands each update to fanOut in log order. After a failure
// it backs off and follows again from the last Seq it handed over, so
// nothing is lost or repeated.
func (h *Hub) follow(l Log, what string, after uint64, fanOut func(*Update)) {
	defer h.followers.Done()
	backoff := minBackoff
	for {
		var failure error
		for u, err := range l.Follow(h.ctx, after) {
			if err != nil {
				failure = err
				break
			}
			if u.Seq <= after {
				continue // a log must not do this; never fan out twice
			}
			after = u.Seq
			fanOut(u)
			backoff = minBackoff
		}
		if h.ctx.Err() != nil {
			return
		}
		if failure != nil {
			h.logger.Error("hub: following the "+what+" failed; retrying", "after", after, "backoff", backoff, "err", failure)
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
// subscriber can go live atomically between two updates. Only the selectors
// that can match one of u's topics are evaluated: exact topics by lookup,
// the others through the index of their literal prefixes.
func (h *Hub) dispatch(u *Update) {
	e, err := sse.AppendEvent(nil, eventOf(u))
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pos = u.Seq
	h.recent.add(u)
	if err != nil {
		// Publish validates, but a shared log may hold updates from
		// elsewhere.
		h.logger.Warn("hub: skipping an update that cannot be encoded", "id", u.ID, "seq", u.Seq, "err", err)
		return
	}
	h.fanout(u, e)
}

// fanout queues e, the encoded u, for every registered subscriber the
// delivery rule gives u to. u.Seq tells this update from the previous one.
// Called with h.mu held.
func (h *Hub) fanout(u *Update, e []byte) {
	for _, t := range u.Topics {
		if x := h.exact[t]; x != nil {
			for s := range x.subs {
				h.offer(s, u, e)
			}
		}
	}
	if h.indexed == 0 && h.urlIndexed == 0 {
		return
	}
	for _, t := range u.Topics {
		visit := func(x *selEntry) {
			if x.mark == u.Seq || !x.m.Match(t) {
				return // matched one of u's topics already, or no match
			}
			x.mark = u.Seq
			for s := range x.subs {
				h.offer(s, u, e)
			}
		}
		h.index.walk(t, visit)
		if h.urlIndexed == 0 {
			continue
		}
		// One parse of the topic for every URL pattern it may match.
		if tu, ok := parseTopicURL(t, h.urlBase); ok {
			h.urlIndex.walk(tu.key(), func(x *selEntry) {
				if x.mark == u.Seq || !x.m.(urlPatternMatcher).matchURL(&tu) {
					return
				}
				x.mark = u.Seq
				for s := range x.subs {
					h.offer(s, u, e)
				}
			})
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
	if u.Private && !granted(s.auth, u) {
		return
	}
	if !s.enqueue(e, h.queueSize) {
		// Deleting from the maps dispatch is ranging over is safe in Go.
		h.unregister(s)
		h.slow.Add(1)
	}
}

// granted reports whether one of the authorized selectors auth matches one
// of u's topics. Subscribers share selectors: each is evaluated once per
// update, whatever the number of subscribers it authorizes (a URL pattern
// costs a URL parse). Called with h.mu held, during u's fan-out.
func granted(auth []*selEntry, u *Update) bool {
	for _, x := range auth {
		if x.grantSeq != u.Seq {
			x.grantSeq, x.granted = u.Seq, false
			for _, t := range u.Topics {
				if x.m.Match(t) {
					x.granted = true
					break
				}
			}
		}
		if x.granted {
			return true
		}
	}
	return false
}

// matchAny reports whether one of sels matches one of topics.
func matchAny(sels []*selEntry, topics []string) bool {
	for _, x := range sels {
		for _, t := range topics {
			if x.m.Match(t) {
				return true
			}
		}
	}
	return false
}

// register adds s to the subscribers of its topic selectors, for the
// fan-out. Called with h.mu held.
func (h *Hub) register(s *Subscriber) {
	for _, x := range s.sels {
		if x.subs == nil {
			x.subs = make(map[*Subscriber]struct{})
		}
		x.subs[s] = struct{}{}
	}
	s.registered = true
}

// unregister removes s from the subscribers of its topic selectors. Called
// with h.mu held.
func (h *Hub) unregister(s *Subscriber) {
	if !s.registered {
		return
	}
	for _, x := range s.sels {
		delete(x.subs, s)
	}
	s.registered = false
}

// acquire returns the compiled entries of the topic selectors topics and
// of the authorized selectors auth, compiling those the hub does not hold
// yet outside its lock, and counts them as held until release. It fails
// with ErrTooManySelectors beyond h.maxSels distinct selectors, ErrClosed,
// or an error wrapping ErrInvalidSubscription for a selector that does not
// compile.
func (h *Hub) acquire(topics, auth []selKey) (sels, auths []*selEntry, err error) {
	var compiled map[selKey]Matcher
	for {
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return nil, nil, ErrClosed
		}
		var missing []selKey
		fresh := 0
		for _, ks := range [][]selKey{topics, auth} {
			for _, k := range ks {
				if h.sels[k] != nil {
					continue
				}
				fresh++
				if compiled[k] == nil {
					missing = append(missing, k)
				}
			}
		}
		if len(missing) == 0 {
			defer h.mu.Unlock()
			if h.maxSels > 0 && len(h.sels)+fresh > h.maxSels {
				return nil, nil, fmt.Errorf("%w: the hub holds %d, at most %d allowed", ErrTooManySelectors, len(h.sels), h.maxSels)
			}
			sels = h.hold(topics, compiled)
			for _, x := range sels {
				if x.topicRefs++; x.topicRefs == 1 {
					h.indexEntry(x)
				}
			}
			return sels, h.hold(auth, compiled), nil
		}
		h.mu.Unlock()
		// Compile outside the lock: the fan-out must not wait for it.
		if compiled == nil {
			compiled = make(map[selKey]Matcher, len(missing))
		}
		for _, k := range missing {
			m, err := h.compileSelector(k)
			if err != nil {
				return nil, nil, err
			}
			compiled[k] = m
		}
	}
}

// hold counts one more holder of each of keys, creating the missing entries
// from compiled, and returns the entries. Called with h.mu held.
func (h *Hub) hold(keys []selKey, compiled map[selKey]Matcher) []*selEntry {
	xs := make([]*selEntry, len(keys))
	for i, k := range keys {
		x := h.sels[k]
		if x == nil {
			x = &selEntry{key: k, m: compiled[k]}
			h.sels[k] = x
		}
		x.refs++
		xs[i] = x
	}
	return xs
}

// release undoes acquire for s's entries. Called with h.mu held, once per
// Subscriber (when it is closed).
func (h *Hub) release(s *Subscriber) {
	if h.closed {
		return // Close dropped every entry
	}
	put := func(x *selEntry) {
		if x.refs--; x.refs == 0 {
			delete(h.sels, x.key)
		}
	}
	for _, x := range s.sels {
		if x.topicRefs--; x.topicRefs == 0 {
			h.unindexEntry(x)
		}
		put(x)
	}
	for _, x := range s.auth {
		put(x)
	}
}

// indexEntry makes x, which has just gained its first topic holder,
// visible to the fan-out. Called with h.mu held.
func (h *Hub) indexEntry(x *selEntry) {
	prefix, complete := x.m.LiteralPrefix()
	if complete && x.key.Syntax == "" {
		h.exact[prefix] = x
		return
	}
	if m, ok := x.m.(urlPatternMatcher); ok {
		h.urlIndex.insert(m.key, x)
		h.urlIndexed++
		return
	}
	h.index.insert(prefix, x)
	h.indexed++
}

// unindexEntry undoes indexEntry once x has no topic holder left. Called
// with h.mu held.
func (h *Hub) unindexEntry(x *selEntry) {
	prefix, _ := x.m.LiteralPrefix()
	if x.node == nil {
		delete(h.exact, prefix)
		return
	}
	if m, ok := x.m.(urlPatternMatcher); ok {
		h.urlIndex.remove(m.key, x)
		h.urlIndexed--
		return
	}
	h.index.remove(prefix, x)
	h.indexed--
}
