package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// maxDataValue bounds the data values a pushParser buffers. The
// generator's payload "SEQ UNIXNANOS" is at most 39 bytes: a longer value
// cannot be ours and is reported as oversized rather than kept.
const maxDataValue = 256

// maxChunkLine bounds a chunk-size line with its extensions, as net/http
// does.
const maxChunkLine = 4096

// errChunked reports a chunked body that breaks the HTTP/1.1 framing.
var errChunked = errors.New("malformed chunked body")

// bodyFraming is how an HTTP/1.1 response body is delimited.
type bodyFraming uint8

const (
	framingClose   bodyFraming = iota // until the server closes
	framingChunked                    // Transfer-Encoding: chunked
	framingLength                     // Content-Length
)

// States of the chunked framing.
const (
	chunkSize        uint8 = iota // hex digits of a chunk size
	chunkExt                      // after the size, up to the line's end
	chunkSizeLF                   // after the size line's CR
	chunkData                     // left bytes of chunk data
	chunkDataCR                   // the CR ending a chunk's data
	chunkDataLF                   // the LF ending a chunk's data
	chunkTrailer                  // at the start of a trailer line
	chunkTrailerLine              // inside a trailer field, up to its LF
	chunkTrailerLF                // after the CR of the empty line ending the body
	chunkDone                     // the body is complete
)

// States of the line scanner beyond the 0-4 bytes of "data:" matched at a
// line's start.
const (
	lineValueStart uint8 = 5 + iota // after "data:", where one space is dropped
	lineValue                       // inside a data value
	lineSkip                        // inside any other line
)

// dataSink receives what a pushParser finds.
type dataSink interface {
	// data receives a data field's value, valid during the call only.
	data(v []byte)
	// oversized reports a data value longer than maxDataValue.
	oversized()
}

// pushParser extracts the data values of one event stream from the bytes
// of its HTTP/1.1 response body, delivered in pieces split anywhere. It is
// the per-connection state of the epoll reader, so it is small: a value
// split across reads waits in line, which grows only as far as such
// values need.
//
// Lines end at LF, CR or CRLF. As dataScanner does, only lines starting
// with "data:" yield values, with one space after the colon dropped.
type pushParser struct {
	line     []byte // the start of a data value split across reads
	left     uint64 // bytes left in the chunk or Content-Length body
	framing  bodyFraming
	chunk    uint8  // chunked framing state
	field    uint8  // line state: bytes of "data:" matched, or a line* state
	digits   uint8  // hex digits of the chunk size read
	ext      uint16 // bytes of chunk extensions read
	cr       bool   // the last line ended with CR: a LF next belongs to it
	oversize bool   // the data value in progress exceeded maxDataValue
}

// newPushParser returns a parser of a body framed as f; for
// framingLength, n is the Content-Length.
func newPushParser(f bodyFraming, n uint64) pushParser {
	p := pushParser{framing: f}
	if f == framingLength {
		p.left = n
	}
	return p
}

// feed parses the next bytes of the body. It returns io.EOF once the body
// is complete (bytes after its end are ignored) and an error wrapping
// errChunked if the framing is broken.
func (p *pushParser) feed(b []byte, s dataSink) error {
	switch p.framing {
	case framingClose:
		p.lines(b, s)
		return nil
	case framingLength:
		if p.left == 0 {
			return io.EOF
		}
		n := uint64(len(b))
		if n >= p.left {
			p.lines(b[:p.left], s)
			p.left = 0
			return io.EOF
		}
		p.lines(b, s)
		p.left -= n
		return nil
	}
	for len(b) > 0 {
		if p.chunk == chunkData {
			n := min(p.left, uint64(len(b)))
			p.lines(b[:n], s)
			b = b[n:]
			if p.left -= n; p.left == 0 {
				p.chunk = chunkDataCR
			}
			continue
		}
		if err := p.frame(b[0]); err != nil {
			return err
		}
		b = b[1:]
	}
	if p.chunk == chunkDone {
		return io.EOF
	}
	return nil
}

