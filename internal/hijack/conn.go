// Package hijack is the connection engine of a hub's subscribers: it
// serves event streams on HTTP/1.1 connections taken over from net/http,
// so that an idle subscriber costs no goroutine. Events are written by a
// small pool of goroutines shared by every stream when a stream has
// something to write, a heartbeat is due or the stream ends; hang-ups are
// noticed by one epoll instance for all of them (Linux). The response and
// its defaults are those of [sse.NewStream]; the protocol deciding what to
// stream (Mercure) lives in the caller.
package hijack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// DefaultSendBuffer is a good [Options.SendBuffer]: room for bursts of
// events, a bounded price for a client that stops reading. Linux doubles
// the value for its bookkeeping.
const DefaultSendBuffer = 128 << 10

// Bounds on one pool worker's turn on a stream. drainLimit caps the bytes
// it drains, so that a backlog is written a slice at a time, round-robin
// with the other streams, and never copied whole. A worker does not wait
// for room in a client's socket buffer: what the socket does not take at
// once goes to a goroutine of the stream's own; where the socket cannot
// be written without waiting (TLS), every write does.
const drainLimit = 64 << 10

// Why a stream ended, besides its Source's errors and write errors.
var (
	// ErrHungUp is the end of a stream whose client hung up.
	ErrHungUp = errors.New("hijack: client hung up")
	// ErrExpired is the end of a stream whose [Options.Expires] passed.
	ErrExpired = errors.New("hijack: expired")
)

// Source is what a stream writes: a hub subscriber ([hub.Subscriber]
// implements it).
type Source interface {
	// Replay writes the events due before the live ones to w.
	Replay(ctx context.Context, w io.Writer) error
	// Attach arranges for ready to be called, without blocking, whenever
	// the source has something for Drain.
	Attach(ready func())
	// Drain appends at most about limit bytes of encoded events to dst; an
	// error ends the stream after what it returned is written.
	Drain(dst []byte, limit int) ([]byte, error)
	// Ended is called once when the stream ends, with why, after the
	// connection is closed.
	Ended(err error)
}

// Options configures one stream.
type Options struct {
	// Heartbeat is how long the stream may stay silent before a comment is
	// sent; 0 means sse.DefaultHeartbeat, negative no heartbeats.
	Heartbeat time.Duration
	// WriteTimeout bounds a write that waits for room in the client's
	// socket buffer; 0 or negative means sse.DefaultWriteTimeout.
	WriteTimeout time.Duration
	// SendBuffer, if positive, caps the kernel's send buffer (SO_SNDBUF)
	// of the connection; see [DefaultSendBuffer].
	SendBuffer int
	// Expires, if not zero, ends the stream with [ErrExpired] then.
	Expires time.Time
	// Started, if set, is called once the connection is taken over,
	// before anything is written.
	Started func()
}

// Service states of a stream, under Stream.mu. At most one goroutine serves
// a stream at a time: the handler while it sets the stream up and
// replays, then one pool worker per wake-up (or the goroutine it hands a
// full socket's write to). Only that goroutine writes to or closes the
// connection, which lets writeNow go around net.Conn's locks.
const (
	svcIdle    = iota // waiting for a wake-up
	svcQueued         // in the pool's queue
	svcRunning        // being served
	svcRerun          // being served, and woken again meanwhile
)

// Engine serves streams on taken-over connections with one writer pool and
// one hang-up watcher for all of them. The zero value is ready to use; an
// Engine runs no goroutine while it has nothing to write or watch.
type Engine struct {
	pool    writerPool
	hangups hangupWatcher
}

