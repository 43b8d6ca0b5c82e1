package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"time"
	"unicode/utf8"
)

// DefaultMaxEventSize is the limit a Decoder (and a Client) applies when
// MaxEventSize is zero: 16 MiB per line and per event's data, room for the
// tool outputs and base64 images LLM APIs stream. Buffers grow only as the
// stream needs them, so the limit costs nothing until an event is that large.
const DefaultMaxEventSize = 16 << 20

// ErrTooLarge is wrapped by the error a Decoder returns when a line or the
// data of one event exceeds its MaxEventSize.
var ErrTooLarge = errors.New("sse: event too large")

// initialBufSize is small because a process may hold one Decoder per open
// connection; the buffer grows only when a line does not fit.
const initialBufSize = 4096

// maxTypeCache bounds how many distinct event types a Decoder keeps as
// strings, so a stream cycling through a few types allocates none of them.
const maxTypeCache = 8

// maxJoinedID is the largest data size for which a changed last event ID
// shares one allocation with the event's data. Sharing keeps the data alive
// as long as the ID string, so it is only done for small events.
const maxJoinedID = 4096

// A Decoder reads events from a text/event-stream body, interpreting it
// exactly as the WHATWG HTML standard's "Interpreting an event stream" says:
// bytes are decoded as UTF-8 (a leading BOM is dropped and each maximal
// ill-formed subsequence becomes one U+FFFD), lines end at CRLF, LF or CR,
// and a block of fields is dispatched as an event at each blank line when its
// data is not empty. An unterminated block at the end of the stream is
// discarded.
//
// The exported fields configure the Decoder and must be set before the first
// call to Next. A Decoder is not safe for concurrent use.
type Decoder struct {
	// MaxEventSize bounds the length in bytes of any one line and of the
	// data of any one event, so a hostile stream cannot make the reader
	// allocate without bound. Zero means DefaultMaxEventSize.
	MaxEventSize int

	// OnRetry, if not nil, is called with each reconnection time set by a
	// retry field, in stream order: before Next returns the event of the
	// same block.
	OnRetry func(time.Duration)

	rd   io.Reader
	buf  []byte
	r, w int // unread bytes are buf[r:w]

	lf, cr byteScan // where the next line ends are

	bomDone bool // the stream's first bytes were checked for a BOM
	// cutMidEvent reports that the stream ended inside a block with data
	// or inside a field line: a client sending its request once takes that
	// for a broken stream, though the standard discards the block quietly.
	cutMidEvent bool
	skipLF      bool // the last line ended in CR: an LF right after it is part of the same line end
	rerr        error
	empty       int // consecutive reads that returned nothing

	data    []byte // the data buffer; every line ends with LF
	typ     []byte // the event type buffer
	idBuf   []byte // the last event ID buffer
	lastID  string // the last event ID string, set from idBuf at each blank line
	types   []string
	nextTyp int
	scratch []byte // a line with its invalid UTF-8 replaced
	joined  []byte

	retry time.Duration
	err   error // sticky: returned by every later call to Next
}

// NewDecoder returns a Decoder that reads from r.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{rd: r, lf: byteScan{at: -1}, cr: byteScan{at: -1}}
}

// Events returns an iterator over the events of the stream read from r, as
// NewDecoder(r).Events does.
func Events(r io.Reader) iter.Seq2[Event, error] {
	return NewDecoder(r).Events()
}

// SetLastEventID sets the last event ID as if an earlier part of the stream
// had set it: a client resuming with a Last-Event-ID header sets it to that
// header's value, so events without an id field carry it.
func (d *Decoder) SetLastEventID(id string) {
	d.lastID = id
	d.idBuf = append(d.idBuf[:0], id...)
}

// LastEventID returns the stream's last event ID as of the most recent blank
// line: the value a reconnecting client sends as Last-Event-ID.
func (d *Decoder) LastEventID() string { return d.lastID }

// Retry returns the reconnection time most recently set by a retry field,
// or 0 if none has been.
func (d *Decoder) Retry() time.Duration { return d.retry }

// Events returns an iterator over the remaining events. It ends at the end
// of the stream; any other failure is yielded, with a zero Event, as the last
// element.
func (d *Decoder) Events() iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for {
			e, err := d.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(Event{}, err)
				return
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}

