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
	// reading cannot block the writer forever: a write fails after between
	// WriteTimeout and 1.5×WriteTimeout. It does not limit how long the
	// stream may stay open or idle. 0 means DefaultWriteTimeout.
	WriteTimeout time.Duration
}

// Stream is one text/event-stream response. It is safe for concurrent use:
// a writer goroutine and the heartbeat share it under a mutex.
//
// A Stream holds no goroutine of its own: one timer, pushed back on every
// write, sends the heartbeat and lifts the write deadline of an idle stream,
// and the client's disconnection is noticed through context.AfterFunc on the
// request context.
//
// Write deadlines are extended rather than set and cleared around every
// write, which over HTTP/2 would cost two messages to the connection's
// goroutine per event: each write and flush has at least WriteTimeout and at
// most 1.5×WriteTimeout to complete.
type Stream struct {
	mu           sync.Mutex
	w            http.ResponseWriter
	rc           *http.ResponseController
	buf          []byte
	heartbeat    time.Duration // <= 0: none
	writeTimeout time.Duration
	last         time.Time   // last successful write, for the heartbeat
	armed        time.Time   // the write deadline in force, zero if none
	timer        *time.Timer // heartbeat, and clearing the deadline when idle
	stopCtx      func() bool
	ctx          context.Context // cancelled, with err as its cause, when the stream ends
	cancel       context.CancelCauseFunc
	err          error // set once, under mu, when ctx is cancelled
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
	}
	// Only failLocked cancels ctx, after setting err, so Done and Err always
	// agree; the request's cancellation reaches it through context.AfterFunc
	// below. Neither costs a goroutine.
	s.ctx, s.cancel = context.WithCancelCause(context.WithoutCancel(r.Context()))
	if s.heartbeat == 0 {
		s.heartbeat = DefaultHeartbeat
	}
	if s.writeTimeout <= 0 {
		s.writeTimeout = DefaultWriteTimeout
	}
	if !canFlush(w) {
		s.cancel(http.ErrNotSupported)
		return nil, fmt.Errorf("sse: response writer %T cannot flush: %w", w, http.ErrNotSupported)
	}
	SetHeaders(w.Header())

	s.mu.Lock()
	defer s.mu.Unlock()
	s.timer = time.AfterFunc(time.Hour, s.tick) // scheduled by the first write
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
	return s, nil
}

// SetHeaders sets the header fields of an event stream response in h:
// Content-Type text/event-stream, Cache-Control no-cache and
// X-Accel-Buffering no (so that proxies pass events on at once), and no
// Content-Length, which, meant for a normal response, would cut the
// stream. It keeps every other field. [NewStream] calls it; a server that
// writes the response head itself calls it too.
func SetHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
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
func (s *Stream) Done() <-chan struct{} { return s.ctx.Done() }

// Context returns a context that is cancelled when Done closes, with Err as
// its cause. Run a stream's writer under it, so that the writer stops when a
// heartbeat fails or times out too, without a goroutine watching Done.
func (s *Stream) Context() context.Context { return s.ctx }

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

// tick runs on the stream's timer: it lifts a write deadline that would
// expire while the stream is idle (over HTTP/2 an expired deadline resets the
// stream even without a write) and sends a heartbeat once the stream has
// been idle for the heartbeat interval. The timer may fire early (a write
// can push it back too late to stop it): tick then only reschedules.
func (s *Stream) tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	now := time.Now()
	if !s.armed.IsZero() && s.armed.Sub(now) <= s.writeTimeout/2 {
		if err := s.rc.SetWriteDeadline(time.Time{}); err != nil {
			s.failLocked(fmt.Errorf("sse: clear write deadline: %w", err))
			return
		}
		s.armed = time.Time{}
	}
	if s.heartbeat > 0 && now.Sub(s.last) >= s.heartbeat {
		s.buf = AppendComment(s.buf[:0], "")
		s.writeLocked(s.buf) // a failure closes Done; the writer learns it there
		return
	}
	s.scheduleLocked(now)
}

// scheduleLocked sets the timer for the next heartbeat or deadline
// clearing, whichever comes first. s.mu must be held.
func (s *Stream) scheduleLocked(now time.Time) {
	next, ok := time.Duration(0), false
	if s.heartbeat > 0 {
		next, ok = s.heartbeat-now.Sub(s.last), true
	}
	if !s.armed.IsZero() {
		// Clear it while at least half the timeout is left, so a late
		// timer cannot let it expire.
		if c := s.armed.Sub(now) - s.writeTimeout/2; !ok || c < next {
			next, ok = c, true
		}
	}
	if ok {
		s.timer.Reset(max(next, 0))
	} else {
		s.timer.Stop()
	}
}

// writeLocked writes p and flushes it under a write deadline. Any failure
// ends the stream. s.mu must be held.
func (s *Stream) writeLocked(p []byte) error {
	now := time.Now()
	if !s.noDeadline && (s.armed.IsZero() || s.armed.Sub(now) < s.writeTimeout) {
		d := now.Add(s.writeTimeout + s.writeTimeout/2)
		err := s.rc.SetWriteDeadline(d)
		switch {
		case errors.Is(err, http.ErrNotSupported):
			s.noDeadline = true
		case err != nil:
			return s.failLocked(fmt.Errorf("sse: set write deadline: %w", err))
		default:
			s.armed = d
		}
	}
	var err error
	if len(p) > 0 {
		_, err = s.w.Write(p)
	}
	if err == nil {
		err = s.rc.Flush()
	}
	if cap(s.buf) > maxIdleBuf {
		s.buf = nil
	}
	if err != nil {
		return s.failLocked(fmt.Errorf("sse: write: %w", err))
	}
	s.last = time.Now()
	s.scheduleLocked(s.last)
	return nil
}

// failLocked ends the stream with err unless it already ended, and returns
// the error the stream ended with. s.mu must be held.
func (s *Stream) failLocked(err error) error {
	if s.err != nil {
		return s.err
	}
	s.err = err
	s.cancel(err)
	s.timer.Stop()
	if s.stopCtx != nil {
		s.stopCtx()
	}
	return err
}
