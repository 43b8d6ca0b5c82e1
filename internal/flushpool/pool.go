// Package flushpool writes event streams that stay on their server's
// ResponseWriter (HTTP/2 and HTTP/3 streams, which cannot be taken over
// as HTTP/1.1 connections are) from a few goroutines shared by all of
// them.
//
// A stream's handler goroutine only waits for the stream's end. When the
// subscriber has events, the stream is queued; a worker drains everything
// queued by then and writes it in one Write (one flush, one DATA frame).
// With a goroutine writing per subscriber instead, a fan-out to 10,000
// HTTP/2 streams readied 10,000 goroutines per update, which Go's
// scheduler ran in turn with the one goroutine fanning the updates out:
// that goroutine fell behind the publishers, and each stream wrote one
// event per frame (bench/tls.sh).
package flushpool

import (
	"context"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// drainLimit bounds what a worker writes to one stream in a turn, so that
// a stream with a long backlog does not hold a worker for long: its rest
// waits for its next turn.
const drainLimit = 64 << 10

// maxWorkerBuf is the largest write buffer a worker keeps between turns.
const maxWorkerBuf = drainLimit

// stallAfter is how long the pool may go without finishing a write, with
// streams waiting, before it starts workers beyond Workers: the workers
// are then held by clients that do not read (an HTTP/2 stream whose
// flow-control window is spent blocks its Write until the client reads
// or the write times out), and the other streams must not wait for them.
const stallAfter = 5 * time.Millisecond

// Source is what a stream writes: a live hub subscriber
// ([hub.Subscriber] implements it, after its Replay).
type Source interface {
	// Attach arranges for ready to be called, without blocking, whenever
	// the source has something for Drain.
	Attach(ready func())
	// Drain appends at most about limit bytes of encoded events to dst;
	// an error ends the stream after what it returned is written.
	Drain(dst []byte, limit int) ([]byte, error)
}

// Service states of a stream, under Stream.mu: at most one worker serves a
// stream at a time.
const (
	svcIdle    = iota // waiting for a wake-up
	svcQueued         // in the pool's queue
	svcRunning        // being served
	svcRerun          // being served, and woken again meanwhile
)

// Pool is a set of writers shared by streams. Workers start on demand, at
// most Workers while writes complete, and exit when the queue is empty,
// so an idle hub runs none. A worker whose Write blocks (a client that
// does not read) holds only its own stream: after stallAfter without a
// finished write the pool doubles its workers, up to one per waiting
// stream, for the rest. The zero value is ready to use.
type Pool struct {
	// Workers is the most workers at once; 0 means 4×GOMAXPROCS. A
	// worker's Write waits for the HTTP/2 connection's goroutine to take
	// the frame, so a few more workers than processors keep them busy.
	Workers int

	mu      sync.Mutex
	queue   []*Stream
	workers int
	// lastDone is when a worker last finished a turn or started, in
	// unix nanoseconds: with streams queued, a pool that has not moved
	// since stallAfter is stalled.
	lastDone atomic.Int64
	watch    *time.Timer // runs check while streams wait for a worker
	watching bool        // watch is set, under mu
}

// Stream is one stream of a Pool. Its zero value is ready for one Serve.
type Stream struct {
	mu    sync.Mutex
	state int32
	ended bool // under mu
	err   error

	p    *Pool
	src  Source
	w    io.Writer
	done chan struct{} // closed when the stream ends
}

// Serve streams src's events to w, which writes and flushes each Write
// (an [sse.Stream]), until ctx ends or a Drain or Write fails, and returns
// that failure (nil when ctx ended). It blocks the caller, the request's
// handler, which only waits; when it returns, a worker may still be in
// w.Write: the caller closes w, which waits for that write and refuses
// later ones, before the handler returns.
func (p *Pool) Serve(ctx context.Context, s *Stream, src Source, w io.Writer) error {
	s.p, s.src, s.w, s.done = p, src, w, make(chan struct{})
	src.Attach(s.wake)
	select {
	case <-ctx.Done():
		return nil
	case <-s.done:
		return s.err
	}
}

// wake asks the pool to serve s. It never blocks: it runs under the hub's
// lock.
func (s *Stream) wake() {
	s.mu.Lock()
	push := false
	switch s.state {
	case svcIdle:
		s.state, push = svcQueued, !s.ended
	case svcRunning:
		s.state = svcRerun
	}
	s.mu.Unlock()
	if push {
		s.p.push(s)
	}
}

// serve is a worker's turn on s. buf is the worker's buffer, returned for
// reuse.
func (s *Stream) serve(buf []byte) []byte {
	s.mu.Lock()
	s.state = svcRunning
	ended := s.ended
	s.mu.Unlock()
	if ended {
		return buf
	}
	buf, err := s.src.Drain(buf, drainLimit)
	if len(buf) > 0 {
		if _, werr := s.w.Write(buf); werr != nil && err == nil {
			err = werr
		}
	}
	s.mu.Lock()
	if err != nil && !s.ended {
		s.ended, s.err = true, err
		close(s.done)
	}
	push := s.state == svcRerun && !s.ended
	if push {
		s.state = svcQueued
	} else {
		s.state = svcIdle
	}
	s.mu.Unlock()
	if push {
		s.p.push(s)
	}
	return buf
}

// push queues s, which is in state svcQueued.
func (p *Pool) push(s *Stream) {
	limit := p.Workers
	if limit <= 0 {
		limit = 4 * runtime.GOMAXPROCS(0)
	}
	p.mu.Lock()
	p.queue = append(p.queue, s)
	spawn := p.workers < limit
	if spawn {
		p.workers++
		p.lastDone.Store(time.Now().UnixNano())
	} else {
		p.watchLocked()
	}
	p.mu.Unlock()
	if spawn {
		go p.work()
	}
}

// watchLocked makes sure check runs within stallAfter. p.mu must be held.
func (p *Pool) watchLocked() {
	if p.watching {
		return
	}
	p.watching = true
	if p.watch == nil {
		p.watch = time.AfterFunc(stallAfter, p.check)
	} else {
		p.watch.Reset(stallAfter)
	}
}

// check starts workers if streams wait and no write finished since
// stallAfter, and keeps watching while streams wait. It doubles the
// workers, up to one per waiting stream, rather than adding one: every
// worker it adds may take a stream whose client does not read, and k such
// streams queued ahead of one that reads then hold that one up for about
// log2(k) stalls, not k. One worker per stall held a subscriber behind
// 100 unread HTTP/2 streams of one connection for 0.4 s at rest (100
// stalls of 5 ms), and for over 2 s on a loaded machine, where each stall
// lasts as long as the timer takes to run.
func (p *Pool) check() {
	p.mu.Lock()
	p.watching = false
	if len(p.queue) == 0 {
		p.mu.Unlock()
		return
	}
	now := time.Now().UnixNano()
	start := 0
	if now-p.lastDone.Load() > int64(stallAfter) {
		start = min(len(p.queue), max(p.workers, 1))
		p.workers += start
		p.lastDone.Store(now)
	}
	p.watchLocked()
	p.mu.Unlock()
	for range start {
		go p.work()
	}
}

// work serves queued streams until the queue is empty.
func (p *Pool) work() {
	var buf []byte
	for {
		p.mu.Lock()
		if len(p.queue) == 0 {
			// Drop the array too: after a burst it would pin one
			// pointer per stream.
			p.queue = nil
			p.workers--
			p.mu.Unlock()
			return
		}
		s := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		p.mu.Unlock()
		buf = s.serve(buf[:0])
		p.lastDone.Store(time.Now().UnixNano())
		if cap(buf) > maxWorkerBuf {
			buf = nil
		}
	}
}
