package mercure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/sse"
)

// DefaultSendBuffer is the send buffer Options.SendBuffer sets when zero:
// room for bursts of events, a bounded price for a client that stops
// reading. Linux doubles the value for its bookkeeping.
const DefaultSendBuffer = 128 << 10

// Bounds on one pool worker's turn on a stream. drainLimit caps the bytes
// it drains, so that a backlog is written a slice at a time, round-robin
// with the other streams, and never copied whole. A worker does not wait
// for room in a client's socket buffer: what the socket does not take at
// once goes to a goroutine of the stream's own. Where the socket cannot
// be written without waiting (TLS), poolWriteWait bounds the wait.
const (
	drainLimit    = 64 << 10
	poolWriteWait = 5 * time.Millisecond
)

// Why a hijacked stream ended, besides the hub's errors and write errors.
var (
	errHungUp       = errors.New("mercure: client hung up")
	errTokenExpired = errors.New("mercure: subscriber token expired")
)

// Service states of a hijacked stream, under hijacked.mu. At most one
// goroutine serves a stream at a time: the handler while it sets the stream
// up and replays, then one pool worker per wake-up (or the goroutine it
// hands a full socket's write to). Only that goroutine writes to or closes
// the connection, which lets writeNow go around net.Conn's locks.
const (
	svcIdle    = iota // waiting for a wake-up
	svcQueued         // in the pool's queue
	svcRunning        // being served
	svcRerun          // being served, and woken again meanwhile
)

// hijacked is a subscriber's stream on an HTTP/1.1 connection taken over
// from net/http, so that an idle subscriber costs no goroutine: net/http's
// connection goroutine and its background reader end with the handler, and
// their buffers are collected. Events are written by the handler's pool of
// workers when the subscriber has some (hub.Subscriber.Attach), a heartbeat
// is due or the stream ends; a hang-up is noticed by the handler's
// hangupWatcher. A client whose socket buffer is full gets a goroutine of
// its own until the write completes or times out. The
// response has no Content-Length and no chunked encoding: its body ends
// when the connection closes, as HTTP/1.1 allows.
type hijacked struct {
	// A pool turn touches these for every event: first and together.
	mu      sync.Mutex
	state   int32
	beat    bool // the heartbeat timer fired
	expired bool // the token expired
	gone    bool // the client hung up
	ended   bool // under mu, like the four above

	h         *Handler
	sub       *hub.Subscriber
	fd        int           // conn's socket for writeNow, -1 if none
	last      time.Time     // last successful write
	heartbeat time.Duration // <= 0: none
	hb        *time.Timer

	conn         net.Conn
	remote       string
	writeTimeout time.Duration
	release      func() // the limiter's count
	untrack      func() // the subscription's registration, nil if none
	watch        uint64 // the hangupWatcher registration, 0 if none
	exp          *time.Timer
}

// hijacks reports whether r's subscription may be served on a hijacked
// connection: HTTP/1.x, on a platform that can watch for hang-ups, unless
// Options.NoHijack.
func (h *Handler) hijacks(r *http.Request) bool {
	return !h.noHijack && canWatchHangups && r.ProtoMajor == 1
}

