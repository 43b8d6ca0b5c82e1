package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Window is the flow-control window the generator grants the server,
// per stream and per connection: far more than a run receives, so that the
// server never waits for the generator's WINDOW_UPDATE frames, and the
// generator writes one only after a stream or connection received half
// of it. net/http's client grants 4 MiB per stream and writes a
// WINDOW_UPDATE with a flush every 4 KiB read: at 10,000 streams that
// was a fifth of the generator's CPU (bench/tls.sh).
const h2Window = 1 << 30

// h2DefaultStreams is how many streams a connection opens when the server
// does not limit them: net/http's server default.
const h2DefaultStreams = 250

// h2ReadBuffer is the read buffer of one HTTP/2 connection, shared by its
// streams.
const h2ReadBuffer = 64 << 10

// errH2 wraps what goes wrong on an HTTP/2 connection or stream.
var errH2 = errors.New("subscribe: HTTP/2")

// h2Client holds the generator's HTTP/2 connections: each carries as many
// subscribers' streams as the server allows, and one goroutine reads all
// of them, pushing each DATA frame through its stream's pushParser as the
// epoll reader does for HTTP/1.1 sockets, with no goroutine, pipe or
// buffer per stream.
type h2Client struct {
	addr   string // host:port to dial
	dial   *net.Dialer
	tls    *tls.Config // with h2 in NextProtos
	origin string      // :scheme and :authority of requests
	scheme string
	token  string
	hist   []*histogram
	window uint32 // h2Window; smaller in tests

	dialing chan struct{} // one dial at a time: the next connection waits to learn the server's limit
	mu      sync.Mutex
	conns   []*h2Conn
	readers sync.WaitGroup
}

// h2Conn is one HTTP/2 connection of an h2Client.
type h2Conn struct {
	cl   *h2Client
	conn net.Conn
	fr   *http2.Framer

	// Under cl.mu: the streams reserved or open, against the server's limit.
	active, limit int
	dead          bool

	wmu  sync.Mutex // frames written: HEADERS from connecting goroutines, the rest from the reader
	henc *hpack.Encoder
	hbuf bytes.Buffer
	next uint32 // the next stream ID, under wmu

	smu     sync.Mutex
	streams map[uint32]*h2Stream

	// The reader's own.
	recv uint32 // connection-level bytes received since the last WINDOW_UPDATE
}

// h2Stream is one subscriber's stream.
type h2Stream struct {
	c    *subConn
	hist *histogram
	head chan error // the response head's verdict, once

	// The reader's own.
	status int          // 0 until the head came
	msg    bytes.Buffer // the start of a refused subscription's body
	recv   uint32       // bytes received since the last WINDOW_UPDATE
}

func newH2Client(t *target, dial *net.Dialer, token string, hist []*histogram) *h2Client {
	return &h2Client{
		addr:    t.addr,
		dial:    dial,
		tls:     t.tlsConfig("h2"),
		origin:  t.url.Host,
		scheme:  t.url.Scheme,
		token:   token,
		hist:    hist,
		window:  h2Window,
		dialing: make(chan struct{}, 1),
	}
}

// open opens c's stream to requestURI within dialCtx, on a connection
// that lives until life ends, and waits for its response head. From then
// on the connection's reader records c's events.
func (cl *h2Client) open(dialCtx, life context.Context, i int, requestURI string, c *subConn) error {
	cc, err := cl.reserve(dialCtx, life)
	if err != nil {
		return err
	}
	st := &h2Stream{c: c, hist: cl.hist[i%len(cl.hist)], head: make(chan error, 1)}
	id, err := cc.request(requestURI, st)
	if err != nil {
		cc.forget(id)
		return err
	}
	select {
	case err = <-st.head:
	case <-dialCtx.Done():
		err = context.Cause(dialCtx)
		if cc.forget(id) {
			cc.wmu.Lock()
			cc.fr.WriteRSTStream(id, http2.ErrCodeCancel)
			cc.wmu.Unlock()
		}
	}
	return err
}

// reserve returns a connection with room for one more stream, counted as
// taken, dialing one if none has room.
func (cl *h2Client) reserve(dialCtx, life context.Context) (*h2Conn, error) {
	for {
		if cc := cl.room(); cc != nil {
			return cc, nil
		}
		select {
		case cl.dialing <- struct{}{}:
		case <-dialCtx.Done():
			return nil, context.Cause(dialCtx)
		}
		// Another connection may have been dialed while this one waited.
		if cc := cl.room(); cc != nil {
			<-cl.dialing
			return cc, nil
		}
		cc, err := cl.connect(dialCtx, life)
		if err != nil {
			<-cl.dialing
			return nil, err
		}
		cl.mu.Lock()
		cl.conns = append(cl.conns, cc)
		cl.mu.Unlock()
		<-cl.dialing
	}
}

// room takes a stream of a connection that has one free, or returns nil.
func (cl *h2Client) room() *h2Conn {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, cc := range cl.conns {
		if !cc.dead && cc.active < cc.limit {
			cc.active++
			return cc
		}
	}
	return nil
}

