package hub_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/sse"
)

// wait bounds every blocking step of a test.
const wait = 10 * time.Second

func newHub(t testing.TB, opts hub.Options) *hub.Hub {
	t.Helper()
	h, err := hub.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

// event is a parsed event of a subscriber's stream.
type event struct{ id, typ, data string }

// parseEvents decodes whole encoded events. It reports false if p does
// not end at an event boundary.
func parseEvents(p []byte) ([]event, bool) {
	var evs []event
	for e, err := range sse.NewDecoder(bytes.NewReader(p)).Events() {
		if err != nil {
			return evs, false
		}
		evs = append(evs, event{id: e.ID, typ: e.Type, data: e.Data})
	}
	return evs, len(p) == 0 || bytes.HasSuffix(p, []byte("\n\n"))
}

// idWriter records the IDs of the events written to it by one Run. It
// calls stop when it sees the ID stopAt, and sleeps delay per Write to play
// a slow client.
type idWriter struct {
	ids    []string
	writes int
	stopAt string
	stop   func()
	delay  time.Duration
	err    error // set when a Write did not end at an event boundary
}

func (w *idWriter) Write(p []byte) (int, error) {
	if w.delay > 0 {
		time.Sleep(w.delay)
	}
	w.writes++
	evs, whole := parseEvents(p)
	if !whole && w.err == nil {
		w.err = errors.New("a Write did not end at an event boundary")
	}
	for _, e := range evs {
		w.ids = append(w.ids, e.id)
		if e.id == w.stopAt && w.stop != nil {
			w.stop()
		}
	}
	return len(p), nil
}

// recorder is a writer safe for use while the test reads what it got.
type recorder struct {
	mu     sync.Mutex
	evs    []event
	broken bool
	notify chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) Write(p []byte) (int, error) {
	evs, whole := parseEvents(p)
	r.mu.Lock()
	r.evs = append(r.evs, evs...)
	r.broken = r.broken || !whole
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	return len(p), nil
}

// waitFor waits until r has at least n events and returns them.
func (r *recorder) waitFor(t *testing.T, n int) []event {
	t.Helper()
	timeout := time.After(wait)
	for {
		r.mu.Lock()
		evs, broken := append([]event(nil), r.evs...), r.broken
		r.mu.Unlock()
		if broken {
			t.Fatal("a Write did not end at an event boundary")
		}
		if len(evs) >= n {
			return evs
		}
		select {
		case <-r.notify:
		case <-timeout:
			t.Fatalf("received %d of %d events in %v: %v", len(evs), n, wait, evs)
		}
	}
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.evs))
	for i, e := range r.evs {
		out[i] = e.id
	}
	return out
}

// running is a Run in a goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func startRun(t *testing.T, s *hub.Subscriber, w interface{ Write([]byte) (int, error) }) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx, w) }()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// result waits for Run to return.
func (r *running) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(wait):
		t.Fatalf("Run did not return within %v", wait)
		return nil
	}
}

func subscribe(t *testing.T, h *hub.Hub, s hub.Subscription) *hub.Subscriber {
	t.Helper()
	sub, err := h.Subscribe(t.Context(), s)
	if err != nil {
		t.Fatalf("Subscribe(%+v): %v", s, err)
	}
	return sub
}

func publish(t testing.TB, h *hub.Hub, u *hub.Update) string {
	t.Helper()
	id, err := h.Publish(context.Background(), u)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return id
}

// waitDispatched waits until the hub has fanned out everything published.
func waitDispatched(t *testing.T, h *hub.Hub, l hub.Log) {
	t.Helper()
	last, err := l.Last(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for h.Stats().Position < last {
		if time.Now().After(deadline) {
			t.Fatalf("the hub fanned out up to %d, the log ends at %d", h.Stats().Position, last)
		}
		time.Sleep(time.Millisecond)
	}
}

type countingWriter struct {
	w interface{ Write([]byte) (int, error) }
	n atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n.Add(1)
	return c.w.Write(p)
}

// newLog returns a MemoryLog closed when the test ends, after the hubs
// created later on it.
func newLog(t testing.TB, opts hub.MemoryLogOptions) *hub.MemoryLog {
	l := hub.NewMemoryLog(opts)
	t.Cleanup(func() { l.Close() })
	return l
}