// serveHijacked streams s on w's connection, taken over from net/http, and
// returns true once the stream is handed to the writer pool or has ended.
// It returns false, having written nothing, if w's connection cannot be
// taken over: the caller then streams through net/http. From then on the
// stream owns release and s.
func (h *Handler) serveHijacked(w http.ResponseWriter, r *http.Request, s *hub.Subscriber, topics []string, claims *Claims, release func()) bool {
	// net/http's buffered reader and writer must not outlive the handler:
	// the stream writes to conn directly, and an SSE client sends nothing
	// after its request.
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	if tc, ok := conn.(*net.TCPConn); ok && h.sendBuffer > 0 {
		// Best effort: a connection keeps the kernel's default if refused.
		tc.SetWriteBuffer(h.sendBuffer)
	}
	ctx := r.Context()
	c := &hijacked{
		h:            h,
		conn:         conn,
		fd:           socketOf(conn),
		sub:          s,
		remote:       r.RemoteAddr,
		heartbeat:    h.heartbeat,
		writeTimeout: h.writeTimeout,
		release:      release,
		state:        svcRunning, // the handler's until yield
	}
	if c.heartbeat == 0 {
		c.heartbeat = sse.DefaultHeartbeat
	}
	if c.writeTimeout <= 0 {
		c.writeTimeout = sse.DefaultWriteTimeout
	}
	if h.onSubChange != nil {
		h.onSubChange(1)
	}
	if h.subsEnabled {
		c.untrack = h.track(ctx, topics, claims)
	}
	c.watch = h.hangups.watch(conn, c.hangUp)

	replayCtx := ctx
	if !claims.exp.IsZero() {
		// A token must not buy a connection that outlives it.
		var cancel context.CancelFunc
		replayCtx, cancel = context.WithDeadline(ctx, claims.exp)
		defer cancel()
		c.exp = time.AfterFunc(time.Until(claims.exp), c.expire)
	}
	if _, err := c.Write(responseHead(w.Header())); err != nil {
		c.finish(err)
		return true
	}
	if err := s.Replay(replayCtx, c); err != nil {
		c.finish(err)
		return true
	}
	if c.heartbeat > 0 {
		c.hb = time.AfterFunc(c.heartbeat, c.beatDue)
	}
	s.Attach(c.wake)
	c.yield()
	return true
}

// responseHead returns the status line and header of a hijacked stream:
// those of sse.NewStream, with hdr's (CORS, Last-Event-ID) kept.
func responseHead(hdr http.Header) []byte {
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	// The body ends with the connection; say so, and let no length or
	// framing header contradict it.
	hdr.Set("Connection", "close")
	hdr.Del("Content-Length")
	hdr.Del("Transfer-Encoding")
	hdr.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	b := &headBuffer{b: make([]byte, 0, 512)}
	b.b = append(b.b, "HTTP/1.1 200 OK\r\n"...)
	hdr.Write(b) // sorted; values' newlines are replaced, so nothing is injected
	b.b = append(b.b, "\r\n"...)
	return b.b
}

type headBuffer struct{ b []byte }

func (b *headBuffer) Write(p []byte) (int, error) {
	b.b = append(b.b, p...)
	return len(p), nil
}

// Write writes p to the connection under the write timeout. The replay
// writes through it in the handler's goroutine.
func (c *hijacked) Write(p []byte) (int, error) {
	return c.write(p, c.writeTimeout)
}

// write writes p to the connection, waiting at most wait for room in its
// socket buffer.
func (c *hijacked) write(p []byte, wait time.Duration) (int, error) {
	now := time.Now()
	if err := c.conn.SetWriteDeadline(now.Add(wait)); err != nil {
		return 0, fmt.Errorf("mercure: set write deadline: %w", err)
	}
	n, err := c.conn.Write(p)
	if err != nil {
		return n, fmt.Errorf("mercure: write: %w", err)
	}
	c.last = now
	return n, nil
}

// tryWrite writes what the socket takes of p without waiting, or waiting
// poolWriteWait at most. A short count with a nil or deadline error means
// the socket is full.
func (c *hijacked) tryWrite(p []byte) (int, error) {
	if c.fd < 0 {
		return c.write(p, poolWriteWait)
	}
	n, err := writeNow(c.fd, p)
	if err != nil {
		return n, fmt.Errorf("mercure: write: %w", err)
	}
	if n == len(p) {
		c.last = time.Now()
	}
	return n, nil
}

// writeRest finishes, under the write timeout, a write the socket buffer
// had no room for, and then ends the turn serve began: with after, Drain's
// terminal error, if any.
func (c *hijacked) writeRest(p []byte, after error) {
	_, err := c.Write(p)
	if err == nil {
		err = after
	}
	if err != nil {
		c.finish(err)
		return
	}
	c.yield()
}

