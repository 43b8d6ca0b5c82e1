package hub

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ssehub/ssehub/sse"
)

// EarliestID is the Last-Event-ID value that asks for every kept update, and
// the value of Subscriber.LastEventID when the subscriber starts from the
// oldest kept update.
const EarliestID = "earliest"

// ErrInvalidSubscription is wrapped by Subscribe's error for a subscription
// that cannot be served as it is.
var ErrInvalidSubscription = errors.New("hub: invalid subscription")

// replayChunk is the size at which replay writes what it has encoded, so a
// long history is streamed rather than built up in memory.
const replayChunk = 64 << 10

// maxIdleBuf is the largest write buffer a subscriber keeps between writes:
// a burst must not pin its buffer for the life of an idle connection.
const maxIdleBuf = 64 << 10

// Subscription says what a subscriber receives.
type Subscription struct {
	// Topics are topic selectors: an exact topic, "*", or a URI template.
	// At least one selector, here or in Selectors, is required.
	Topics []string
	// Selectors are topic selectors in the syntaxes of Options.Syntaxes.
	Selectors []Selector
	// Authorized are the Mercure 0.x selectors of the subscriber's token
	// that grant it private updates; with Grants empty too, it receives
	// public updates only.
	Authorized []string
	// Grants are selectors in the syntaxes of Options.Syntaxes (Mercure
	// 1.0's exact and URL pattern grants) granting private updates too.
	Grants []Selector
	// LastEventID is "" for live updates only, the ID of the last update
	// the subscriber received to replay every kept update after it and then
	// go live, or EarliestID to replay every kept update.
	LastEventID string
}

// subscriber states, under Subscriber.mu.
const (
	stateLive      = iota
	stateSlow      // the queue overflowed
	stateClosed    // Subscriber.Close
	stateHubClosed // Hub.Close
)

// Subscriber is one subscription to a Hub. Run streams its updates; Close
// ends it without Run. Its methods are safe for concurrent use, but Run may
// be called only once.
type Subscriber struct {
	// The fan-out touches these for every subscriber of every update:
	// they come first, together, to share as few cache lines as can be.

	// Under h.mu.
	mark uint64 // the last Seq fan-out considered: dedupes across selectors
	skip uint64 // fan-out ignores updates with Seq ≤ skip (already replayed)

	// Under mu: the queue the fan-out fills and Run or Drain empties.
	mu       sync.Mutex
	q        [][]byte
	ready    func() // Attach's callback, nil if none
	state    int32
	notified bool // ready was called and Drain has not run since

	// Under h.mu.
	registered bool // in the hub's indexes
	closed     bool // Close was called

	h           *Hub
	sels        []*selEntry // the topic selectors, compiled
	auth        []*selEntry // the authorized selectors, compiled
	lastEventID string
	incomplete  bool
	after       uint64        // replay starts after this Seq
	wake        chan struct{} // buffered(1): there is something for Run to look at

	// Run's own.
	ran   atomic.Bool
	spare [][]byte
	buf   []byte
}