// Stream is a subscriber's stream on an HTTP/1.1 connection taken over
// from net/http: net/http's connection goroutine and its background reader
// end with the handler, and their buffers are collected. A client whose
// socket buffer is full gets a goroutine of its own until the write
// completes or times out. The response has no Content-Length and no
// chunked encoding: its body ends when the connection closes, as HTTP/1.1
// allows.
//
// Its zero value is ready for one [Engine.Serve]. Embed it in the struct
// that implements the stream's [Source], so that a stream costs one
// allocation: a hub holds many thousands of idle ones.
type Stream struct {
	// A pool turn touches these for every event: first and together.
	mu      sync.Mutex
	state   int32
	beat    bool // the heartbeat timer fired
	expired bool // Options.Expires passed
	gone    bool // the client hung up
	ended   bool // under mu, like the four above

	e         *Engine
	src       Source
	fd        int           // conn's socket for writeNow, -1 if none
	sock      int           // with fd -1, the socket under conn (TLS) for roomFor, -1 if none
	sndbuf    int           // sock's send buffer as the kernel counts it
	last      time.Time     // last successful write
	heartbeat time.Duration // <= 0: none
	hb        *time.Timer

	conn         net.Conn
	writeTimeout time.Duration
	watch        uint64 // the hangupWatcher registration, 0 if none
	exp          *time.Timer
}

// Available reports whether this platform serves streams on taken-over
// connections: it needs a hang-up watcher, without which a client's
// hang-up would go unnoticed until the next heartbeat.
const Available = canWatchHangups

// Supported reports whether r's stream may be served on a taken-over
// connection: HTTP/1.x, on a platform where it is [Available].
func Supported(r *http.Request) bool {
	return Available && r.ProtoMajor == 1
}

// Serve takes over w's connection and streams src on it with the state s:
// the response head (w's header fields, with those of [sse.SetHeaders]),
// what src replays, then what it drains when it signals. It returns true
// once the stream is handed to the writer pool or has ended, and false,
// having written nothing, if w's connection cannot be taken over: the
// caller then streams through net/http. From then on the stream owns src
// until src.Ended.
func (e *Engine) Serve(w http.ResponseWriter, r *http.Request, s *Stream, src Source, opts Options) bool {
	// net/http's buffered reader and writer must not outlive the handler:
	// the stream writes to the connection directly, and an SSE client
	// sends nothing after its request.
	nc, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	tcp, _ := nc.(*net.TCPConn)
	if tc, ok := nc.(interface{ NetConn() net.Conn }); ok {
		tcp, _ = tc.NetConn().(*net.TCPConn) // under TLS
	}
	if tcp != nil && opts.SendBuffer > 0 {
		// Best effort: a connection keeps the kernel's default if refused.
		tcp.SetWriteBuffer(opts.SendBuffer)
	}
	c := s
	c.e, c.conn, c.fd, c.src = e, nc, socketOf(nc), src
	c.sock = -1
	if c.fd < 0 && tcp != nil {
		c.sock, c.sndbuf = socketOf(tcp), sendBufferOf(tcp)
	}
	c.heartbeat, c.writeTimeout = opts.Heartbeat, opts.WriteTimeout
	c.state = svcRunning // the handler's until yield
	if c.heartbeat == 0 {
		c.heartbeat = sse.DefaultHeartbeat
	}
	if c.writeTimeout <= 0 {
		c.writeTimeout = sse.DefaultWriteTimeout
	}
	if opts.Started != nil {
		opts.Started()
	}
	c.watch = e.hangups.watch(nc, c.hangUp)

	replayCtx := r.Context()
	if !opts.Expires.IsZero() {
		// The stream must not outlive its expiry, replay included. (A
		// duration, not opts.Expires itself, goes into the context, so
		// that nothing of opts outlives Serve and opts.Started can stay
		// on the caller's stack.)
		ttl := time.Until(opts.Expires)
		var cancel context.CancelFunc
		replayCtx, cancel = context.WithTimeout(replayCtx, ttl)
		defer cancel()
		c.exp = time.AfterFunc(ttl, c.expire)
	}
	// The head and a comment at once: a stream opens with a comment line
	// (see mercure), so that proxies pass the headers on without waiting.
	if _, err := c.Write(sse.AppendComment(responseHead(w.Header()), "")); err != nil {
		c.finish(err)
		return true
	}
	if err := src.Replay(replayCtx, c); err != nil {
		c.finish(err)
		return true
	}
	if c.heartbeat > 0 {
		c.hb = time.AfterFunc(c.heartbeat, c.beatDue)
	}
	src.Attach(c.wake)
	c.yield()
	return true
}

