package flushpool

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// source is a Source whose events the test adds.
type source struct {
	mu    sync.Mutex
	q     [][]byte
	err   error // returned by Drain once q is empty
	ready func()
}

func (s *source) Attach(ready func()) {
	s.mu.Lock()
	s.ready = ready
	due := len(s.q) > 0 || s.err != nil
	s.mu.Unlock()
	if due {
		ready()
	}
}

func (s *source) add(e string) {
	s.mu.Lock()
	wasEmpty := len(s.q) == 0
	s.q = append(s.q, []byte(e))
	ready := s.ready
	s.mu.Unlock()
	if wasEmpty && ready != nil {
		ready()
	}
}

func (s *source) fail(err error) {
	s.mu.Lock()
	s.err = err
	ready := s.ready
	s.mu.Unlock()
	if ready != nil {
		ready()
	}
}

func (s *source) Drain(dst []byte, limit int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.q {
		dst = append(dst, e...)
	}
	s.q = nil
	return dst, s.err
}

// writer records its writes; each blocks until the test lets it go when
// hold is set.
type writer struct {
	mu      sync.Mutex
	writes  []string
	hold    chan struct{} // nil: writes return at once
	entered chan struct{}
	err     error
	active  int // writes in progress, to catch two at once
	overlap bool
}

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.active++
	w.overlap = w.overlap || w.active > 1
	hold := w.hold
	w.mu.Unlock()
	if hold != nil {
		w.entered <- struct{}{}
		<-hold
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.active--
	w.writes = append(w.writes, string(p))
	return len(p), w.err
}

func (w *writer) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.writes...)
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestServeCoalesces checks that events queued while a stream's write is
// in progress go out together in its next write, written by one worker
// at a time, and that Serve returns nil when its context ends.
func TestServeCoalesces(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var p Pool
	src := &source{}
	w := &writer{hold: make(chan struct{}), entered: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- p.Serve(ctx, new(Stream), src, w) }()
	waitFor(t, "Attach", func() bool { src.mu.Lock(); defer src.mu.Unlock(); return src.ready != nil })

	src.add("a\n")
	<-w.entered // the worker writes "a" and waits
	for i := range 5 {
		src.add(strconv.Itoa(i) + "\n")
	}
	w.hold <- struct{}{}
	<-w.entered // the next turn: everything queued meanwhile
	w.hold <- struct{}{}
	waitFor(t, "two writes", func() bool { return len(w.all()) == 2 })
	if got := w.all(); got[0] != "a\n" || got[1] != "0\n1\n2\n3\n4\n" || w.overlap {
		t.Errorf("writes %q (overlapping: %v), want the first event, then the five queued meanwhile in one", got, w.overlap)
	}
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve after the context ended = %v, want nil", err)
	}
}

// TestServeEnds checks that a Drain error ends Serve with it after what
// came with it is written, and that a Write error ends Serve too; the
// workers then exit.
func TestServeEnds(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var p Pool
	errGone := errors.New("subscriber gone")

	src := &source{q: [][]byte{[]byte("last\n")}, err: errGone}
	w := &writer{}
	if err := p.Serve(context.Background(), new(Stream), src, w); !errors.Is(err, errGone) {
		t.Errorf("Serve = %v, want %v", err, errGone)
	}
	if got := w.all(); len(got) != 1 || got[0] != "last\n" {
		t.Errorf("writes %q, want the last event", got)
	}

	errBroken := errors.New("broken pipe")
	src = &source{}
	w = &writer{err: errBroken}
	served := make(chan error, 1)
	go func() { served <- p.Serve(context.Background(), new(Stream), src, w) }()
	waitFor(t, "Attach", func() bool { src.mu.Lock(); defer src.mu.Unlock(); return src.ready != nil })
	src.add("x\n")
	if err := <-served; !errors.Is(err, errBroken) {
		t.Errorf("Serve = %v, want %v", err, errBroken)
	}
	src.add("y\n") // a wake-up after the end writes nothing
	waitFor(t, "idle workers", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.workers == 0 })
	if got := w.all(); len(got) != 1 {
		t.Errorf("writes %q after the end, want only the failed one", got)
	}
}

