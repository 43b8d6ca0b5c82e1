package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/ssehub/ssehub/internal/eventprint"
	"github.com/ssehub/ssehub/sse"
)

const decodeUsage = `usage: sse decode [--json] [--max-size BYTES] [FILE]

Decode prints the events of a raw text/event-stream body read from FILE, or
from standard input when FILE is absent or "-", as each event arrives.

With --json it prints one JSON object per line: {"type":…,"data":…,"id":…}
for each dispatched event (id is the last event ID at dispatch) and
{"retry":N} whenever a retry field sets the reconnection time (N in ms).

Exit status: 0 at the end of the input, 1 on a read error or an exceeded
size limit, 2 on a usage error, 130 when interrupted.

flags:
`

func runDecode(ctx context.Context, args []string, e env) int {
	fs := flag.NewFlagSet("sse decode", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), decodeUsage)
		fs.PrintDefaults()
	}
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	maxSize := fs.Int("max-size", sse.DefaultMaxEventSize, "largest line or event data `BYTES` accepted")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 1 || *maxSize <= 0 {
		fs.Usage()
		return 2
	}

	in, name := e.stdin, "standard input"
	if path := fs.Arg(0); path != "" && path != "-" {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintf(e.stderr, "sse decode: %v\n", err)
			return 1
		}
		defer f.Close()
		in, name = f, path
	}

	// The input may block forever (a terminal, a quiet pipe) and a read
	// cannot be interrupted, so decoding runs on its own goroutine and an
	// interrupt returns at once. Output is gated so that the abandoned
	// goroutine prints nothing after that.
	out := &gatedWriter{w: e.stdout}
	format := eventprint.Text
	if *asJSON {
		format = eventprint.JSON
	}
	done := make(chan error, 1)
	go func() { done <- decode(in, name, *maxSize, eventprint.New(out, format)) }()
	select {
	case err := <-done:
		if err != nil {
			fmt.Fprintf(e.stderr, "sse decode: %v\n", err)
			return 1
		}
		return 0
	case <-ctx.Done():
		out.close()
		fmt.Fprintln(e.stderr, "sse decode: interrupted")
		return 130
	}
}

// decode prints every event of in, named name in errors.
func decode(in io.Reader, name string, maxSize int, p *eventprint.Printer) error {
	d := sse.NewDecoder(in)
	d.MaxEventSize = maxSize
	err := p.Decode(d)
	switch {
	case err == nil || errors.As(err, new(*eventprint.WriteError)):
		return err
	case errors.Is(err, sse.ErrTooLarge):
		return fmt.Errorf("%s: %w (see --max-size)", name, err)
	}
	return fmt.Errorf("reading %s: %w", name, err)
}

// errInterrupted is what a gatedWriter returns once closed.
var errInterrupted = errors.New("interrupted")

// gatedWriter passes writes through until it is closed, then refuses them.
type gatedWriter struct {
	mu   sync.Mutex
	w    io.Writer
	shut bool
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shut {
		return 0, errInterrupted
	}
	return g.w.Write(p)
}

func (g *gatedWriter) close() {
	g.mu.Lock()
	g.shut = true
	g.mu.Unlock()
}