// Next reads up to the next dispatched event and returns it. It returns
// io.EOF at the end of the stream, an error wrapping ErrTooLarge when a limit
// is exceeded, or the reader's error. Once it has returned an error, it
// returns the same error on every call.
func (d *Decoder) Next() (Event, error) {
	if d.err != nil {
		return Event{}, d.err
	}
	if d.buf == nil {
		d.buf = make([]byte, initialBufSize)
	}
	limit := d.maxSize()
	for {
		for {
			if d.skipLF {
				if d.r == d.w {
					break
				}
				if d.buf[d.r] == '\n' {
					d.r++
				}
				d.skipLF = false
			}
			if !d.bomDone && !d.checkBOM() {
				break
			}
			eol := d.findEOL()
			if eol < 0 {
				if d.w-d.r > limit {
					return Event{}, d.fail(fmt.Errorf("%w: line longer than %d bytes", ErrTooLarge, limit))
				}
				break
			}
			if eol-d.r > limit {
				return Event{}, d.fail(fmt.Errorf("%w: line longer than %d bytes", ErrTooLarge, limit))
			}
			line := d.buf[d.r:eol]
			d.skipLF = d.buf[eol] == '\r'
			d.r = eol + 1
			e, ok, err := d.processLine(line, limit)
			if err != nil {
				return Event{}, d.fail(err)
			}
			if ok {
				return e, nil
			}
		}
		if d.rerr != nil {
			// The end of the stream discards a pending, unterminated
			// block, as the standard says.
			d.cutMidEvent = len(d.data) > 0 || (d.w > d.r && d.buf[d.r] != ':')
			return Event{}, d.fail(d.rerr)
		}
		d.fill(limit)
	}
}

func (d *Decoder) maxSize() int {
	if d.MaxEventSize > 0 {
		return d.MaxEventSize
	}
	return DefaultMaxEventSize
}

func (d *Decoder) fail(err error) error {
	d.err = err
	d.data, d.scratch, d.joined = nil, nil, nil
	return err
}

// checkBOM drops a UTF-8 BOM at the very start of the stream. It reports
// false when it needs more bytes to decide.
func (d *Decoder) checkBOM() bool {
	const bom = "\xEF\xBB\xBF"
	b := d.buf[d.r:d.w]
	n := min(len(b), len(bom))
	if string(b[:n]) != bom[:n] {
		d.bomDone = true
		return true
	}
	if n < len(bom) {
		if d.rerr != nil {
			d.bomDone = true
			return true
		}
		return false
	}
	d.r += len(bom)
	d.bomDone = true
	return true
}

// findEOL returns the index in buf of the CR or LF ending the line that
// starts at r, or -1 if buf[r:w] holds no line end.
func (d *Decoder) findEOL() int {
	lf := d.lf.next(d.buf, d.r, d.w, '\n')
	cr := d.cr.next(d.buf, d.r, d.w, '\r')
	if cr >= 0 && (lf < 0 || cr < lf) {
		return cr
	}
	return lf
}

// byteScan remembers where the next occurrence of a byte is in the read
// buffer and how far it has looked, so that each byte of the stream is
// scanned once for CR and once for LF, whichever line ends the stream uses
// and however the reads split its lines. A stream using only LF (or only CR)
// thus costs one scan of the buffer for the other byte per read.
type byteScan struct {
	at      int // index of the next occurrence, valid when at >= r
	scanned int // when at < r, buf[r:scanned] holds no occurrence
}

func (s *byteScan) next(buf []byte, r, w int, c byte) int {
	if s.at >= r {
		return s.at
	}
	from := max(r, s.scanned)
	if from < w {
		if i := bytes.IndexByte(buf[from:w], c); i >= 0 {
			s.at = from + i
			return s.at
		}
	}
	s.at, s.scanned = -1, w
	return -1
}

// shift adjusts s to the unread bytes moving n places toward the front.
func (s *byteScan) shift(n int) {
	s.at -= n
	s.scanned -= n
}

