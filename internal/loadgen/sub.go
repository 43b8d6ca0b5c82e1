package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Buffer sizes of one subscriber connection of the goroutine reader: the
// response head and the chunked framing are read through the first, event
// lines through the second. Together they stay within the 4 KiB budget per
// connection. The epoll reader needs the first only while reading the head.
const (
	subReadBuffer = 2048
	subLineBuffer = 2048
)

// seqWindow is how far behind the newest number a late arrival is still
// told from a duplicate: 4096 numbers, a 512-byte bitmap per connection,
// allocated at its first gap. Publishers overtaking each other reorder
// by a few numbers; a lossy server leaves gaps that never fill, which a
// set of pending numbers would hold forever.
const seqWindow = 1 << 12

// seqTracker classifies the sequence numbers one subscriber receives. In
// the common in-order case it holds two integers; after a first gap, a
// bitmap of the last seqWindow numbers says which have arrived.
type seqTracker struct {
	max       uint64   // highest received, 0 for none
	unique    uint64   // distinct numbers received
	dup, ooo  uint64   // duplicates, late arrivals
	seen      []uint64 // bit n%seqWindow: n arrived, for max-seqWindow < n <= max; nil before a gap
	malformed uint64   // data lines that were not ours
}

// add records sequence number seq (from 1). A number arriving more than
// seqWindow behind the newest counts as a duplicate: too old to tell.
func (t *seqTracker) add(seq uint64) {
	switch {
	case seq == t.max+1 && t.seen == nil:
		t.max = seq
		t.unique++
	case seq > t.max:
		if t.seen == nil {
			// Everything up to max arrived in order.
			t.seen = make([]uint64, seqWindow/64)
			for i := range t.seen {
				t.seen[i] = ^uint64(0)
			}
		}
		if seq-t.max >= seqWindow {
			clear(t.seen)
		} else {
			for n := t.max + 1; n < seq; n++ {
				t.mark(n, false)
			}
		}
		t.mark(seq, true)
		t.max = seq
		t.unique++
	case t.seen == nil || t.max-seq >= seqWindow || t.arrived(seq):
		t.dup++
	default:
		t.mark(seq, true)
		t.ooo++
		t.unique++
	}
}

func (t *seqTracker) mark(n uint64, arrived bool) {
	i, bit := n%seqWindow/64, uint64(1)<<(n%64)
	if arrived {
		t.seen[i] |= bit
	} else {
		t.seen[i] &^= bit
	}
}

func (t *seqTracker) arrived(n uint64) bool {
	return t.seen[n%seqWindow/64]&(1<<(n%64)) != 0
}

// subConn is one subscriber connection of the generator.
type subConn struct {
	topic int // index of the topic it subscribes to

	received  atomic.Uint64 // data lines with our payload, duplicates included
	lastRecv  atomic.Int64  // unix nanos of the latest one
	connected atomic.Bool   // the response head was 200
	ended     atomic.Bool   // the connection is over
	endErr    error         // why, written before ended is set
	dropped   bool          // ended before the run closed it; set by the run

	seq seqTracker // owned by the connection's reader until ended

	// The epoll reader's state, owned by the connection's loop.
	fd     int32 // the socket, -1 once closed
	parser pushParser
	tc     *tls.Conn // over TLS, what reads fd
}

// subscriber dials and reads subscriber connections.
type subscriber struct {
	target     string // host:port to dial
	host       string // Host header
	requestURI func(topic int) string
	token      string
	dialer     func(i int) *net.Dialer
	hist       []*histogram // shards, picked by connection index
	tls        *tls.Config  // for https targets over HTTP/1.1; nil for http
	h2         *h2Client    // for HTTP/2: every subscriber a stream
}

// errConnectStatus wraps a subscribe answer other than 200.
var errConnectStatus = errors.New("subscribe: unexpected status")

// subHead is a subscriber connection whose response head was read.
type subHead struct {
	conn net.Conn
	br   *bufio.Reader // may hold the first bytes of the body
	// Over TLS, conn is tc, on sock: the epoll reader takes sock's socket
	// over and reads through tc.
	tc   *tls.Conn
	sock *tlsSocket
	resp *http.Response
	stop func() bool // detaches conn from the run's life
	// pushed: an HTTP/2 stream, whose connection's reader records its
	// events; conn, br and resp are nil.
	pushed bool
}

// framing returns how the body of h's response is delimited.
func (h *subHead) framing() (bodyFraming, uint64) {
	switch {
	case slices.Contains(h.resp.TransferEncoding, "chunked"):
		return framingChunked, 0
	case h.resp.ContentLength >= 0:
		return framingLength, uint64(h.resp.ContentLength)
	}
	return framingClose, 0
}

