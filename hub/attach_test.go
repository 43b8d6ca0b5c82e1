package hub_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// attached consumes a subscriber through Attach and Drain, as a writer
// pool does, recording what it drained.
type attached struct {
	s     *hub.Subscriber
	ready chan struct{}
	buf   []byte
	err   error
	limit int // Drain's
}

func attach(s *hub.Subscriber) *attached {
	a := &attached{s: s, ready: make(chan struct{}, 1)}
	s.Attach(func() {
		select {
		case a.ready <- struct{}{}:
		default:
			// ready must be called at most once between Drains.
			panic("ready called twice without a Drain")
		}
	})
	return a
}

// drainUntil drains on every ready call until n events were drained or the
// subscriber ended.
func (a *attached) drainUntil(t *testing.T, n int) []event {
	t.Helper()
	deadline := time.After(wait)
	for {
		evs, whole := parseEvents(a.buf)
		if !whole {
			t.Fatalf("drained bytes end mid-event: %q", a.buf)
		}
		if len(evs) >= n || a.err != nil {
			return evs
		}
		select {
		case <-a.ready:
		case <-deadline:
			t.Fatalf("drained %d events, want %d", len(evs), n)
		}
		a.buf, a.err = a.s.Drain(a.buf, a.limit)
	}
}

func TestAttachDrainLive(t *testing.T) {
	h := newHub(t, hub.Options{})
	s := subscribe(t, h, hub.Subscription{Topics: []string{"a"}})
	defer s.Close()
	if err := s.Replay(t.Context(), nil); err != nil {
		t.Fatalf("Replay of a live-only subscriber: %v", err)
	}
	a := attach(s)
	for i := range 5 {
		publish(t, h, &hub.Update{Topics: []string{"a"}, ID: fmt.Sprint("u", i), Data: "x"})
		publish(t, h, &hub.Update{Topics: []string{"b"}, Data: "not mine"})
	}
	evs := a.drainUntil(t, 5)
	if a.err != nil || len(evs) != 5 || evs[0].id != "u0" || evs[4].id != "u4" {
		t.Fatalf("drained %v, err %v", evs, a.err)
	}
	if err := s.Replay(t.Context(), nil); err == nil {
		t.Fatal("a second Replay succeeded")
	}
}

func TestReplayThenAttachNoGapNoDuplicate(t *testing.T) {
	l := newLog(t, hub.MemoryLogOptions{})
	h := newHub(t, hub.Options{Log: l})
	for i := range 50 {
		publish(t, h, &hub.Update{Topics: []string{"a"}, ID: fmt.Sprint("u", i)})
	}
	waitDispatched(t, h, l)
	s := subscribe(t, h, hub.Subscription{Topics: []string{"a"}, LastEventID: "u9"})
	defer s.Close()
	// Publish concurrently with the replay: each ID must arrive once, in
	// order, whether through the replay or the queue.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 50; i < 100; i++ {
			publish(t, h, &hub.Update{Topics: []string{"a"}, ID: fmt.Sprint("u", i)})
		}
	}()
	var replayed bytes.Buffer
	if err := s.Replay(t.Context(), &replayed); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	a := attach(s)
	a.buf = replayed.Bytes()
	evs := a.drainUntil(t, 90)
	<-done
	if len(evs) != 90 {
		t.Fatalf("got %d events, want 90", len(evs))
	}
	for i, e := range evs {
		if want := fmt.Sprint("u", i+10); e.id != want {
			t.Fatalf("event %d is %s, want %s", i, e.id, want)
		}
	}
}

func TestDrainTerminalErrors(t *testing.T) {
	t.Run("close", func(t *testing.T) {
		h := newHub(t, hub.Options{})
		s := subscribe(t, h, hub.Subscription{Topics: []string{"a"}})
		a := attach(s)
		s.Close()
		a.drainUntil(t, 1)
		if !errors.Is(a.err, hub.ErrUnsubscribed) {
			t.Fatalf("Drain after Close: %v", a.err)
		}
	})
	t.Run("hub close", func(t *testing.T) {
		h, err := hub.New(hub.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s := subscribe(t, h, hub.Subscription{Topics: []string{"a"}})
		defer s.Close()
		a := attach(s)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Fatal(err)
		}
		a.drainUntil(t, 1)
		if !errors.Is(a.err, hub.ErrClosed) {
			t.Fatalf("Drain after hub Close: %v", a.err)
		}
	})
	t.Run("slow", func(t *testing.T) {
		l := newLog(t, hub.MemoryLogOptions{})
		h := newHub(t, hub.Options{Log: l, QueueSize: 3})
		s := subscribe(t, h, hub.Subscription{Topics: []string{"a"}})
		defer s.Close()
		// Attached, but never drained: the queue overflows.
		ready := make(chan struct{}, 1)
		s.Attach(func() { ready <- struct{}{} })
		for range 10 {
			publish(t, h, &hub.Update{Topics: []string{"a"}})
		}
		waitDispatched(t, h, l)
		<-ready
		if _, err := s.Drain(nil, 0); !errors.Is(err, hub.ErrSlowSubscriber) {
			t.Fatalf("Drain after overflow: %v", err)
		}
		if got := h.Stats().SlowDisconnects; got != 1 {
			t.Fatalf("SlowDisconnects = %d", got)
		}
	})
	t.Run("attach after end", func(t *testing.T) {
		h := newHub(t, hub.Options{})
		s := subscribe(t, h, hub.Subscription{Topics: []string{"a"}})
		s.Close()
		a := attach(s)
		a.drainUntil(t, 1)
		if !errors.Is(a.err, hub.ErrUnsubscribed) {
			t.Fatalf("Drain: %v", a.err)
		}
	})
}

func TestReplayOnClosedHub(t *testing.T) {
	h, err := hub.New(hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := subscribe(t, h, hub.Subscription{Topics: []string{"a"}, LastEventID: hub.EarliestID})
	defer s.Close()
	if err := h.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Replay(t.Context(), nil); !errors.Is(err, hub.ErrClosed) {
		t.Fatalf("Replay on a closed hub: %v", err)
	}
}

func TestDrainLimit(t *testing.T) {
	l := newLog(t, hub.MemoryLogOptions{})
	h := newHub(t, hub.Options{Log: l})
	s := subscribe(t, h, hub.Subscription{Topics: []string{"a"}})
	defer s.Close()
	for i := range 10 {
		publish(t, h, &hub.Update{Topics: []string{"a"}, ID: fmt.Sprint("u", i), Data: "0123456789"})
	}
	waitDispatched(t, h, l)
	calls := make(chan struct{}, 20)
	s.Attach(func() { calls <- struct{}{} })
	var all []event
	for len(all) < 10 {
		select {
		case <-calls:
		case <-time.After(wait):
			t.Fatalf("no ready call after %d events", len(all))
		}
		b, err := s.Drain(nil, 40)
		evs, whole := parseEvents(b)
		if err != nil || !whole || len(evs) != 1 && len(b) > 40 {
			t.Fatalf("Drain(nil, 40) = %q, %v", b, err)
		}
		all = append(all, evs...)
	}
	for i, e := range all {
		if e.id != fmt.Sprint("u", i) {
			t.Fatalf("event %d is %s", i, e.id)
		}
	}
	if len(calls) != 0 {
		t.Fatal("ready called with nothing left")
	}
}
