package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ssehub/ssehub/internal/eventprint"
	"github.com/ssehub/ssehub/sse"
)

const tailUsage = `usage: sse tail [flags] URL

Prints the events of a live event stream as they arrive. State changes and
errors go to standard error.

A GET (or QUERY) request reconnects as a browser does, resuming with
Last-Event-ID. A request with any other method (-X METHOD, or -d, which
means POST as with curl) is sent once, as an LLM completion or an MCP call
must be: the command ends with its stream.

--done DATA completes the stream at the first event whose data is DATA
(such as [DONE] for OpenAI-style APIs): that event is not printed and the
command exits 0 at once. Without it, a stream cut short cannot be told from
a complete one.

Exit status:
  0  the stream ended normally: with --done, the --done event arrived;
     without it, a 204 response, the end of a request sent once,
     --max-events, --timeout or an interrupt
  1  a fatal error: a refused request (status, Content-Type), a request
     sent once that failed, an event over --max-event-size, an output
     error; with --done, anything that ends the stream before the --done
     event (--timeout and interrupts included) but --max-events
  2  bad usage

flags:
`

// errTailTimeout is the cause of the context that --timeout ends.
var errTailTimeout = errors.New("--timeout reached")

// headerFlag collects repeated -H 'Name: value' flags.
type headerFlag struct{ h http.Header }

func (f *headerFlag) String() string { return "" }

func (f *headerFlag) Set(s string) error {
	name, value, err := parseHeader(s)
	if err != nil {
		return err
	}
	f.h.Add(name, value)
	return nil
}

// parseHeader parses a "Name: value" header line as curl's -H takes it.
func parseHeader(s string) (name, value string, err error) {
	name, value, ok := strings.Cut(s, ":")
	if !ok {
		return "", "", fmt.Errorf("header %q: want 'Name: value'", s)
	}
	if !isToken(name) {
		return "", "", fmt.Errorf("header %q: invalid name %q", s, name)
	}
	value = strings.TrimSpace(value)
	if strings.ContainsAny(value, "\r\n\x00") {
		return "", "", fmt.Errorf("header %q: value contains CR, LF or NUL", name)
	}
	return name, value, nil
}

// listFlag collects a repeated string flag.
type listFlag []string

func (f *listFlag) String() string     { return strings.Join(*f, ",") }
func (f *listFlag) Set(s string) error { *f = append(*f, s); return nil }

type tailConfig struct {
	url          *url.URL
	header       http.Header
	method       string
	body         []byte // nil: no body
	done         string
	maxEventSize int
	format       eventprint.Format
	maxEvents    int
	timeout      time.Duration
	noReconnect  bool
}

// readData resolves the -d values as curl's --data-binary does: @FILE is
// the file's bytes, @- standard input's, anything else the value itself;
// repeated values are joined with '&'.
func readData(values []string, stdin io.Reader) ([]byte, error) {
	var body []byte
	for i, v := range values {
		if i > 0 {
			body = append(body, '&')
		}
		name, ok := strings.CutPrefix(v, "@")
		if !ok {
			body = append(body, v...)
			continue
		}
		var b []byte
		var err error
		if name == "-" {
			b, err = io.ReadAll(stdin)
		} else {
			b, err = os.ReadFile(name)
		}
		if err != nil {
			return nil, fmt.Errorf("-d %s: %w", v, err)
		}
		body = append(body, b...)
	}
	return body, nil
}

