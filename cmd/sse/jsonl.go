package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// eventPrinter prints the events of a stream and the reconnection times it
// sets, either for people or as JSON lines: exactly one JSON object per
// line, {"type":…,"data":…,"id":…} for an event (id is the last event ID at
// dispatch) and {"retry":N} with N in milliseconds for a retry field.
//
// Each call makes one Write of whole lines, so a reader of a pipe sees every
// event as soon as it is printed. An eventPrinter is not safe for
// concurrent use.
type eventPrinter struct {
	w    io.Writer
	json bool
	// dataOnly prints each event's data as it is, then LF, and no retry
	// lines: the form for piping tokens into other tools.
	dataOnly bool
	buf      bytes.Buffer
	enc      *json.Encoder // writes into buf
}

// newEventPrinter returns a printer writing to w, as JSON lines if asJSON.
func newEventPrinter(w io.Writer, asJSON bool) *eventPrinter {
	p := &eventPrinter{w: w, json: asJSON}
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
func (p *eventPrinter) Event(e sse.Event) error {
	p.buf.Reset()
	if p.dataOnly {
		p.buf.WriteString(e.Data)
		p.buf.WriteByte('\n')
		return p.flush()
	}
	if p.json {
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

// Retry prints a reconnection time set by the stream.
func (p *eventPrinter) Retry(d time.Duration) error {
	if p.dataOnly {
		return nil
	}
	p.buf.Reset()
	if p.json {
		if err := p.enc.Encode(jsonRetry{Retry: d.Milliseconds()}); err != nil {
			return err
		}
		return p.flush()
	}
	fmt.Fprintf(&p.buf, "retry: %d ms\n\n", d.Milliseconds())
	return p.flush()
}

func (p *eventPrinter) flush() error {
	_, err := p.w.Write(p.buf.Bytes())
	return err
}

// writeVisible writes s with control characters escaped, so that a stream
// cannot move the cursor, clear the screen or retitle the terminal of the
// person reading it. Tabs are kept.
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
