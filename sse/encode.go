package sse

import (
	"io"
	"strconv"
	"strings"
	"time"
)

// AppendEvent appends the wire form of e to dst and returns the extended
// buffer. It validates every field before writing anything: on error dst is
// returned unchanged, so a publisher can never inject fields or break the
// framing of a stream.
//
// Appending into a buffer with enough capacity does not allocate.
func AppendEvent(dst []byte, e Event) ([]byte, error) {
	if err := validate(e); err != nil {
		return dst, err
	}
	if e.Retry > 0 {
		dst = appendRetry(dst, e.Retry)
	}
	if e.ID != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, e.ID...)
		dst = append(dst, '\n')
	}
	if e.Type != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, e.Type...)
		dst = append(dst, '\n')
	}
	dst = appendLines(dst, "data: ", e.Data)
	return append(dst, '\n'), nil
}

// AppendComment appends text as comment lines, one per line of text. Clients
// ignore comments; servers send them as heartbeats to keep idle connections
// and the proxies on their way open.
func AppendComment(dst []byte, text string) []byte {
	return appendLines(dst, ": ", text)
}

// AppendRetry appends a block that sets the client's reconnection time to d
// (in whole milliseconds) without dispatching an event. Write it between
// events, never inside one.
func AppendRetry(dst []byte, d time.Duration) []byte {
	return append(appendRetry(dst, d), '\n')
}

func appendRetry(dst []byte, d time.Duration) []byte {
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, max(d.Milliseconds(), 0), 10)
	return append(dst, '\n')
}

func validate(e Event) error {
	if breaksLine(e.ID, true) {
		return &FieldError{Field: "id", Reason: "contains CR, LF or NUL"}
	}
	if breaksLine(e.Type, false) {
		return &FieldError{Field: "event", Reason: "contains CR or LF"}
	}
	if e.Retry < 0 {
		return &FieldError{Field: "retry", Reason: "negative duration"}
	}
	return nil
}

// breaksLine reports whether s contains CR or LF, or NUL if nul is set. IDs
// and event types are short, and a plain loop beats strings.ContainsAny,
// which builds a lookup table on every call.
func breaksLine(s string, nul bool) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\n' || c == '\r' || (nul && c == 0) {
			return true
		}
	}
	return false
}

// appendLines writes s as one prefixed line per line of s, splitting at LF,
// CR and CRLF, so a bare CR never reaches the wire where a parser would take
// it for a line end. An empty s is one empty line.
func appendLines(dst []byte, prefix, s string) []byte {
	// nl caches the offset of the next LF at or after start (-1: none left),
	// so each byte is scanned a bounded number of times however the line
	// ends are mixed.
	nl := strings.IndexByte(s, '\n')
	for start := 0; ; {
		if nl >= 0 && nl < start {
			if nl = strings.IndexByte(s[start:], '\n'); nl >= 0 {
				nl += start
			}
		}
		end := len(s)
		if nl >= 0 {
			end = nl
		}
		if i := strings.IndexByte(s[start:end], '\r'); i >= 0 {
			end = start + i
		}
		dst = append(dst, prefix...)
		dst = append(dst, s[start:end]...)
		dst = append(dst, '\n')
		if end == len(s) {
			return dst
		}
		if s[end] == '\r' && end+1 < len(s) && s[end+1] == '\n' {
			end++
		}
		start = end + 1
	}
}

// Encoder writes events to an io.Writer, reusing one buffer so that steady
// use allocates nothing. It does not buffer across calls: each call makes
// one Write. An Encoder is not safe for concurrent use.
type Encoder struct {
	w   io.Writer
	buf []byte
}

// NewEncoder returns an Encoder that writes to w.
func NewEncoder(w io.Writer) *Encoder {
	return &Encoder{w: w}
}

// Encode writes e. An invalid event is rejected with a *FieldError and
// nothing is written.
func (enc *Encoder) Encode(e Event) error {
	b, err := AppendEvent(enc.buf[:0], e)
	if err != nil {
		return err
	}
	return enc.flush(b)
}

// Comment writes text as comment lines.
func (enc *Encoder) Comment(text string) error {
	return enc.flush(AppendComment(enc.buf[:0], text))
}

// Retry sets the client's reconnection time without dispatching an event.
func (enc *Encoder) Retry(d time.Duration) error {
	if d < 0 {
		return &FieldError{Field: "retry", Reason: "negative duration"}
	}
	return enc.flush(AppendRetry(enc.buf[:0], d))
}

func (enc *Encoder) flush(b []byte) error {
	enc.buf = b
	_, err := enc.w.Write(b)
	return err
}
