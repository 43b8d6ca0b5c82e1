package ssehubtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/quic-go/qpack"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"
)

// HTTP/3 frame types (RFC 9114 section 7.2) and the control stream's type
// (section 6.2.1).
const (
	H3Data     = 0x00
	H3Headers  = 0x01
	H3Settings = 0x04
	H3GoAway   = 0x07

	h3ControlStream = 0x00
)

// H3NoError is H3_NO_ERROR (RFC 9114 section 8.1), the code of a
// connection closed gracefully.
const H3NoError = 0x100

// H3Frame is one HTTP/3 frame as it came.
type H3Frame struct {
	Type    uint64
	Payload []byte
}

// H3Conn is a raw HTTP/3 client connection over QUIC, for what quic-go's
// client hides: the frames of the server's control stream (SETTINGS,
// GOAWAY) and how each request stream ends (FIN or reset).
type H3Conn struct {
	tb   testing.TB
	Conn *quic.Conn
	// control carries the frames of the server's control stream; it is
	// closed when that stream ends, with ctrlErr saying how.
	control chan H3Frame
	ctrlErr error
	enc     *qpack.Encoder
	hbuf    bytes.Buffer
}

// DialH3 opens an HTTP/3 connection to addr (UDP), trusting roots (any
// certificate if roots is nil), and opens the client's control stream
// with an empty SETTINGS frame (RFC 9114 section 6.2.1). The connection is
// closed at the end of the test.
func DialH3(tb testing.TB, addr string, roots *x509.CertPool) *H3Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conf := &tls.Config{RootCAs: roots, NextProtos: []string{"h3"}, InsecureSkipVerify: roots == nil}
	conn, err := quic.DialAddr(ctx, addr, conf, &quic.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.CloseWithError(H3NoError, "") })
	c := &H3Conn{tb: tb, Conn: conn, control: make(chan H3Frame, 16)}
	c.enc = qpack.NewEncoder(&c.hbuf)
	ctrl, err := conn.OpenUniStream()
	if err != nil {
		tb.Fatal(err)
	}
	b := quicvarint.Append(nil, h3ControlStream)
	b = appendH3Frame(b, H3Settings, nil)
	if _, err := ctrl.Write(b); err != nil {
		tb.Fatal(err)
	}
	go c.acceptUni()
	return c
}

// acceptUni reads the server's unidirectional streams: the control
// stream's frames go to c.control; others (QPACK's) are drained.
func (c *H3Conn) acceptUni() {
	for {
		str, err := c.Conn.AcceptUniStream(context.Background())
		if err != nil {
			return
		}
		r := quicvarint.NewReader(str)
		typ, err := quicvarint.Read(r)
		if err != nil {
			continue
		}
		if typ != h3ControlStream {
			go io.Copy(io.Discard, str)
			continue
		}
		go func() {
			defer close(c.control)
			for {
				f, err := readH3Frame(r)
				if err != nil {
					c.ctrlErr = err
					return
				}
				c.control <- f
			}
		}()
	}
}

// ControlFrame returns the next frame of the server's control stream; ok
// is false if the stream ended first (err says how) or none came within
// timeout.
func (c *H3Conn) ControlFrame(timeout time.Duration) (f H3Frame, ok bool, err error) {
	select {
	case f, ok := <-c.control:
		if !ok {
			return H3Frame{}, false, c.ctrlErr
		}
		return f, true, nil
	case <-time.After(timeout):
		return H3Frame{}, false, fmt.Errorf("no control frame within %v", timeout)
	}
}

// H3Stream is a request stream of an H3Conn.
type H3Stream struct {
	Str *quic.Stream
	r   quicvarint.Reader
}

// Get opens a request stream with a GET of path and ends the request
// (FIN), as a request without content does (RFC 9114 section 4.1).
func (c *H3Conn) Get(authority, path string) *H3Stream {
	c.tb.Helper()
	str, err := c.Conn.OpenStream()
	if err != nil {
		c.tb.Fatal(err)
	}
	c.hbuf.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", authority}, {":path", path}} {
		c.enc.WriteField(qpack.HeaderField{Name: f[0], Value: f[1]})
	}
	c.enc.Close()
	if _, err := str.Write(appendH3Frame(nil, H3Headers, c.hbuf.Bytes())); err != nil {
		c.tb.Fatal(err)
	}
	if err := str.Close(); err != nil {
		c.tb.Fatal(err)
	}
	return &H3Stream{Str: str, r: quicvarint.NewReader(str)}
}

// Next reads the stream's next frame: io.EOF when the server ended the
// stream cleanly (FIN at a frame boundary), a *quic.StreamError when it
// reset it, a *quic.ApplicationError when the connection closed first.
func (s *H3Stream) Next() (H3Frame, error) {
	return readH3Frame(s.r)
}

// Fields decodes a HEADERS frame's field section (QPACK, RFC 9204, static
// table only as quic-go's server sends it).
func Fields(f H3Frame) ([]qpack.HeaderField, error) {
	if f.Type != H3Headers {
		return nil, fmt.Errorf("frame type %#x, want HEADERS", f.Type)
	}
	var fields []qpack.HeaderField
	next := qpack.NewDecoder().Decode(f.Payload)
	for {
		hf, err := next()
		if errors.Is(err, io.EOF) {
			return fields, nil
		}
		if err != nil {
			return nil, err
		}
		fields = append(fields, hf)
	}
}

// GoAwayID is the identifier a GOAWAY frame carries (RFC 9114 section
// 5.2): from a server, the first client-initiated bidirectional stream it
// did not process.
func GoAwayID(f H3Frame) (uint64, error) {
	if f.Type != H3GoAway {
		return 0, fmt.Errorf("frame type %#x, want GOAWAY", f.Type)
	}
	id, n, err := quicvarint.Parse(f.Payload)
	if err == nil && n != len(f.Payload) {
		err = fmt.Errorf("GOAWAY payload of %d bytes holds a %d-byte identifier", len(f.Payload), n)
	}
	return id, err
}

// maxH3Frame bounds the frames read, far above what the hub sends.
const maxH3Frame = 1 << 20

// readH3Frame reads a frame: type, length and payload (RFC 9114 section
// 7.1). A stream that ends before a frame's first byte gives io.EOF; one
// that ends inside a frame gives io.ErrUnexpectedEOF.
func readH3Frame(r quicvarint.Reader) (H3Frame, error) {
	typ, err := quicvarint.Read(r)
	if err != nil {
		return H3Frame{}, err
	}
	n, err := quicvarint.Read(r)
	if err != nil {
		return H3Frame{}, unexpected(err)
	}
	if n > maxH3Frame {
		return H3Frame{}, fmt.Errorf("frame type %#x of %d bytes", typ, n)
	}
	f := H3Frame{Type: typ, Payload: make([]byte, n)}
	if _, err := io.ReadFull(r, f.Payload); err != nil {
		return H3Frame{}, unexpected(err)
	}
	return f, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func appendH3Frame(b []byte, typ uint64, payload []byte) []byte {
	b = quicvarint.Append(b, typ)
	b = quicvarint.Append(b, uint64(len(payload)))
	return append(b, payload...)
}
