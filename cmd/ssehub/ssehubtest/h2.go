package ssehubtest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// H2Conn is a raw HTTP/2 client connection over TLS, for what net/http's
// client hides or refuses to do: frames as sent, GOAWAY, streams opened
// and never read, streams reset at once.
type H2Conn struct {
	tb   testing.TB
	Conn *tls.Conn
	Fr   *http2.Framer
	dec  *hpack.Decoder
	enc  *hpack.Encoder
	hbuf bytes.Buffer
}

// DialH2 opens an HTTP/2 connection to addr, negotiated with ALPN, and
// sends the client preface and SETTINGS (RFC 9113 section 3.4), with
// settings if given. The certificate is not verified. The connection is
// closed at the end of the test, and every read and write is bounded by
// 15 s unless the caller sets another deadline on Conn.
func DialH2(tb testing.TB, addr string, settings ...http2.Setting) *H2Conn {
	tb.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		tb.Fatalf("ALPN chose %q, want h2", p)
	}
	c := &H2Conn{tb: tb, Conn: conn, Fr: http2.NewFramer(conn, conn), dec: hpack.NewDecoder(4096, nil)}
	c.enc = hpack.NewEncoder(&c.hbuf)
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		tb.Fatal(err)
	}
	if err := c.Fr.WriteSettings(settings...); err != nil {
		tb.Fatal(err)
	}
	return c
}

// Buffer makes the frames written from now on go through a buffer of
// size bytes, sent by the returned flush (and when it fills): a client
// writing many frames in one burst, faster than one write per frame
// allows. Call it before reading from another goroutine.
func (c *H2Conn) Buffer(size int) (flush func() error) {
	bw := bufio.NewWriterSize(c.Conn, size)
	c.Fr = http2.NewFramer(bw, c.Conn)
	return bw.Flush
}

// Get opens stream id with a GET of path, and reports whether the frame
// was written (a server that closed the connection makes it fail).
func (c *H2Conn) Get(id uint32, authority, path string) bool {
	c.hbuf.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", authority}, {":path", path}} {
		c.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return c.Fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndStream: true, EndHeaders: true}) == nil
}

// Next reads frames until one that is not SETTINGS, PING or
// WINDOW_UPDATE, acknowledging SETTINGS.
func (c *H2Conn) Next() http2.Frame {
	c.tb.Helper()
	for {
		f, err := c.Fr.ReadFrame()
		if err != nil {
			c.tb.Fatalf("reading frames: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				c.Fr.WriteSettingsAck()
			}
			continue
		case *http2.PingFrame, *http2.WindowUpdateFrame:
			continue
		}
		return f
	}
}

// Headers decodes a HEADERS frame's fields.
func (c *H2Conn) Headers(f http2.Frame) []hpack.HeaderField {
	c.tb.Helper()
	hf, ok := f.(*http2.HeadersFrame)
	if !ok {
		c.tb.Fatalf("got %v, want HEADERS", f)
	}
	fields, err := c.dec.DecodeFull(hf.HeaderBlockFragment())
	if err != nil {
		c.tb.Fatal(err)
	}
	return fields
}