// frame advances the chunked framing outside chunk data by one byte.
func (p *pushParser) frame(c byte) error {
	switch p.chunk {
	case chunkSize:
		d, ok := hexDigit(c)
		switch {
		case ok && p.digits == 16:
			return fmt.Errorf("%w: chunk size beyond 16 hex digits", errChunked)
		case ok:
			p.left = p.left<<4 | uint64(d)
			p.digits++
		case p.digits == 0:
			return fmt.Errorf("%w: byte %q where a chunk size starts", errChunked, c)
		case c == ';' || c == ' ' || c == '\t':
			// Extensions (and whitespace net/http tolerates) carry
			// nothing we need.
			p.chunk = chunkExt
		case c == '\r':
			p.chunk = chunkSizeLF
		case c == '\n':
			return p.endSizeLine()
		default:
			return fmt.Errorf("%w: byte %q in a chunk size", errChunked, c)
		}
	case chunkExt:
		switch c {
		case '\r':
			p.chunk = chunkSizeLF
		case '\n':
			return p.endSizeLine()
		default:
			if p.ext++; p.ext > maxChunkLine {
				return fmt.Errorf("%w: chunk extensions longer than %d bytes", errChunked, maxChunkLine)
			}
		}
	case chunkSizeLF:
		if c != '\n' {
			return fmt.Errorf("%w: byte %q after the CR of a chunk size line", errChunked, c)
		}
		return p.endSizeLine()
	case chunkDataCR:
		if c != '\r' {
			return fmt.Errorf("%w: byte %q where CRLF ends a chunk", errChunked, c)
		}
		p.chunk = chunkDataLF
	case chunkDataLF:
		if c != '\n' {
			return fmt.Errorf("%w: byte %q where CRLF ends a chunk", errChunked, c)
		}
		p.chunk = chunkSize
	case chunkTrailer:
		switch c {
		case '\r':
			p.chunk = chunkTrailerLF
		case '\n':
			p.chunk = chunkDone
		default:
			p.chunk = chunkTrailerLine
		}
	case chunkTrailerLine:
		if c == '\n' {
			p.chunk = chunkTrailer
		}
	case chunkTrailerLF:
		if c != '\n' {
			return fmt.Errorf("%w: byte %q after the CR ending the trailer", errChunked, c)
		}
		p.chunk = chunkDone
	case chunkDone:
		// Bytes after the body: the caller stops at io.EOF.
	}
	return nil
}

// endSizeLine starts the chunk whose size was just read.
func (p *pushParser) endSizeLine() error {
	p.digits, p.ext = 0, 0
	if p.left == 0 {
		p.chunk = chunkTrailer
		return nil
	}
	p.chunk = chunkData
	return nil
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// eof returns why the body ended when the server closed the connection:
// io.EOF where that is its proper end, io.ErrUnexpectedEOF otherwise.
func (p *pushParser) eof() error {
	switch {
	case p.framing == framingClose,
		p.framing == framingChunked && p.chunk == chunkDone,
		p.framing == framingLength && p.left == 0:
		return io.EOF
	}
	return io.ErrUnexpectedEOF
}

// lines scans event-stream bytes b.
func (p *pushParser) lines(b []byte, s dataSink) {
	for len(b) > 0 {
		if p.cr {
			p.cr = false
			if b[0] == '\n' {
				b = b[1:]
				continue
			}
		}
		switch p.field {
		case lineValueStart:
			if b[0] == ' ' {
				b = b[1:]
			}
			p.field = lineValue
		case lineValue:
			i := lineEnd(b)
			if i < 0 {
				p.keep(b)
				return
			}
			v := b[:i]
			if len(p.line) > 0 || p.oversize {
				p.keep(v)
				v = p.line
			}
			if p.oversize || len(v) > maxDataValue {
				s.oversized()
			} else {
				s.data(v)
			}
			p.line, p.oversize = p.line[:0], false
			p.cr = b[i] == '\r'
			p.field = 0
			b = b[i+1:]
		case lineSkip:
			i := lineEnd(b)
			if i < 0 {
				return
			}
			p.cr = b[i] == '\r'
			p.field = 0
			b = b[i+1:]
		default: // matching "data:"
			if p.field == 0 && len(b) >= 5 && string(b[:5]) == "data:" {
				p.field = lineValueStart
				b = b[5:]
				continue
			}
			c := b[0]
			switch {
			case c == "data:"[p.field]:
				if p.field++; p.field == 5 {
					p.field = lineValueStart
				}
				b = b[1:]
			case c == '\r' || c == '\n':
				p.cr = c == '\r'
				p.field = 0
				b = b[1:]
			default:
				p.field = lineSkip
			}
		}
	}
}

// keep appends part of a data value split across reads to p.line, up to
// maxDataValue.
func (p *pushParser) keep(b []byte) {
	switch {
	case p.oversize:
	case len(p.line)+len(b) > maxDataValue:
		p.oversize = true
		p.line = p.line[:0]
	default:
		if p.line == nil {
			// Room for the generator's payload, so one allocation serves
			// the connection for good.
			p.line = make([]byte, 0, max(48, len(b)))
		}
		p.line = append(p.line, b...)
	}
}

// lineEnd returns the index of the first CR or LF in b, or -1.
func lineEnd(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.IndexByte(b, '\r')
	}
	if j := bytes.IndexByte(b[:i], '\r'); j >= 0 {
		return j
	}
	return i
}
