package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ssehub/ssehub/sse"
)

const tailUsage = `usage: sse tail [flags] URL

Prints the events of a live event stream as they arrive, reconnecting as a
browser would. State changes and errors go to standard error.

Exit status: 0 when the stream ends normally (204, --max-events, --timeout,
interrupt), 1 on a fatal error, 2 on bad usage.

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
	if name == "" || strings.ContainsFunc(name, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
	}) {
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
	url         *url.URL
	header      http.Header
	json        bool
	maxEvents   int
	timeout     time.Duration
	noReconnect bool
}

func parseTailArgs(args []string, e env) (tailConfig, error) {
	cfg := tailConfig{header: http.Header{}}
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), tailUsage)
		fs.PrintDefaults()
	}
	var topics listFlag
	var lastID string
	fs.BoolVar(&cfg.json, "json", false, "print one JSON object per line, as 'sse decode --json' does")
	fs.Var(&headerFlag{cfg.header}, "H", "request header 'Name: value' (repeatable)")
	fs.StringVar(&lastID, "last-event-id", "", "resume after this event ID (sent as Last-Event-ID)")
	fs.Var(&topics, "topic", "add a topic=`T` query parameter, for hubs (repeatable)")
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
	}
	u, err := url.Parse(fs.Arg(0))
	if err != nil {
		return cfg, fmt.Errorf("URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cfg, fmt.Errorf("URL %q: want an absolute http or https URL", fs.Arg(0))
	}
	if len(topics) > 0 {
		q := u.Query()
		for _, t := range topics {
			q.Add("topic", t)
		}
		u.RawQuery = q.Encode()
	}
	if lastID != "" {
		cfg.header.Set("Last-Event-ID", lastID)
	}
	cfg.url = u
	return cfg, nil
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

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.url.String(), nil)
	if err != nil {
		fmt.Fprintf(e.stderr, "sse tail: %v\n", err)
		return 2
	}
	req.Header = cfg.header

	// A transport of its own, so that returning leaves no idle connection
	// (and goroutine) behind when run is called in-process.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()

	out := newEventPrinter(e.stdout, cfg.json)
	c := &sse.Client{
		HTTPClient: &http.Client{Transport: tr}, // no Timeout: it would cut the stream
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
	case errors.Is(err, errTailTimeout),
		errors.Is(err, context.Canceled),
		errors.Is(err, sse.ErrDisconnected): // the server ended it, with --no-reconnect
		return 0
	}
	var re *sse.ReconnectError
	if errors.As(err, &re) {
		fmt.Fprintf(e.stderr, "sse tail: %v (--no-reconnect)\n", re.Err)
		return 1
	}
	fmt.Fprintf(e.stderr, "sse tail: %v\n", err)
	return 1
}