// responseHead returns the status line and header of a taken-over stream:
// those of sse.NewStream, with hdr's (CORS, Last-Event-ID) kept.
func responseHead(hdr http.Header) []byte {
	sse.SetHeaders(hdr)
	// The body ends with the connection; say so, and let no framing
	// header contradict it.
	hdr.Set("Connection", "close")
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
func (c *Stream) Write(p []byte) (int, error) {
	return c.write(p, c.writeTimeout)
}

// write writes p to the connection, waiting at most wait for room in its
// socket buffer.
func (c *Stream) write(p []byte, wait time.Duration) (int, error) {
	now := time.Now()
	if err := c.conn.SetWriteDeadline(now.Add(wait)); err != nil {
		return 0, fmt.Errorf("hijack: set write deadline: %w", err)
	}
	n, err := c.conn.Write(p)
	if err != nil {
		return n, fmt.Errorf("hijack: write: %w", err)
	}
	c.last = now
	return n, nil
}

// tryWrite writes what the socket takes of p without waiting. A short
// count with a nil error means the socket is full. A connection that is no
// socket of its own, TLS above all, takes nothing here: its whole write
// goes to a goroutine of its own under the write timeout, because a TLS
// write given up part way (a short deadline) leaves the connection
// unusable, "the TLS state is corrupt" (crypto/tls, SetWriteDeadline).
func (c *Stream) tryWrite(p []byte) (int, error) {
	if c.fd < 0 {
		if c.sock >= 0 && roomFor(c.sock, c.sndbuf, tlsSize(len(p))) {
			// The socket takes all of it at once: no wait, and the
			// deadline, the full write timeout, is never met part way.
			return c.write(p, c.writeTimeout)
		}
		return 0, nil
	}
	n, err := writeNow(c.fd, p)
	if err != nil {
		return n, fmt.Errorf("hijack: write: %w", err)
	}
	if n == len(p) {
		c.last = time.Now()
	}
	return n, nil
}

// tlsSize bounds what n bytes of plaintext take on the wire in TLS
// records of at most 16 KiB: a header, a tag and a content type each.
func tlsSize(n int) int { return n + (n/(16<<10)+1)*64 }

// writeRest finishes, under the write timeout, a write the socket buffer
// had no room for, and then ends the turn serve began: with after, Drain's
// terminal error, if any.
func (c *Stream) writeRest(p []byte, after error) {
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
func (c *Stream) serve(buf []byte) []byte {
	c.mu.Lock()
	c.state = svcRunning
	beat, expired, gone := c.beat, c.expired, c.gone
	c.beat = false
	c.mu.Unlock()
	var err error
	switch {
	case gone:
		err = ErrHungUp
	case expired:
		err = ErrExpired
	default:
		buf, err = c.src.Drain(buf, drainLimit)
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
		case werr == nil:
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
func (c *Stream) wake() {
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
		c.e.pool.push(c)
	}
}

// yield ends a turn on c: back to idle, or into the queue again if c was
// woken meanwhile.
func (c *Stream) yield() {
	c.mu.Lock()
	push := c.state == svcRerun
	if push {
		c.state = svcQueued
	} else {
		c.state = svcIdle
	}
	c.mu.Unlock()
	if push {
		c.e.pool.push(c)
	}
}

func (c *Stream) beatDue() { c.flag(&c.beat) }
func (c *Stream) expire()  { c.flag(&c.expired) }
func (c *Stream) hangUp()  { c.flag(&c.gone) }

func (c *Stream) flag(f *bool) {
	c.mu.Lock()
	*f = true
	c.mu.Unlock()
	c.wake()
}

// finish ends the stream: the timers, the hang-up watch, the connection,
// and then the source's Ended.
func (c *Stream) finish(err error) {
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
	c.e.hangups.unwatch(c.conn, c.watch)
	c.conn.Close()
	c.src.Ended(err)
}
