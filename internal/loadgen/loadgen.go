// Package loadgen is the load generator behind 'sse bench': it holds many
// subscriber connections to a Mercure-shaped SSE server on this machine,
// publishes numbered updates as form POSTs, and measures what arrives.
//
// Subscribers GET URL?topic=T; every update's data is "SEQ UNIXNANOS", so
// that subscribers check the sequence and measure publish-to-receipt
// latency. On Linux the subscribers are read by one epoll loop per
// processor, with no goroutine per connection. One process holds what its
// file descriptor limit allows ([MaxConnections]); a [Config] with Procs
// above 1 spreads the connections over child processes that run
// [RunChild] and adds their figures up.
package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The modes of a run.
const (
	// ModeIdle holds the connections for [Config.Duration]: the time to
	// connect them, and with [Config.PIDs] the server's memory per
	// connection.
	ModeIdle = "idle"
	// ModeFanout subscribes every connection to one topic and publishes
	// to it: deliveries per second, latency, loss.
	ModeFanout = "fanout"
	// ModeTopics subscribes each connection to a topic of its own and
	// publishes to random ones.
	ModeTopics = "topics"
)

// The query parameters a subscriber can name its topic with.
const (
	SelectorTopic = "topic" // Mercure 0.x
	SelectorMatch = "match" // Mercure 1.0, an exact topic
)

// Config is a run. Its zero value is not a run: [Validate] says what is
// missing, and [Run] and [RunChild] refuse a Config it refuses.
type Config struct {
	URL string // subscribe/publish URL, http:// or https://; must resolve to loopback addresses only
	// HTTP2 subscribes over HTTP/2, as many streams per connection as the
	// server allows at once (https URLs only); otherwise every subscriber
	// has an HTTP/1.1 connection of its own, over TLS for https URLs.
	HTTP2       bool
	Mode        string  // ModeIdle, ModeFanout or ModeTopics
	Connections int     // subscriber connections (0 only in fanout mode, to measure publishing alone)
	Rate        float64 // updates per second; 0 publishes as fast as the publishers go
	Events      int     // updates to publish; 0 means Rate × Duration (or until Duration at rate 0)
	// Duration is the publishing time (idle: the holding time).
	Duration   time.Duration
	Publishers int    // concurrent publishing connections; sequence order is only defined with 1
	Token      string // bearer token of subscribers and publishers, if any
	// Selector is the query parameter a subscriber names its topic with:
	// SelectorMatch (Mercure 1.0) or SelectorTopic (Mercure 0.x and the
	// servers that take the same); "" means SelectorTopic.
	Selector string
	// PIDs are the server's processes, to report their memory and CPU
	// added up: one, or several hubs serving one port (none: no report).
	PIDs []int
	// ConnectTimeout bounds connecting every subscriber, Drain waiting for
	// deliveries after the last publish, Settle the pause between the two.
	ConnectTimeout, Drain, Settle time.Duration
	DialConcurrency               int    // connections being opened at once
	PerSource                     int    // connections per source address 127.0.0.2, .3, ... (0: the default source)
	Topic                         string // topic (fanout, idle) or topic prefix (topics)
	Seed                          uint64 // seed of the random topic choice
	Name, Scenario                string // labels copied into the Result
	// Reader picks how connections are read once their response heads
	// are in, to compare the two: "epoll" (Linux's default) or
	// "goroutine", a goroutine each; "" is the platform's default.
	Reader string

	// Procs is how many child processes hold the connections (1: this
	// one). Child is the command line of a child: a program that calls
	// [RunChild] with its standard input and output, which speak to this
	// process (the child's Config comes that way too).
	Procs int      `json:"-"`
	Child []string `json:"-"`
	First int      // in a child, the number of its first connection

	// Progress, if a terminal, gets a progress line redrawn every second.
	Progress io.Writer `json:"-"`
	// Stderr gets the children's standard error and their failures (nil:
	// discarded).
	Stderr io.Writer `json:"-"`
}

// Bounds that keep every run finite.
const (
	MaxDuration       = 10 * time.Minute
	MaxDrain          = time.Minute
	MaxConnectTimeout = 5 * time.Minute
)

