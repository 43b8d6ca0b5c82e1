// Package eventprint prints the events of a stream and the reconnection
// times it sets, for people or for programs: the output of 'sse decode'
// and 'sse tail'.
package eventprint

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// Format is how a [Printer] prints.
type Format int

const (
	// Text is for people: each event's type and ID on a line, then its
	// data lines indented, control characters escaped so that a stream
	// cannot move the cursor, clear the screen or retitle the terminal.
	Text Format = iota
	// JSON is JSON lines: exactly one JSON object per line,
	// {"type":…,"data":…,"id":…} for an event (id is the last event ID at
	// dispatch) and {"retry":N} with N in milliseconds for a retry field.
	JSON
	// Data is each event's data as it is, then LF, and no retry lines:
	// the form for piping tokens into other tools.
	Data
)

// A Printer prints events in one [Format]. Each call makes one Write of
// whole lines, so a reader of a pipe sees every event as soon as it is
// printed. A Printer is not safe for concurrent use.
type Printer struct {
	w   io.Writer
	f   Format
	buf bytes.Buffer
	enc *json.Encoder // writes into buf
}

// New returns a printer writing to w in format f.
func New(w io.Writer, f Format) *Printer {
	p := &Printer{w: w, f: f}
	p.enc = json.NewEncoder(&p.buf)
	p.enc.SetEscapeHTML(false)
	return p
}

// jsonEvent fixes the order of the keys.
type jsonEvent struct {
	Type string `json:"type"`
	Data string `json:"data"`
	ID   string `json:"id"`
}

type jsonRetry struct {
	Retry int64 `json:"retry"`
}

// Event prints one dispatched event.
func (p *Printer) Event(e sse.Event) error {
	p.buf.Reset()
	switch p.f {
	case Data:
		p.buf.WriteString(e.Data)
		p.buf.WriteByte('\n')
		return p.flush()
	case JSON:
		if err := p.enc.Encode(jsonEvent{Type: e.Type, Data: e.Data, ID: e.ID}); err != nil {
			return err
		}
		return p.flush()
	}
	p.buf.WriteString("event: ")
	writeVisible(&p.buf, e.Type)
	if e.ID != "" {
		p.buf.WriteString("  id: ")
		writeVisible(&p.buf, e.ID)
	}
	p.buf.WriteByte('\n')
	for line := range strings.SplitSeq(e.Data, "\n") {
		p.buf.WriteString("  ")
		writeVisible(&p.buf, line)
		p.buf.WriteByte('\n')
	}
	p.buf.WriteByte('\n')
	return p.flush()
}

// Retry prints a reconnection time set by the stream; in the Data format,
// nothing.
func (p *Printer) Retry(d time.Duration) error {
	p.buf.Reset()
	switch p.f {
	case Data:
		return nil
	case JSON:
		if err := p.enc.Encode(jsonRetry{Retry: d.Milliseconds()}); err != nil {
			return err
		}
		return p.flush()
	}
	fmt.Fprintf(&p.buf, "retry: %d ms\n\n", d.Milliseconds())
	return p.flush()
}

func (p *Printer) flush() error {
	_, err := p.w.Write(p.buf.Bytes())
	return err
}

// writeVisible writes s with control characters escaped. Tabs are kept.
func writeVisible(b *bytes.Buffer, s string) {
	for _, r := range s {
		switch {
		case r == '\t' || (r >= 0x20 && r < 0x7F) || r >= 0xA0:
			b.WriteRune(r)
		case r < 0x80:
			fmt.Fprintf(b, `\x%02x`, r)
		default: // C1 controls
			fmt.Fprintf(b, `\u%04x`, r)
		}
	}
}

// WriteError is a failure to write the output, as [Printer.Decode] returns
// it apart from the errors of the stream it reads.
type WriteError struct{ Err error }

func (e *WriteError) Error() string { return "writing output: " + e.Err.Error() }

func (e *WriteError) Unwrap() error { return e.Err }

// Decode prints the events of d and the reconnection times it reads (it
// sets d.OnRetry) until the stream ends, and returns the first error:
// d's own, as d returned it, or a [*WriteError].
func (p *Printer) Decode(d *sse.Decoder) error {
	var werr error
	d.OnRetry = func(r time.Duration) {
		if werr == nil {
			werr = p.Retry(r)
		}
	}
	for ev, err := range d.Events() {
		if err != nil {
			return err
		}
		if werr == nil {
			werr = p.Event(ev)
		}
		if werr != nil {
			break
		}
	}
	if werr != nil {
		return &WriteError{Err: werr}
	}
	return nil
}
