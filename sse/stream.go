package sse

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Defaults for StreamOptions' zero values.
const (
	DefaultHeartbeat    = 15 * time.Second
	DefaultWriteTimeout = 10 * time.Second
)

// ErrStreamClosed is what Stream.Err reports after Close, and what writes on a
// closed Stream return.
var ErrStreamClosed = errors.New("sse: stream closed")

// maxIdleBuf is the largest encoding buffer a Stream keeps between events. A
// hub holds many thousands of mostly idle streams, so one large event must
// not pin its buffer for the life of the connection.
const maxIdleBuf = 4 << 10

// StreamOptions configures a Stream. The zero value is ready to use.
type StreamOptions struct {
	// Heartbeat is how long the stream may stay silent before a comment is
	// sent to keep the connection and the proxies on its way open.
	// 0 means DefaultHeartbeat; negative means no heartbeats.
	Heartbeat time.Duration
	// Retry, if positive, is sent as a retry field when the stream opens.
	Retry time.Duration
	// WriteTimeout bounds each write and flush, so that a client that stops
	// reading cannot block the writer forever. 0 means DefaultWriteTimeout.
	WriteTimeout time.Duration
}

// Stream is one text/event-stream response. It is safe for concurrent use:
// a writer goroutine and the heartbeat share it under a mutex.
//
// A Stream holds no goroutine of its own: the heartbeat is a timer that is
// pushed back on every write and the client's disconnection is noticed
// through context.AfterFunc on the request context.
type Stream struct {
	mu           sync.Mutex
	w            http.ResponseWriter
	rc           *http.ResponseController
	buf          []byte
	heartbeat    time.Duration // <= 0: none
	writeTimeout time.Duration
	last         time.Time // last successful write, for the heartbeat
	timer        *time.Timer
	stopCtx      func() bool
	done         chan struct{}
	err          error // set once, under mu, when done is closed
	noDeadline   bool  // the ResponseWriter cannot set write deadlines
}

// NewStream starts an event stream on w in answer to r. It sets the
// Content-Type (text/event-stream), Cache-Control (no-cache) and
// X-Accel-Buffering (no) headers, keeping any other header the caller
// already set, writes the 200 status and the optional retry field, and
// flushes at once so that the client sees the stream open.
//
// It returns an error, having written nothing, if w cannot flush.
func NewStream(w http.ResponseWriter, r *http.Request, opts StreamOptions) (*Stream, error) {
	s := &Stream{
		w:            w,
		rc:           http.NewResponseController(w),
		heartbeat:    opts.Heartbeat,
		writeTimeout: opts.WriteTimeout,
		done:         make(chan struct{}),
	}
	if s.heartbeat == 0 {
		s.heartbeat = DefaultHeartbeat
	}
	if s.writeTimeout <= 0 {
		s.writeTimeout = DefaultWriteTimeout
	}
	if !canFlush(w) {
		return nil, fmt.Errorf("sse: response writer %T cannot flush: %w", w, http.ErrNotSupported)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	// A handler may set Content-Length or encodings for a normal response;
	// either would break an unbounded, unbuffered stream.
	h.Del("Content-Length")

	s.mu.Lock()
	defer s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
	if opts.Retry > 0 {
		s.buf = AppendRetry(s.buf[:0], opts.Retry)
	}
	if err := s.writeLocked(s.buf); err != nil {
		return nil, err
	}
	ctx := r.Context()
	s.stopCtx = context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.failLocked(fmt.Errorf("sse: client went away: %w", context.Cause(ctx)))
	})
	if s.heartbeat > 0 {
		s.timer = time.AfterFunc(s.heartbeat, s.beat)
	}
	return s, nil
}

// canFlush reports whether w, or a writer it unwraps to, can flush, the way
// http.ResponseController looks for it, without flushing yet: the status
// and headers are not final until NewStream has set them.
func canFlush(w http.ResponseWriter) bool {
	for {
		switch t := w.(type) {
		case interface{ FlushError() error }, http.Flusher:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}

// Send encodes e, writes it and flushes. An invalid event is rejected with a
// *FieldError and nothing is written; the stream stays usable.
func (s *Stream) Send(e Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	b, err := AppendEvent(s.buf[:0], e)
	if err != nil {
		return err
	}
	s.buf = b
	return s.writeLocked(b)
}

// Comment writes text as comment lines and flushes. Clients ignore comments.
func (s *Stream) Comment(text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.buf = AppendComment(s.buf[:0], text)
	return s.writeLocked(s.buf)
}

// Write writes p, which must already be in wire form (whole encoded events,
// as AppendEvent makes them), in one write followed by one flush. It lets a
// hub encode an event once and fan the bytes out to many streams.
func (s *Stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	if err := s.writeLocked(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Done returns a channel that is closed when the client went away, a write
// failed or Close was called. Err then says which.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Err returns nil while Done is open, and afterwards why it closed:
// an error wrapping the request context's cause, the failed write's error or
// ErrStreamClosed.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close stops the heartbeat and closes Done. It does not end the response:
// that happens when the handler returns. Close is idempotent and always
// returns nil.
func (s *Stream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failLocked(ErrStreamClosed)
	return nil
}

// beat runs on the heartbeat timer.
func (s *Stream) beat() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	// A write may have happened just as the timer fired, too late to stop
	// it: only an idle connection gets a heartbeat.
	if idle := time.Since(s.last); idle < s.heartbeat {
		s.timer.Reset(s.heartbeat - idle)
		return
	}
	s.buf = AppendComment(s.buf[:0], "")
	s.writeLocked(s.buf) // a failure closes Done; the writer learns it there
}

// writeLocked writes p and flushes it under a write deadline. Any failure
// ends the stream. s.mu must be held.
func (s *Stream) writeLocked(p []byte) error {
	if !s.noDeadline {
		err := s.rc.SetWriteDeadline(time.Now().Add(s.writeTimeout))
		if errors.Is(err, http.ErrNotSupported) {
			s.noDeadline = true
		} else if err != nil {
			return s.failLocked(fmt.Errorf("sse: set write deadline: %w", err))
		}
	}
	var err error
	if len(p) > 0 {
		_, err = s.w.Write(p)
	}
	if err == nil {
		err = s.rc.Flush()
	}
	if !s.noDeadline {
		// An expired deadline left in place would fail the next write, and
		// over HTTP/2 it resets the stream even while it is idle.
		if derr := s.rc.SetWriteDeadline(time.Time{}); err == nil && derr != nil {
			err = fmt.Errorf("sse: clear write deadline: %w", derr)
		}
	}
	if cap(s.buf) > maxIdleBuf {
		s.buf = nil
	}
	if err != nil {
		return s.failLocked(fmt.Errorf("sse: write: %w", err))
	}
	s.last = time.Now()
	if s.timer != nil {
		s.timer.Reset(s.heartbeat)
	}
	return nil
}

// failLocked ends the stream with err unless it already ended, and returns
// the error the stream ended with. s.mu must be held.
func (s *Stream) failLocked(err error) error {
	if s.err != nil {
		return s.err
	}
	s.err = err
	close(s.done)
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.stopCtx != nil {
		s.stopCtx()
	}
	return err
}