// Result is a run's figures, and the JSON line 'sse bench' prints: the
// schema that bench/report reads too.
type Result struct {
	Name           string     `json:"name,omitempty"`
	Scenario       string     `json:"scenario,omitempty"`
	Mode           string     `json:"mode"`
	Target         string     `json:"target"`
	Connections    int        `json:"connections"`
	Procs          int        `json:"procs"`
	Connected      int        `json:"connected"`
	ConnectErrors  int        `json:"connect_errors"`
	ConnectError   string     `json:"connect_error,omitempty"`
	ConnectSeconds float64    `json:"connect_seconds"`
	Dropped        int        `json:"dropped"`
	Published      uint64     `json:"published"`
	PublishErrors  uint64     `json:"publish_errors"`
	PublishError   string     `json:"publish_error,omitempty"`
	PublishSeconds float64    `json:"publish_seconds"`
	PublishRate    float64    `json:"publishes_per_sec"`
	PublishMs      *Latency   `json:"publish_ms,omitempty"`
	Expected       uint64     `json:"expected"`
	Delivered      uint64     `json:"delivered"`
	DeliveryRate   float64    `json:"deliveries_per_sec"`
	Lost           uint64     `json:"lost"`        // skipped, or owed to a dropped connection
	Undelivered    uint64     `json:"undelivered"` // not received by the end of Drain on a live connection
	Duplicated     uint64     `json:"duplicated"`
	OutOfOrder     uint64     `json:"out_of_order"`
	Malformed      uint64     `json:"malformed"`
	LatencyMs      *Latency   `json:"latency_ms,omitempty"`
	Server         *ProcStats `json:"server,omitempty"`
	Client         ProcStats  `json:"client"`
	Seconds        float64    `json:"seconds"`

	// Servers are each server process's figures when there are several;
	// Server is then their sum.
	Servers []ProcStats `json:"servers,omitempty"`
}

// Latency is a latency distribution in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
	N   uint64  `json:"n"`
}

// ProcStats is a process's resources over a run, or the sum of several
// processes' (then PID is 0 and RSSPerConnByte adds up each one's growth).
type ProcStats struct {
	PID            int     `json:"pid,omitempty"`
	RSSBeforeKiB   uint64  `json:"rss_before_kib,omitempty"`
	RSSConnKiB     uint64  `json:"rss_connected_kib,omitempty"`
	RSSEndKiB      uint64  `json:"rss_end_kib"`
	RSSPerConnByte float64 `json:"rss_per_conn_bytes,omitempty"`
	CPUSeconds     float64 `json:"cpu_seconds"`
	CPUPercent     float64 `json:"cpu_percent"` // of one core over the run
	// CPULiveSeconds is the part of CPUSeconds from the moment every
	// subscriber had connected: publishing and delivering, without the
	// connecting, whose cost would hide theirs in a short run.
	CPULiveSeconds float64 `json:"cpu_live_seconds"`
}

func latencyOf(h *histogram) *Latency {
	n := h.total()
	if n == 0 {
		return nil
	}
	ms := func(v uint64) float64 { return float64(v) / 1e6 }
	return &Latency{P50: ms(h.quantile(0.5)), P90: ms(h.quantile(0.9)), P99: ms(h.quantile(0.99)), Max: ms(h.quantile(1)), N: n}
}

// ErrConfig is wrapped by the errors of a [Config] that cannot make a
// run.
var ErrConfig = errors.New("loadgen: invalid configuration")

// ConfigError names the field of a [Config] that cannot make a run; it
// unwraps to [ErrConfig].
type ConfigError struct {
	Field string // the Config field's name
	Value any    // its value
	Want  string // what it should be
}

func (e *ConfigError) Error() string { return fmt.Sprintf("%s %v: %s", e.Field, e.Value, e.Want) }
func (e *ConfigError) Unwrap() error { return ErrConfig }

// Validate reports the first field of c that cannot make a run as a
// [*ConfigError].
func Validate(c *Config) error {
	bad := func(field string, value any, want string) error {
		return &ConfigError{Field: field, Value: value, Want: want}
	}
	switch {
	case c.Mode != ModeIdle && c.Mode != ModeFanout && c.Mode != ModeTopics:
		return bad("Mode", fmt.Sprintf("%q", c.Mode), "want idle, fanout or topics")
	case c.Connections < 0 || (c.Connections == 0 && c.Mode != ModeFanout):
		return bad("Connections", c.Connections, "want at least 1 (0 only in fanout mode, to measure publishing alone)")
	case c.Rate < 0:
		return bad("Rate", c.Rate, "must not be negative")
	case c.Events < 0:
		return bad("Events", c.Events, "must not be negative")
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return bad("Duration", c.Duration, fmt.Sprintf("want more than 0 and at most %v", MaxDuration))
	case c.Publishers < 1 || c.Publishers > 256:
		return bad("Publishers", c.Publishers, "want 1 to 256")
	case c.ConnectTimeout <= 0 || c.ConnectTimeout > MaxConnectTimeout:
		return bad("ConnectTimeout", c.ConnectTimeout, fmt.Sprintf("want more than 0 and at most %v", MaxConnectTimeout))
	case c.Drain < 0 || c.Drain > MaxDrain:
		return bad("Drain", c.Drain, fmt.Sprintf("want 0 to %v", MaxDrain))
	case c.Settle < 0 || c.Settle > time.Minute:
		return bad("Settle", c.Settle, "want 0 to 1m")
	case c.DialConcurrency < 1:
		return bad("DialConcurrency", c.DialConcurrency, "want at least 1")
	case c.PerSource < 0:
		return bad("PerSource", c.PerSource, "must not be negative")
	case c.Selector != "" && c.Selector != SelectorTopic && c.Selector != SelectorMatch:
		return bad("Selector", strconv.Quote(c.Selector), "want topic or match")
	case c.Topic == "":
		return bad("Topic", `""`, "must not be empty")
	case slices.ContainsFunc(c.PIDs, func(pid int) bool { return pid <= 0 }):
		return bad("PIDs", c.PIDs, "want process ids")
	case c.Procs < 1 || c.Procs > 64:
		return bad("Procs", c.Procs, "want 1 to 64")
	case c.Procs > 1 && c.Procs > c.Connections:
		return bad("Procs", c.Procs, fmt.Sprintf("more processes than the %d connections", c.Connections))
	case c.Procs > 1 && len(c.Child) == 0:
		return bad("Child", "[]", "want a command for the child processes")
	case c.First < 0:
		return bad("First", c.First, "must not be negative")
	case c.HTTP2 && !strings.HasPrefix(c.URL, "https://"):
		return bad("HTTP2", c.HTTP2, "needs an https:// URL (HTTP/2 is negotiated over TLS)")
	}
	return nil
}