// connect opens connection i within dialCtx and reads its response head.
// The connection lives until life ends or, once detached, until its reader
// closes it.
func (s *subscriber) connect(dialCtx, life context.Context, i int, c *subConn) (*subHead, error) {
	if s.h2 != nil {
		if err := s.h2.open(dialCtx, life, i, s.requestURI(c.topic), c); err != nil {
			return nil, err
		}
		return &subHead{pushed: true}, nil
	}
	conn, err := s.dialer(i).DialContext(dialCtx, "tcp", s.target)
	if err != nil {
		return nil, err
	}
	var tc *tls.Conn
	var sock *tlsSocket
	if s.tls != nil {
		sock = &tlsSocket{Conn: conn, fd: -1}
		tc = tls.Client(sock, s.tls)
		if err := tc.HandshakeContext(dialCtx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("subscribe: TLS: %w", err)
		}
		conn = tc
	}
	stop := context.AfterFunc(life, func() { conn.Close() })
	fail := func(err error) (*subHead, error) {
		stop()
		conn.Close()
		return nil, err
	}
	if d, ok := dialCtx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	var b strings.Builder
	b.Grow(256 + len(s.token))
	b.WriteString("GET ")
	b.WriteString(s.requestURI(c.topic))
	b.WriteString(" HTTP/1.1\r\nHost: ")
	b.WriteString(s.host)
	b.WriteString("\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n")
	if s.token != "" {
		b.WriteString("Authorization: Bearer ")
		b.WriteString(s.token)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(conn, subReadBuffer)
	// The head is parsed once per connection, so net/http's parser costs
	// nothing that matters; the goroutine reader lets it unframe the body
	// too.
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return fail(fmt.Errorf("subscribe: reading the response: %w", err))
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return fail(fmt.Errorf("%w %s: %s", errConnectStatus, resp.Status, strings.TrimSpace(string(msg))))
	}
	conn.SetDeadline(time.Time{})
	return &subHead{conn: conn, br: br, resp: resp, stop: stop, tc: tc, sock: sock}, nil
}

// tlsSocket is the connection under a TLS subscriber's crypto/tls
// connection: the dialed one until the epoll reader takes its socket
// over, then the socket's non-blocking duplicate fd, read and written
// without Go's poller. A read that finds the socket empty fails with
// errWouldBlock, a timeout to crypto/tls, which keeps a partial record
// for the next read (as after a deadline) instead of failing the
// connection: the epoll reader reads through the tls.Conn until then.
type tlsSocket struct {
	net.Conn
	fd int // -1 until taken over
	// drained: the last read was short, so the socket is empty and the
	// next read would only learn it again (edge-triggered epoll reports
	// what arrives later).
	drained bool
}

func (s *tlsSocket) Read(p []byte) (int, error) {
	if s.fd < 0 {
		return s.Conn.Read(p)
	}
	if s.drained {
		s.drained = false
		return 0, errWouldBlock
	}
	n, err := readNow(s.fd, p)
	s.drained = err == nil && n < len(p)
	return n, err
}

// Write is for what crypto/tls sends by itself after the request (an
// alert): once taken over, what the socket does not take at once fails.
func (s *tlsSocket) Write(p []byte) (int, error) {
	if s.fd < 0 {
		return s.Conn.Write(p)
	}
	return writeNow(s.fd, p)
}

// errWouldBlock is the read of a taken-over TLS subscriber's socket that
// has nothing more for now.
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "loadgen: the socket has nothing to read now" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true } // what crypto/tls asks

// read consumes connection i's events until it ends, recording latencies
// into the connection's histogram shard. It is the goroutine reader.
func (s *subscriber) read(body io.Reader, i int, c *subConn) {
	h := s.hist[i%len(s.hist)]
	sc := newDataScanner(body, subLineBuffer)
	for {
		v, err := sc.next()
		if err != nil {
			c.end(err)
			return
		}
		c.record(h, time.Now().UnixNano(), v)
	}
}

// record accounts for data value v received at now.
func (c *subConn) record(h *histogram, now int64, v []byte) {
	seq, ts, err := parsePayload(v)
	if err != nil {
		c.seq.malformed++
		return
	}
	if d := now - ts; d > 0 {
		h.record(uint64(d))
	} else {
		h.record(0)
	}
	c.seq.add(seq)
	c.lastRecv.Store(now)
	c.received.Add(1)
}

// end marks the connection over because of err.
func (c *subConn) end(err error) {
	c.endErr = err
	c.ended.Store(true)
}

// connSink records the data values a pushParser finds on connection c,
// received at now.
type connSink struct {
	c   *subConn
	h   *histogram
	now int64
}

func (s *connSink) data(v []byte) { s.c.record(s.h, s.now, v) }

func (s *connSink) oversized() { s.c.seq.malformed++ }