// connect dials a connection, reads the server's settings and starts the
// connection's reader.
func (cl *h2Client) connect(dialCtx, life context.Context) (*h2Conn, error) {
	conn, err := cl.dial.DialContext(dialCtx, "tcp", cl.addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(conn, cl.tls)
	if err := tc.HandshakeContext(dialCtx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("subscribe: TLS: %w", err)
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		tc.Close()
		return nil, fmt.Errorf("%w: the server chose %q by ALPN, not h2", errH2, p)
	}
	cc := &h2Conn{cl: cl, conn: tc, next: 1, streams: make(map[uint32]*h2Stream)}
	cc.fr = http2.NewFramer(tc, bufio.NewReaderSize(tc, h2ReadBuffer))
	cc.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	cc.henc = hpack.NewEncoder(&cc.hbuf)
	fail := func(err error) (*h2Conn, error) {
		tc.Close()
		return nil, err
	}
	if d, ok := dialCtx.Deadline(); ok {
		tc.SetDeadline(d)
	}
	// RFC 9113, section 3.4: the preface, then SETTINGS; the connection's
	// window is raised by a WINDOW_UPDATE (section 6.9.2).
	if _, err := io.WriteString(tc, http2.ClientPreface); err != nil {
		return fail(err)
	}
	if err := cc.fr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: cl.window},
	); err != nil {
		return fail(err)
	}
	if cl.window > 65535 {
		if err := cc.fr.WriteWindowUpdate(0, cl.window-65535); err != nil {
			return fail(err)
		}
	}
	// The server's SETTINGS come first (section 3.4): its stream limit
	// says how many subscribers this connection carries.
	f, err := cc.fr.ReadFrame()
	if err != nil {
		return fail(fmt.Errorf("%w: reading the server's SETTINGS: %w", errH2, err))
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		return fail(fmt.Errorf("%w: the server's first frame is %v, not SETTINGS", errH2, f.Header().Type))
	}
	cc.limit = h2DefaultStreams
	if v, ok := sf.Value(http2.SettingMaxConcurrentStreams); ok {
		cc.limit = int(min(v, 1<<20))
	}
	if cc.limit == 0 {
		return fail(fmt.Errorf("%w: the server allows no stream", errH2))
	}
	if err := cc.fr.WriteSettingsAck(); err != nil {
		return fail(err)
	}
	tc.SetDeadline(time.Time{})
	context.AfterFunc(life, func() { tc.Close() })
	cl.readers.Go(cc.read)
	return cc, nil
}

// request writes the HEADERS of a GET of requestURI on a new stream of cc
// for st, and returns its ID.
func (cc *h2Conn) request(requestURI string, st *h2Stream) (uint32, error) {
	cl := cc.cl
	cc.wmu.Lock()
	defer cc.wmu.Unlock()
	id := cc.next
	cc.next += 2
	cc.smu.Lock()
	if cc.streams == nil {
		cc.smu.Unlock()
		return id, fmt.Errorf("%w: the connection closed", errH2)
	}
	cc.streams[id] = st
	cc.smu.Unlock()
	cc.hbuf.Reset()
	fields := [...]hpack.HeaderField{
		{Name: ":method", Value: "GET"},
		{Name: ":scheme", Value: cl.scheme},
		{Name: ":authority", Value: cl.origin},
		{Name: ":path", Value: requestURI},
		{Name: "accept", Value: "text/event-stream"},
		{Name: "cache-control", Value: "no-cache"},
	}
	for _, f := range fields {
		cc.henc.WriteField(f)
	}
	if cl.token != "" {
		cc.henc.WriteField(hpack.HeaderField{Name: "authorization", Value: "Bearer " + cl.token, Sensitive: true})
	}
	// A header block over the default maximum frame size (16 KiB) would
	// need CONTINUATION frames; a request line and a token are far less.
	err := cc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: cc.hbuf.Bytes(), EndStream: true, EndHeaders: true})
	if err != nil {
		return id, fmt.Errorf("%w: writing HEADERS: %w", errH2, err)
	}
	return id, nil
}

// forget drops stream id of cc, freeing its place, and reports whether
// it was still there.
func (cc *h2Conn) forget(id uint32) bool {
	cc.smu.Lock()
	_, ok := cc.streams[id]
	delete(cc.streams, id)
	cc.smu.Unlock()
	if ok {
		cc.release()
	}
	return ok
}

// release frees a stream's place on cc.
func (cc *h2Conn) release() {
	cc.cl.mu.Lock()
	cc.active--
	cc.cl.mu.Unlock()
}

// read is the connection's reader: it reads every frame until the
// connection fails or closes, then ends the streams still open.
func (cc *h2Conn) read() {
	err := cc.readFrames()
	cc.conn.Close()
	cc.cl.mu.Lock()
	cc.dead = true
	cc.cl.mu.Unlock()
	cc.smu.Lock()
	streams := cc.streams
	cc.streams = nil
	cc.smu.Unlock()
	for _, st := range streams {
		cc.end(st, fmt.Errorf("%w: connection: %w", errH2, err))
	}
}