// TargetError is the error of a URL that cannot be loaded: unparsable,
// not plain http, or resolving to an address off this machine (then it
// wraps [ErrNotLoopback]).
type TargetError struct {
	Err error
}

func (e *TargetError) Error() string { return e.Err.Error() }
func (e *TargetError) Unwrap() error { return e.Err }

// Run connects the subscribers, publishes as the mode asks and gathers
// the figures; the run ends within the sum of the Config's durations and
// a few seconds, or when ctx is done. A non-nil Result with an error is a
// run that went wrong but measured something worth reporting.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := Validate(&cfg); err != nil {
		return nil, err
	}
	t, err := resolveTarget(ctx, cfg.URL)
	if err != nil {
		return nil, &TargetError{Err: err}
	}
	return run(ctx, &cfg, t)
}

// RunChild runs one child process of a run over several: it reads its
// Config (connections First to First+Connections of the run) and then the
// parent's orders from in, and writes its messages and figures to out.
func RunChild(ctx context.Context, in io.Reader, out io.Writer) error {
	orders := bufio.NewReader(in)
	line, err := orders.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("child: reading the configuration: %w", err)
	}
	var cfg Config
	if err := json.Unmarshal(line, &cfg); err != nil {
		return fmt.Errorf("child: configuration %.80q: %w", line, err)
	}
	cfg.Procs = 1
	if err := Validate(&cfg); err != nil {
		return err
	}
	t, err := resolveTarget(ctx, cfg.URL)
	if err != nil {
		return &TargetError{Err: err}
	}
	return runChild(ctx, &cfg, t, orders, out)
}

// WriteSummary writes r for people.
func (r *Result) WriteSummary(w io.Writer) {
	name := r.Target
	if r.Name != "" {
		name = r.Name + " at " + r.Target
	}
	fmt.Fprintf(w, "sse bench %s: %s\n", r.Mode, name)
	fmt.Fprintf(w, "  connections  %d of %d in %.2fs, %d failed, %d dropped\n", r.Connected, r.Connections, r.ConnectSeconds, r.ConnectErrors, r.Dropped)
	if r.ConnectError != "" {
		fmt.Fprintf(w, "  first connect error: %s\n", r.ConnectError)
	}
	if r.Mode != ModeIdle {
		fmt.Fprintf(w, "  published    %d in %.2fs (%.0f/s), %d failed\n", r.Published, r.PublishSeconds, r.PublishRate, r.PublishErrors)
		if r.PublishError != "" {
			fmt.Fprintf(w, "  first publish error: %s\n", r.PublishError)
		}
		if l := r.PublishMs; l != nil {
			fmt.Fprintf(w, "  publish      p50 %.3fms  p90 %.3fms  p99 %.3fms  max %.3fms\n", l.P50, l.P90, l.P99, l.Max)
		}
		fmt.Fprintf(w, "  delivered    %d of %d (%.0f/s): lost %d, undelivered at the end %d, duplicated %d, out of order %d, malformed %d\n",
			r.Delivered, r.Expected, r.DeliveryRate, r.Lost, r.Undelivered, r.Duplicated, r.OutOfOrder, r.Malformed)
		if l := r.LatencyMs; l != nil {
			fmt.Fprintf(w, "  latency      p50 %.3fms  p90 %.3fms  p99 %.3fms  max %.3fms\n", l.P50, l.P90, l.P99, l.Max)
		}
	}
	if s := r.Server; s != nil {
		who := fmt.Sprintf("pid %d", s.PID)
		if len(r.Servers) > 1 {
			who = fmt.Sprintf("%d processes", len(r.Servers))
		}
		fmt.Fprintf(w, "  server       %s: RSS %d -> %d KiB connected -> %d KiB end (%.0f B/conn), CPU %.2fs (%.0f%%)\n",
			who, s.RSSBeforeKiB, s.RSSConnKiB, s.RSSEndKiB, s.RSSPerConnByte, s.CPUSeconds, s.CPUPercent)
	}
	fmt.Fprintf(w, "  generator    RSS %d KiB, CPU %.2fs (%.0f%%), %.2fs in all\n", r.Client.RSSEndKiB, r.Client.CPUSeconds, r.Client.CPUPercent, r.Seconds)
}