// Subscribe validates s and resolves its LastEventID against the log. A
// live-only subscriber is subscribed at once: from the moment Subscribe
// returns it queues every new update it matches, so call Run (or Replay
// and Attach) or Close soon.
// A subscriber with a LastEventID goes live when Run has replayed its
// history.
//
// Errors: one wrapping ErrInvalidSubscription, ErrClosed, one wrapping
// ErrHistoryUnavailable for a LastEventID while HistoryErr reports a
// corrupt log, or a log failure while looking up LastEventID.
func (h *Hub) Subscribe(ctx context.Context, s Subscription) (*Subscriber, error) {
	if len(s.Topics) == 0 && len(s.Selectors) == 0 {
		return nil, fmt.Errorf("%w: topic: at least one topic selector is required", ErrInvalidSubscription)
	}
	if slices.Contains(s.Topics, "") || slices.ContainsFunc(s.Selectors, func(k Selector) bool { return k.Text == "" }) {
		return nil, fmt.Errorf("%w: topic: empty topic selector", ErrInvalidSubscription)
	}
	topics := keys0x(s.Topics)
	topics = append(topics, s.Selectors...)
	auth := keys0x(slices.DeleteFunc(slices.Clone(s.Authorized), func(a string) bool { return a == "" }))
	auth = append(auth, slices.DeleteFunc(slices.Clone(s.Grants), func(k Selector) bool { return k.Text == "" })...)
	sub := &Subscriber{h: h, wake: make(chan struct{}, 1)}
	var err error
	if sub.sels, sub.auth, err = h.acquire(dedupe(topics), dedupe(auth)); err != nil {
		return nil, err
	}
	switch s.LastEventID {
	case "":
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.closed {
			return nil, ErrClosed
		}
		sub.lastEventID = h.recent.visibleTo(sub.auth)
		if sub.lastEventID == "" {
			sub.lastEventID = EarliestID
		}
		sub.after, sub.skip = h.pos, h.pos
		h.register(sub)
		h.subscribers.Add(1)
		return sub, nil
	}
	if err := h.HistoryErr(); err != nil {
		sub.abandon()
		return nil, fmt.Errorf("%w: %w", ErrHistoryUnavailable, err)
	}
	switch s.LastEventID {
	case EarliestID:
		sub.lastEventID = EarliestID
	default:
		h.mu.Lock()
		pos, ok := h.findAnnounced(s.LastEventID)
		h.mu.Unlock()
		var seq uint64
		var err error
		if ok {
			seq = pos
		} else {
			seq, err = h.log.Find(ctx, s.LastEventID)
		}
		switch {
		case err == nil:
			sub.lastEventID, sub.after = s.LastEventID, seq
		case errors.Is(err, ErrNotFound):
			// Expired or never seen: replaying everything kept is the only
			// way not to lose what the client missed.
			sub.lastEventID, sub.incomplete = EarliestID, true
		default:
			sub.abandon()
			return nil, fmt.Errorf("hub: looking up Last-Event-ID: %w", err)
		}
	}
	if h.ctx.Err() != nil {
		sub.abandon()
		return nil, ErrClosed
	}
	h.subscribers.Add(1)
	return sub, nil
}

// abandon releases the selectors of a subscriber Subscribe does not
// return.
func (s *Subscriber) abandon() {
	s.h.mu.Lock()
	s.closed = true
	s.h.release(s)
	s.h.mu.Unlock()
}

func keys0x(texts []string) []selKey {
	ks := make([]selKey, len(texts))
	for i, t := range texts {
		ks[i] = selKey{Text: t}
	}
	return ks
}

func dedupe(ks []selKey) []selKey {
	slices.SortFunc(ks, func(a, b selKey) int {
		return cmp.Or(strings.Compare(a.Syntax, b.Syntax), strings.Compare(a.Text, b.Text))
	})
	return slices.Clip(slices.Compact(ks))
}

// LastEventID returns the value for the Mercure Last-Event-ID response
// header: the requested ID when the log holds it; EarliestID when that was
// requested or when the requested ID is not in the log (see
// HistoryIncomplete); for a live-only subscription, the ID of the newest
// update fanned out before it subscribed that the subscriber may see (a
// public one, or a private one its Authorized selectors match), never a
// private update's ID it may not see, or EarliestID if there is none.
// Every update fanned out after that ID and before the subscription is
// one the subscriber may not see, except when private updates it may see
// were followed by more than 64 it may not: then the ID is that of the
// newest public update, older than its start, and resuming from it
// replays those.
func (s *Subscriber) LastEventID() string { return s.lastEventID }

// HistoryIncomplete reports whether the requested Last-Event-ID was not in
// the log (expired or never seen), so the subscriber replays everything
// kept, from the oldest update, and may have missed updates trimmed since.
func (s *Subscriber) HistoryIncomplete() bool { return s.incomplete }