// fill reads more of the stream, first making room: it moves the unread
// bytes to the front of the buffer, or grows it when they fill it.
func (d *Decoder) fill(limit int) {
	if d.r == d.w {
		d.lf.shift(d.r)
		d.cr.shift(d.r)
		d.r, d.w = 0, 0
	}
	if d.w == len(d.buf) {
		if d.r > 0 {
			n := copy(d.buf, d.buf[d.r:d.w])
			d.lf.shift(d.r)
			d.cr.shift(d.r)
			d.r, d.w = 0, n
		} else {
			// A line longer than the limit fails once limit+1 bytes
			// are buffered, so the buffer never needs more than that
			// plus room for its line end.
			size := min(2*len(d.buf), limit+2)
			size = max(size, len(d.buf)+1)
			nb := make([]byte, size)
			copy(nb, d.buf[:d.w])
			d.buf = nb
		}
	}
	n, err := d.rd.Read(d.buf[d.w:])
	if n < 0 || n > len(d.buf)-d.w {
		d.rerr = errors.New("sse: reader returned an invalid count")
		return
	}
	d.w += n
	switch {
	case err != nil:
		d.rerr = err
	case n == 0:
		d.empty++
		if d.empty >= 100 {
			d.rerr = io.ErrNoProgress
		}
	default:
		d.empty = 0
	}
}

// processLine interprets one line, without its line end. It reports whether
// the line dispatched an event.
func (d *Decoder) processLine(line []byte, limit int) (Event, bool, error) {
	if len(line) == 0 {
		e, ok := d.dispatch()
		return e, ok, nil
	}
	if line[0] == ':' {
		return Event{}, false, nil // a comment
	}
	if !utf8.Valid(line) {
		d.scratch = appendUTF8(d.scratch[:0], line)
		line = d.scratch
	}
	name, value := line, line[len(line):]
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "data":
		if len(d.data)+len(value) > limit {
			return Event{}, false, fmt.Errorf("%w: data longer than %d bytes", ErrTooLarge, limit)
		}
		d.data = append(d.data, value...)
		d.data = append(d.data, '\n')
	case "event":
		d.typ = append(d.typ[:0], value...)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			d.idBuf = append(d.idBuf[:0], value...)
		}
	case "retry":
		if ms, ok := parseRetry(value); ok {
			d.retry = time.Duration(ms) * time.Millisecond
			if d.OnRetry != nil {
				d.OnRetry(d.retry)
			}
		}
	}
	return Event{}, false, nil
}

// parseRetry parses a retry value of ASCII digits only. It rejects an empty
// value and one too large for a time.Duration rather than wrapping it.
func parseRetry(v []byte) (int64, bool) {
	const maxMS = math.MaxInt64 / int64(time.Millisecond)
	if len(v) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
		if n > maxMS {
			return 0, false
		}
	}
	return n, true
}

// dispatch runs the standard's "dispatch the event" steps at a blank line.
func (d *Decoder) dispatch() (Event, bool) {
	idChanged := string(d.idBuf) != d.lastID
	if len(d.data) == 0 {
		if idChanged {
			d.lastID = string(d.idBuf)
		}
		d.typ = d.typ[:0]
		return Event{}, false
	}
	data := d.data[:len(d.data)-1]
	var e Event
	switch {
	case !idChanged:
		e.Data = string(data)
	case len(data) <= maxJoinedID:
		// One allocation for both strings.
		d.joined = append(append(d.joined[:0], data...), d.idBuf...)
		s := string(d.joined)
		e.Data, d.lastID = s[:len(data)], s[len(data):]
	default:
		e.Data = string(data)
		d.lastID = string(d.idBuf)
	}
	e.ID = d.lastID
	e.Type = d.eventType()
	d.data = d.data[:0]
	d.typ = d.typ[:0]
	return e, true
}

// eventType returns the event type buffer as a string, reusing the strings
// of recently seen types.
func (d *Decoder) eventType() string {
	if len(d.typ) == 0 {
		return "message"
	}
	for _, t := range d.types {
		if t == string(d.typ) {
			return t
		}
	}
	t := string(d.typ)
	if len(d.types) < maxTypeCache {
		d.types = append(d.types, t)
	} else {
		d.types[d.nextTyp] = t
		d.nextTyp = (d.nextTyp + 1) % maxTypeCache
	}
	return t
}
