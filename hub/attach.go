package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// ErrUnsubscribed is the error Drain returns once Subscriber.Close has
// ended the subscriber.
var ErrUnsubscribed = errors.New("hub: subscriber closed")

// maxIdleQueue is the largest queue capacity a drained subscriber keeps: a
// burst must not pin its queue for the life of an idle connection.
const maxIdleQueue = 64

// Replay is the first half of Run for a caller that streams without a
// goroutine per subscriber: it writes the subscriber's history to w, if it
// asked for one, and registers it for live updates with the same gap-free,
// duplicate-free handoff as Run; live updates then queue for Drain. For a
// live-only subscriber it writes nothing.
//
// It returns nil once the subscriber is live (or was closed meanwhile:
// Drain then says so), ErrClosed if the hub closes, ctx's error if ctx ends
// first, or a write or log error. It does not close the subscriber on
// failure: the caller does. Replay may be called only once, and not
// together with Run.
func (s *Subscriber) Replay(ctx context.Context, w io.Writer) error {
	if !s.ran.CompareAndSwap(false, true) {
		return errors.New("hub: Subscriber.Replay or Run called twice")
	}
	h := s.h
	h.mu.Lock()
	switch {
	case h.closed:
		h.mu.Unlock()
		return ErrClosed
	case s.closed, s.registered, s.over():
		h.mu.Unlock()
		return nil
	}
	h.runs.Add(1)
	h.mu.Unlock()
	defer h.runs.Done()
	if err := s.replay(ctx, w); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("hub: replay: %w", context.Cause(ctx))
		}
		return err
	}
	return nil
}

// Attach registers ready, which is called whenever the subscriber has
// something for Drain: when its queue goes from empty to non-empty, and
// when it ends (hub closed, subscriber too slow or closed). It is called at
// most once between two Drains, at once if something is already pending,
// and possibly with the hub's lock held: it must return quickly and must
// not call the Subscriber's or the Hub's methods itself (hand the
// subscriber to another goroutine instead). Call Attach after Replay, once.
func (s *Subscriber) Attach(ready func()) {
	s.mu.Lock()
	s.ready = ready
	var due func()
	if len(s.q) > 0 || s.state != stateLive {
		due = s.notifyLocked()
	}
	s.mu.Unlock()
	if due != nil {
		due()
	}
}

// Drain appends queued events to dst, oldest first and in wire form, and
// returns it: all of them if limit <= 0, else as many as fit with dst no
// longer than limit (at least one), so that one turn of a writer shared by
// many subscribers stays short and a stalled client cannot make it copy its
// whole backlog. If events are left, Drain calls Attach's callback again.
// Once the subscriber is over and its queue empty it also returns why: an
// error wrapping ErrSlowSubscriber, ErrClosed when the hub closed, or
// ErrUnsubscribed after Close; the caller then stops and calls Close.
// Events drained are counted as delivered in the hub's Stats.
func (s *Subscriber) Drain(dst []byte, limit int) ([]byte, error) {
	s.mu.Lock()
	q, state := s.q, s.state
	k := 0
	for ; k < len(q); k++ {
		if limit > 0 && k > 0 && len(dst)+len(q[k]) > limit {
			break
		}
		dst = append(dst, q[k]...)
	}
	// Keep the rest at the front: the fan-out appends to s.q.
	n := copy(q, q[k:])
	clear(q[n:])
	s.q = q[:n]
	if n == 0 && cap(q) > maxIdleQueue {
		s.q = nil
	}
	s.notified = false
	var again func()
	if n > 0 {
		again = s.notifyLocked()
	}
	s.mu.Unlock()
	s.h.delivered.Add(uint64(k))
	if again != nil {
		again()
	}
	if n > 0 {
		return dst, nil
	}
	return dst, s.endErr(state)
}

// over reports whether s has ended (Drain would say why).
func (s *Subscriber) over() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state != stateLive
}