// Run replays the subscriber's history, if it asked for one, and then
// streams live updates to w until ctx is done (it returns nil), the hub
// closes (ErrClosed), the subscriber falls behind (an error wrapping
// ErrSlowSubscriber), Close is called (nil) or a write fails (that error).
// It always unsubscribes before returning.
//
// Each write to w is one or more whole encoded events: everything queued
// since the previous write goes out in one Write call, so a w that flushes
// per Write flushes once per batch.
func (s *Subscriber) Run(ctx context.Context, w io.Writer) error {
	if !s.ran.CompareAndSwap(false, true) {
		return errors.New("hub: Subscriber.Run called twice")
	}
	h := s.h
	h.mu.Lock()
	switch {
	case h.closed:
		h.mu.Unlock()
		s.Close()
		return ErrClosed
	case s.closed:
		h.mu.Unlock()
		return nil
	}
	h.runs.Add(1)
	registered := s.registered
	h.mu.Unlock()
	defer h.runs.Done()
	defer s.Close()

	if !registered {
		if err := s.replay(ctx, w); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	for {
		s.mu.Lock()
		q, state := s.q, s.state
		if len(q) > 0 {
			// Swap buffers: the fan-out fills one while Run writes the
			// other.
			s.q = s.spare
		}
		s.mu.Unlock()
		if len(q) > 0 {
			err := s.write(w, q)
			clear(q)
			s.spare = q[:0]
			if err != nil {
				return err
			}
		}
		if err := s.endErr(state); err != nil {
			if errors.Is(err, ErrUnsubscribed) {
				return nil // Close was called: not a failure for Run's caller
			}
			return err
		}
		// Hub.Close wakes registered subscribers itself, so an idle Run
		// waits on its own channels only, never on one shared by all.
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		}
	}
}

// write sends the queued events q to w in one Write.
func (s *Subscriber) write(w io.Writer, q [][]byte) error {
	p := q[0]
	if len(q) > 1 {
		b := s.buf[:0]
		for _, e := range q {
			b = append(b, e...)
		}
		p = b
		if cap(b) <= maxIdleBuf {
			s.buf = b
		} else {
			s.buf = nil
		}
	}
	_, err := w.Write(p)
	if err == nil {
		s.h.delivered.Add(uint64(len(q)))
	}
	return err
}

// replay writes the kept updates after s.after that s may receive, then
// registers s for live updates with no gap and no duplicate: it reads the
// log up to some Seq S, and goes live only if the follower has not fanned
// out anything after S yet, telling the fan-out to skip what it already
// wrote; otherwise it reads on from S.
func (s *Subscriber) replay(ctx context.Context, w io.Writer) error {
	h := s.h
	// The log reads must also stop when the hub closes.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(h.ctx, cancel)
	defer stop()

	after := s.after
	for {
		var err error
		if after, err = s.replayFrom(ctx, w, after); err != nil {
			if h.ctx.Err() != nil {
				return ErrClosed
			}
			if errors.Is(err, ErrCorrupt) && h.historyErr.CompareAndSwap(nil, &err) {
				h.logger.Error("hub: the log's history is corrupt: subscriptions asking for history are refused until the log is repaired and the hub restarted",
					"after", after, "err", err)
			}
			return err
		}
		h.mu.Lock()
		switch {
		case h.closed:
			h.mu.Unlock()
			return ErrClosed
		case s.closed:
			h.mu.Unlock()
			return nil
		case h.pos <= after:
			s.skip = after
			h.register(s)
			h.mu.Unlock()
			return nil
		}
		h.mu.Unlock()
	}
}