// TestServeManyStreams runs more streams than workers: every stream gets
// every event, in order.
func TestServeManyStreams(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	p := Pool{Workers: 3}
	const streams, events = 40, 50
	srcs := make([]*source, streams)
	ws := make([]*writer, streams)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range srcs {
		srcs[i], ws[i] = &source{}, &writer{}
		wg.Go(func() { p.Serve(ctx, new(Stream), srcs[i], ws[i]) })
	}
	for i := range srcs {
		waitFor(t, "Attach", func() bool { srcs[i].mu.Lock(); defer srcs[i].mu.Unlock(); return srcs[i].ready != nil })
	}
	var want bytes.Buffer
	for e := range events {
		ev := strconv.Itoa(e) + "\n"
		want.WriteString(ev)
		for _, s := range srcs {
			s.add(ev)
		}
	}
	for i, w := range ws {
		waitFor(t, "stream "+strconv.Itoa(i), func() bool { return len(bytes.Join(toBytes(w.all()), nil)) == want.Len() })
		if got := string(bytes.Join(toBytes(w.all()), nil)); got != want.String() || w.overlap {
			t.Errorf("stream %d got %q (overlapping %v)", i, got, w.overlap)
		}
	}
	cancel()
	wg.Wait()
}

func toBytes(s []string) [][]byte {
	b := make([][]byte, len(s))
	for i := range s {
		b[i] = []byte(s[i])
	}
	return b
}

// TestServeStalledWriter checks that a stream whose writes block (a
// client that does not read) does not hold up the others, even with one
// worker: the pool starts another when no write has finished for a while.
func TestServeStalledWriter(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	p := Pool{Workers: 1}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	stuck, stuckSrc := &writer{hold: make(chan struct{}), entered: make(chan struct{}, 1)}, &source{}
	wg.Go(func() { p.Serve(ctx, new(Stream), stuckSrc, stuck) })
	waitFor(t, "Attach", func() bool { stuckSrc.mu.Lock(); defer stuckSrc.mu.Unlock(); return stuckSrc.ready != nil })
	stuckSrc.add("held\n")
	<-stuck.entered // the only worker now waits in this write

	const others = 3
	srcs, ws := make([]*source, others), make([]*writer, others)
	for i := range srcs {
		srcs[i], ws[i] = &source{}, &writer{}
		wg.Go(func() { p.Serve(ctx, new(Stream), srcs[i], ws[i]) })
		waitFor(t, "Attach", func() bool { srcs[i].mu.Lock(); defer srcs[i].mu.Unlock(); return srcs[i].ready != nil })
	}
	for e := range 5 {
		for _, s := range srcs {
			s.add(strconv.Itoa(e) + "\n")
		}
		time.Sleep(2 * stallAfter)
	}
	for i, w := range ws {
		waitFor(t, "stream "+strconv.Itoa(i)+" past the stalled one", func() bool {
			return string(bytes.Join(toBytes(w.all()), nil)) == "0\n1\n2\n3\n4\n"
		})
	}
	close(stuck.hold)
	cancel()
	wg.Wait()
}

// TestServeManyStalledWriters checks that many streams whose writes block,
// queued ahead of one whose client reads, hold it up for a few stalls, not
// one stall each: the reading stream gets its event well within
// stalled×stallAfter, the least a pool adding one worker per stall takes
// to reach it.
func TestServeManyStalledWriters(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	p := Pool{Workers: 1}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	const stalled = 1000
	release, entered := make(chan struct{}), make(chan struct{}, stalled)
	srcs := make([]*source, stalled+1)
	reading := &writer{}
	for i := range srcs {
		srcs[i] = &source{}
		w := reading
		if i < stalled {
			w = &writer{hold: release, entered: entered}
		}
		wg.Go(func() { p.Serve(ctx, new(Stream), srcs[i], w) })
	}
	defer wg.Wait()
	defer cancel()
	defer close(release)
	for i := range srcs {
		waitFor(t, "Attach", func() bool { srcs[i].mu.Lock(); defer srcs[i].mu.Unlock(); return srcs[i].ready != nil })
	}
	start := time.Now()
	for _, s := range srcs {
		s.add("event\n") // the stalled streams are queued first
	}
	for len(reading.all()) == 0 {
		if d := time.Since(start); d > stalled*stallAfter {
			t.Fatalf("the reading stream waited %v behind %d stalled ones, %d of them in a worker's Write", d, stalled, len(entered))
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("the reading stream got its event %v after it was published, behind %d stalled streams (%d in a Write by then)",
		time.Since(start).Round(time.Millisecond), stalled, len(entered))
	if got := reading.all(); len(got) != 1 || got[0] != "event\n" {
		t.Errorf("the reading stream got %q, want its event", got)
	}
}