func parseTailArgs(args []string, e env) (tailConfig, error) {
	cfg := tailConfig{header: http.Header{}}
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), tailUsage)
		fs.PrintDefaults()
	}
	var topics, matches, patterns, data listFlag
	var lastID string
	var asJSON, dataOnly bool
	fs.BoolVar(&asJSON, "json", false, "print one JSON object per line, as 'sse decode --json' does")
	fs.BoolVar(&dataOnly, "data-only", false, "print each event's data alone, then a newline (for piping into other tools)")
	fs.Var(&headerFlag{cfg.header}, "H", "request header 'Name: value' (repeatable)")
	fs.StringVar(&cfg.method, "X", "", "request `METHOD` (default GET, or POST with -d)")
	fs.StringVar(&cfg.method, "request", "", "same as -X")
	fs.Var(&data, "d", "request body `DATA`, @FILE or @- for standard input, sent byte for byte as curl --data-binary does (repeatable, joined with &)")
	fs.Var(&data, "data", "same as -d")
	fs.StringVar(&cfg.done, "done", "", "the stream is complete at the first event with this `DATA` (not printed; exit 0)")
	fs.IntVar(&cfg.maxEventSize, "max-event-size", sse.DefaultMaxEventSize, "largest line or event data in `BYTES`")
	fs.StringVar(&lastID, "last-event-id", "", "resume after this event ID (sent as Last-Event-ID)")
	fs.Var(&topics, "topic", "add a topic=`T` query parameter, for Mercure 0.x hubs (repeatable)")
	fs.Var(&matches, "match", "add a match=`T` query parameter (an exact topic or *), for Mercure 1.0 hubs (repeatable)")
	fs.Var(&patterns, "match-urlpattern", "add a match_urlpattern=`P` query parameter (a URL pattern), for Mercure 1.0 hubs (repeatable)")
	fs.IntVar(&cfg.maxEvents, "max-events", 0, "exit after `N` events (0: no limit)")
	fs.DurationVar(&cfg.timeout, "timeout", 0, "exit after this `duration` (0: no limit)")
	fs.BoolVar(&cfg.noReconnect, "no-reconnect", false, "exit when the connection ends or fails instead of reconnecting")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	switch {
	case fs.NArg() != 1:
		return cfg, fmt.Errorf("want exactly one URL, got %d arguments", fs.NArg())
	case cfg.maxEvents < 0:
		return cfg, fmt.Errorf("--max-events %d: must not be negative", cfg.maxEvents)
	case cfg.timeout < 0:
		return cfg, fmt.Errorf("--timeout %v: must not be negative", cfg.timeout)
	case strings.ContainsAny(lastID, "\r\n\x00"):
		return cfg, fmt.Errorf("--last-event-id: contains CR, LF or NUL")
	case cfg.maxEventSize <= 0:
		return cfg, fmt.Errorf("--max-event-size %d: must be positive", cfg.maxEventSize)
	case asJSON && dataOnly:
		return cfg, errors.New("--json and --data-only: choose one")
	case cfg.method != "" && !isToken(cfg.method):
		return cfg, fmt.Errorf("-X %q: not an HTTP method", cfg.method)
	}
	if asJSON {
		cfg.format = eventprint.JSON
	} else if dataOnly {
		cfg.format = eventprint.Data
	}
	if len(data) > 0 {
		body, err := readData(data, e.stdin)
		if err != nil {
			return cfg, err
		}
		cfg.body = body
		if cfg.method == "" {
			cfg.method = http.MethodPost
		}
		if cfg.header.Get("Content-Type") == "" {
			cfg.header.Set("Content-Type", "application/x-www-form-urlencoded") // as curl
		}
	}
	if cfg.method == "" {
		cfg.method = http.MethodGet
	}
	u, err := url.Parse(fs.Arg(0))
	if err != nil {
		return cfg, fmt.Errorf("URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cfg, fmt.Errorf("URL %q: want an absolute http or https URL", fs.Arg(0))
	}
	if len(topics)+len(matches)+len(patterns) > 0 {
		q := u.Query()
		for name, vs := range map[string][]string{"topic": topics, "match": matches, "match_urlpattern": patterns} {
			for _, v := range vs {
				q.Add(name, v)
			}
		}
		u.RawQuery = q.Encode()
	}
	if lastID != "" {
		cfg.header.Set("Last-Event-ID", lastID)
	}
	cfg.url = u
	return cfg, nil
}

// isToken reports whether s is an HTTP token (RFC 9110 section 5.6.2), as
// header names and methods are.
func isToken(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
	})
}

// runTail implements 'sse tail'.
func runTail(ctx context.Context, args []string, e env) int {
	cfg, err := parseTailArgs(args, e)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "sse tail: %v\n", err)
		return 2
	}
	if cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, cfg.timeout, errTailTimeout)
		defer cancel()
	}
	// --no-reconnect ends the stream at the first reconnection, with the
	// reason as the cause that the client's iteration then returns.
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)

	var body io.Reader
	if cfg.body != nil {
		body = bytes.NewReader(cfg.body)
	}
	req, err := http.NewRequestWithContext(ctx, cfg.method, cfg.url.String(), body)
	if err != nil {
		fmt.Fprintf(e.stderr, "sse tail: %v\n", err)
		return 2
	}
	req.Header = cfg.header

	// A transport of its own, so that returning leaves no idle connection
	// (and goroutine) behind when run is called in-process.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()

	out := eventprint.New(e.stdout, cfg.format)
	c := &sse.Client{
		HTTPClient:   &http.Client{Transport: tr}, // no Timeout: it would cut the stream
		MaxEventSize: cfg.maxEventSize,
		DoneData:     cfg.done,
		OnStateChange: func(s sse.State) {
			fmt.Fprintf(e.stderr, "sse tail: %s %s\n", s, cfg.url.Redacted())
		},
		OnError: func(err error) {
			if cfg.noReconnect {
				stop(err)
				return
			}
			fmt.Fprintf(e.stderr, "sse tail: %v\n", err)
		},
		OnRetry: func(d time.Duration) {
			out.Retry(d) // a failed write shows at the next event
		},
	}
	n := 0
	for ev, err := range c.Events(ctx, req) {
		if err != nil {
			return tailExit(err, e)
		}
		if err := out.Event(ev); err != nil {
			fmt.Fprintf(e.stderr, "sse tail: write: %v\n", err)
			return 1
		}
		if n++; n == cfg.maxEvents {
			return 0
		}
	}
	return 0
}

// tailExit maps the error that ended the stream to an exit status.
func tailExit(err error, e env) int {
	switch {
	case errors.Is(err, sse.ErrTooLarge):
		fmt.Fprintf(e.stderr, "sse tail: %v (see --max-event-size)\n", err)
		return 1
	case errors.Is(err, sse.ErrIncomplete):
		// With --done: the only success is the --done event.
		fmt.Fprintf(e.stderr, "sse tail: %v\n", err)
		return 1
	case errors.Is(err, errTailTimeout),
		errors.Is(err, context.Canceled):
		return 0
	}
	var re *sse.ReconnectError
	if errors.As(err, &re) {
		if re.Err == sse.ErrDisconnected {
			return 0 // the server ended the stream, with --no-reconnect
		}
		fmt.Fprintf(e.stderr, "sse tail: %v (--no-reconnect)\n", re.Err)
		return 1
	}
	fmt.Fprintf(e.stderr, "sse tail: %v\n", err)
	return 1
}