// replayFrom writes the kept updates after the given Seq that s may receive
// and returns the Seq of the last update read.
func (s *Subscriber) replayFrom(ctx context.Context, w io.Writer, after uint64) (uint64, error) {
	h := s.h
	buf := s.buf[:0]
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		_, err := w.Write(buf)
		if err == nil {
			h.delivered.Add(uint64(n))
		}
		buf, n = buf[:0], 0
		return err
	}
	for u, err := range h.log.Read(ctx, after) {
		if err != nil {
			// What was read before the failure goes out first: the
			// subscriber resumes after it, not from where it started.
			if ferr := flush(); ferr != nil {
				return after, ferr
			}
			return after, fmt.Errorf("hub: replaying from the log: %w", err)
		}
		after = u.Seq
		if !s.wants(u) {
			continue
		}
		b, err := sse.AppendEvent(buf, eventOf(u))
		if err != nil {
			h.logger.Warn("hub: skipping an update that cannot be encoded", "id", u.ID, "seq", u.Seq, "err", err)
			continue
		}
		buf, n = b, n+1
		if len(buf) >= replayChunk {
			if err := flush(); err != nil {
				return after, err
			}
		}
	}
	err := flush()
	if cap(buf) <= maxIdleBuf {
		s.buf = buf[:0]
	}
	return after, err
}

// wants reports whether the delivery rule gives u to s. It needs no lock:
// s.sels and s.auth are set once by Subscribe, and Matchers are safe for
// concurrent use.
func (s *Subscriber) wants(u *Update) bool {
	return matchAny(s.sels, u.Topics) && (!u.Private || matchAny(s.auth, u.Topics))
}

// enqueue queues an encoded event for Run. It reports false, having marked s
// slow, when the queue is full.
func (s *Subscriber) enqueue(e []byte, limit int) bool {
	s.mu.Lock()
	switch {
	case s.state != stateLive:
		s.mu.Unlock()
		return true
	case len(s.q) >= limit:
		s.state = stateSlow
		s.q = nil
		ready := s.notifyLocked()
		s.mu.Unlock()
		signal(ready)
		return false
	}
	s.q = append(s.q, e)
	ready := s.notifyLocked()
	s.mu.Unlock()
	signal(ready)
	return true
}

// hubClosed ends s because the hub closes. Called with h.mu held.
func (s *Subscriber) hubClosed() {
	s.mu.Lock()
	if s.state == stateLive {
		s.state = stateHubClosed
		s.q = nil
	}
	ready := s.notifyLocked()
	s.mu.Unlock()
	signal(ready)
}

// endErr returns why a subscriber in the given state has ended, nil while
// it is live.
func (s *Subscriber) endErr(state int32) error {
	switch state {
	case stateSlow:
		return fmt.Errorf("%w (queue of %d events full)", ErrSlowSubscriber, s.h.queueSize)
	case stateClosed:
		return ErrUnsubscribed
	case stateHubClosed:
		return ErrClosed
	}
	return nil
}

// notifyLocked wakes Run, or returns Attach's callback if it is due: the
// first change since the last Drain. The caller calls it once s.mu is
// released. s.mu must be held.
func (s *Subscriber) notifyLocked() func() {
	if s.ready == nil {
		select {
		case s.wake <- struct{}{}:
		default: // buffered(1): Run has a wake-up pending already
		}
		return nil
	}
	if s.notified {
		return nil
	}
	s.notified = true
	return s.ready
}

// signal calls ready, Attach's callback, if notifyLocked returned it.
func signal(ready func()) {
	if ready != nil {
		ready()
	}
}

// Close unsubscribes s. A Run in progress returns nil. Close is idempotent.
func (s *Subscriber) Close() {
	h := s.h
	h.mu.Lock()
	if s.closed {
		h.mu.Unlock()
		return
	}
	s.closed = true
	h.unregister(s)
	h.release(s)
	h.mu.Unlock()
	h.subscribers.Add(-1)

	s.mu.Lock()
	if s.state == stateLive {
		s.state = stateClosed
		s.q = nil
	}
	ready := s.notifyLocked()
	s.mu.Unlock()
	signal(ready)
}

func eventOf(u *Update) sse.Event {
	return sse.Event{ID: u.ID, Type: u.Type, Data: u.Data, Retry: u.Retry}
}