func (cc *h2Conn) readFrames() error {
	sink := connSink{}
	for {
		f, err := cc.fr.ReadFrame()
		if err != nil {
			return err
		}
		switch f := f.(type) {
		case *http2.DataFrame:
			st := cc.stream(f.StreamID)
			if err := cc.data(f, st, &sink); err != nil {
				return err
			}
			if st != nil && f.StreamEnded() {
				cc.close(f.StreamID, st, io.EOF)
			}
		case *http2.MetaHeadersFrame:
			st := cc.stream(f.StreamID)
			if st == nil {
				continue
			}
			if st.status == 0 {
				cc.head(st, f)
			}
			if f.StreamEnded() {
				cc.close(f.StreamID, st, io.EOF)
			}
		case *http2.RSTStreamFrame:
			if st := cc.stream(f.StreamID); st != nil {
				cc.close(f.StreamID, st, fmt.Errorf("%w: stream reset: %v", errH2, f.ErrCode))
			}
		case *http2.SettingsFrame:
			if !f.IsAck() {
				cc.write(func() error { return cc.fr.WriteSettingsAck() })
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				cc.write(func() error { return cc.fr.WritePing(true, f.Data) })
			}
		case *http2.GoAwayFrame:
			cc.goAway(f)
		}
	}
}

// data accounts for DATA frame f of stream st (nil: one no longer open)
// and pushes its bytes to st's parser.
func (cc *h2Conn) data(f *http2.DataFrame, st *h2Stream, sink *connSink) error {
	// Flow control counts the whole payload, padding included (RFC 9113,
	// section 6.9).
	n := f.Header().Length
	cc.recv += n
	if cc.recv >= cc.cl.window/2 {
		inc := cc.recv
		cc.recv = 0
		if err := cc.write(func() error { return cc.fr.WriteWindowUpdate(0, inc) }); err != nil {
			return err
		}
	}
	if st == nil {
		return nil
	}
	b := f.Data()
	switch {
	case st.status == http2StatusOK:
		sink.c, sink.h, sink.now = st.c, st.hist, time.Now().UnixNano()
		st.c.parser.lines(b, sink)
	case st.status != 0:
		// A refused subscription: keep the start of the reason.
		st.msg.Write(b[:min(len(b), max(0, 200-st.msg.Len()))])
	}
	st.recv += n
	if st.recv >= cc.cl.window/2 && !f.StreamEnded() {
		inc := st.recv
		st.recv = 0
		return cc.write(func() error { return cc.fr.WriteWindowUpdate(f.StreamID, inc) })
	}
	return nil
}

// http2StatusOK is the status of a subscription that streams.
const http2StatusOK = 200

// head reads the response head of st.
func (cc *h2Conn) head(st *h2Stream, f *http2.MetaHeadersFrame) {
	st.status, _ = strconv.Atoi(f.PseudoValue("status"))
	if st.status == 0 {
		st.status = -1 // no valid :status: a refusal without a reason
	}
	if st.status == http2StatusOK {
		st.c.parser = newPushParser(framingClose, 0)
		st.head <- nil
	}
}

// close ends stream id with err: a stream still waiting for its head
// learns why it failed, an open one is over.
func (cc *h2Conn) close(id uint32, st *h2Stream, err error) {
	if cc.forget(id) {
		cc.end(st, err)
	}
}

// end tells st it is over.
func (cc *h2Conn) end(st *h2Stream, err error) {
	switch {
	case st.status == http2StatusOK:
		st.c.end(err)
	case st.status != 0:
		st.head <- fmt.Errorf("%w %d: %s", errConnectStatus, st.status, strings.TrimSpace(st.msg.String()))
	default:
		st.head <- err
	}
}

// goAway ends the streams the server will not serve (RFC 9113, section
// 6.8) and opens no more on cc.
func (cc *h2Conn) goAway(f *http2.GoAwayFrame) {
	cc.cl.mu.Lock()
	cc.dead = true
	cc.cl.mu.Unlock()
	cc.smu.Lock()
	var gone map[uint32]*h2Stream
	for id, st := range cc.streams {
		if id > f.LastStreamID {
			if gone == nil {
				gone = make(map[uint32]*h2Stream)
			}
			gone[id] = st
		}
	}
	cc.smu.Unlock()
	for id, st := range gone {
		cc.close(id, st, fmt.Errorf("%w: GOAWAY %v", errH2, f.ErrCode))
	}
}

// stream returns the open stream id, or nil.
func (cc *h2Conn) stream(id uint32) *h2Stream {
	cc.smu.Lock()
	defer cc.smu.Unlock()
	return cc.streams[id]
}

// write writes a frame with fn under the write lock.
func (cc *h2Conn) write(fn func() error) error {
	cc.wmu.Lock()
	defer cc.wmu.Unlock()
	return fn()
}