// serve is a pool worker's turn on c: write what the subscriber queued, or
// a heartbeat that is due, or end the stream. buf is the worker's buffer,
// returned for reuse.
func (c *hijacked) serve(buf []byte) []byte {
	c.mu.Lock()
	c.state = svcRunning
	beat, expired, gone := c.beat, c.expired, c.gone
	c.beat = false
	c.mu.Unlock()
	var err error
	switch {
	case gone:
		err = errHungUp
	case expired:
		err = errTokenExpired
	default:
		buf, err = c.sub.Drain(buf, drainLimit)
		if len(buf) == 0 && beat && time.Since(c.last) >= c.heartbeat {
			buf = sse.AppendComment(buf, "")
		}
		var n int
		var werr error
		if len(buf) > 0 {
			n, werr = c.tryWrite(buf)
		}
		if beat {
			// The timer is not pushed back on every write, which would
			// cost a timer update per event: when it fires, a stream
			// written to meanwhile gets no comment, and the timer is set
			// for what is left of the interval since the last write.
			c.hb.Reset(max(c.heartbeat-time.Since(c.last), time.Millisecond))
		}
		switch {
		case werr == nil && n == len(buf):
		case werr == nil, errors.Is(werr, os.ErrDeadlineExceeded):
			// The client's socket buffer is full: it gets a goroutine of
			// its own for the rest of the write, so that no worker, and
			// no other stream, waits on it.
			go c.writeRest(bytes.Clone(buf[n:]), err)
			return buf
		default:
			err = cmpError(err, werr)
		}
	}
	if err != nil {
		c.finish(err)
		return buf
	}
	c.yield()
	return buf
}

func cmpError(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// wake asks the pool to serve c: the subscriber has something, a timer
// fired or the client hung up. It never blocks: it may run under the hub's
// lock.
func (c *hijacked) wake() {
	c.mu.Lock()
	push := false
	switch c.state {
	case svcIdle:
		c.state, push = svcQueued, true
	case svcRunning:
		c.state = svcRerun
	}
	c.mu.Unlock()
	if push {
		c.h.pool.push(c)
	}
}

// yield ends a turn on c: back to idle, or into the queue again if c was
// woken meanwhile.
func (c *hijacked) yield() {
	c.mu.Lock()
	push := c.state == svcRerun
	if push {
		c.state = svcQueued
	} else {
		c.state = svcIdle
	}
	c.mu.Unlock()
	if push {
		c.h.pool.push(c)
	}
}

func (c *hijacked) beatDue() { c.flag(&c.beat) }
func (c *hijacked) expire()  { c.flag(&c.expired) }
func (c *hijacked) hangUp()  { c.flag(&c.gone) }

func (c *hijacked) flag(f *bool) {
	c.mu.Lock()
	*f = true
	c.mu.Unlock()
	c.wake()
}

// finish ends the stream and undoes what the handler set up for it: what
// the handler's defers do on the net/http path.
func (c *hijacked) finish(err error) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	c.mu.Unlock()
	if c.hb != nil {
		c.hb.Stop()
	}
	if c.exp != nil {
		c.exp.Stop()
	}
	c.h.hangups.unwatch(c.conn, c.watch)
	c.conn.Close()
	c.sub.Close()
	c.release()
	if c.h.onSubChange != nil {
		c.h.onSubChange(-1)
	}
	if c.untrack != nil {
		// It publishes: a worker must not wait for the log.
		go c.untrack()
	}
	ctx := context.Background()
	switch {
	case errors.Is(err, hub.ErrClosed):
		c.h.log.DebugContext(ctx, "mercure: subscriber ended by shutdown")
	case errors.Is(err, hub.ErrSlowSubscriber):
		c.h.log.WarnContext(ctx, "mercure: subscriber disconnected: too slow", "remote", c.remote, "err", err)
	default:
		c.h.log.DebugContext(ctx, "mercure: subscriber ended", "remote", c.remote, "err", err)
	}
}
