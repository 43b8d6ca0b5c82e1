package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

const benchUsage = `usage: sse bench [flags] URL

Loads a Mercure-shaped SSE server on this machine: subscribers GET
URL?topic=T, updates are form POSTs to URL. Modes:

  idle    hold --connections subscribers; time to connect them, and with
          --pid the server's memory per connection
  fanout  --connections subscribers on one topic, updates at --rate (0: as
          fast as --publishers go); deliveries/s, latency, loss
  topics  --connections subscribers on a topic each, updates to random ones

Every update's data is "SEQ UNIXNANOS": subscribers check the sequence and
measure publish-to-receipt latency. One process holds at most ~19,900
connections (its file descriptor limit); --procs K spreads them over K
child processes and adds their figures up. The target must resolve to
loopback addresses only. A readable summary goes to standard error, one
JSON line to standard output.

On Linux the subscribers are read by one epoll loop per processor, with
no goroutine per connection; SSE_BENCH_READER=goroutine in the
environment reads each with a goroutine instead, to compare the two.

Exit status: 0 after a run, 1 if it could not run (no subscriber
connected, every publish failed), 2 on bad usage or a refused target.

flags:
`

// Bounds that keep every run finite.
const (
	maxBenchDuration = 10 * time.Minute
	maxDrain         = time.Minute
	maxConnect       = 5 * time.Minute
)

// benchConfig is the parsed command line of sse bench.
type benchConfig struct {
	url            string
	mode           string
	conns          int
	rate           float64
	events         int
	duration       time.Duration
	publishers     int
	jwtKey         string
	token          string
	pid            int
	connectTimeout time.Duration
	drain          time.Duration
	settle         time.Duration
	dialers        int
	perSource      int
	topic          string
	seed           uint64
	quiet          bool
	name           string
	scenario       string
	procs          int
	child          bool // a child of a --procs run
	childFirst     int  // its first connection's number
	cpuProfile     string
}

// benchResult is the JSON line a run prints.
type benchResult struct {
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
	PublishMs      *latencyMs `json:"publish_ms,omitempty"`
	Expected       uint64     `json:"expected"`
	Delivered      uint64     `json:"delivered"`
	DeliveryRate   float64    `json:"deliveries_per_sec"`
	Lost           uint64     `json:"lost"`        // skipped, or owed to a dropped connection
	Undelivered    uint64     `json:"undelivered"` // not received by the end of --drain on a live connection
	Duplicated     uint64     `json:"duplicated"`
	OutOfOrder     uint64     `json:"out_of_order"`
	Malformed      uint64     `json:"malformed"`
	LatencyMs      *latencyMs `json:"latency_ms,omitempty"`
	Server         *procStats `json:"server,omitempty"`
	Client         procStats  `json:"client"`
	Seconds        float64    `json:"seconds"`
}

// latencyMs is a latency distribution in milliseconds.
type latencyMs struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
	N   uint64  `json:"n"`
}

// procStats is a process's resources over a run.
type procStats struct {
	PID            int     `json:"pid,omitempty"`
	RSSBeforeKiB   uint64  `json:"rss_before_kib,omitempty"`
	RSSConnKiB     uint64  `json:"rss_connected_kib,omitempty"`
	RSSEndKiB      uint64  `json:"rss_end_kib"`
	RSSPerConnByte float64 `json:"rss_per_conn_bytes,omitempty"`
	CPUSeconds     float64 `json:"cpu_seconds"`
	CPUPercent     float64 `json:"cpu_percent"` // of one core over the run
}

func latencyOf(h *histogram) *latencyMs {
	n := h.total()
	if n == 0 {
		return nil
	}
	ms := func(v uint64) float64 { return float64(v) / 1e6 }
	return &latencyMs{P50: ms(h.quantile(0.5)), P90: ms(h.quantile(0.9)), P99: ms(h.quantile(0.99)), Max: ms(h.quantile(1)), N: n}
}

func parseBenchFlags(args []string, stderr io.Writer) (*benchConfig, error) {
	c := &benchConfig{}
	fs := flag.NewFlagSet("sse bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.mode, "mode", "fanout", "`mode`: idle, fanout or topics")
	fs.IntVar(&c.conns, "connections", 100, "subscriber connections (at most ~19,900 per process)")
	fs.IntVar(&c.conns, "c", 100, "shorthand for --connections")
	fs.Float64Var(&c.rate, "rate", 100, "updates per second; 0 publishes as fast as possible")
	fs.IntVar(&c.events, "events", 0, "updates to publish; 0 means rate × duration (or until --duration at rate 0)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "publishing time (idle: holding time), at most 10m")
	fs.IntVar(&c.publishers, "publishers", 1, "concurrent publishing connections; sequence order is only defined with 1")
	fs.StringVar(&c.jwtKey, "jwt-key", "", "HS256 `key` to mint a publish/subscribe-all token with")
	fs.StringVar(&c.token, "token", "", "bearer `token` to send instead of minting one")
	fs.IntVar(&c.pid, "pid", 0, "server process `id`, to report its memory and CPU")
	fs.DurationVar(&c.connectTimeout, "connect-timeout", 60*time.Second, "time allowed to connect all subscribers")
	fs.DurationVar(&c.drain, "drain", 5*time.Second, "time allowed after the last publish for deliveries to arrive")
	fs.DurationVar(&c.settle, "settle", 500*time.Millisecond, "pause between connecting and publishing")
	fs.IntVar(&c.dialers, "dial-concurrency", 128, "connections being opened at once")
	fs.IntVar(&c.perSource, "per-source", 10000, "connections per source address 127.0.0.2, .3, ... (0: the default source)")
	fs.StringVar(&c.topic, "topic", "https://ssehub.test/bench", "topic (fanout) or topic prefix (topics)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the random topic choice")
	fs.BoolVar(&c.quiet, "quiet", false, "print only the JSON line")
	fs.StringVar(&c.name, "name", "", "label copied into the JSON line (e.g. the server's name)")
	fs.StringVar(&c.scenario, "scenario", "", "second label copied into the JSON line")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write the generator's CPU profile to `file`")
	fs.IntVar(&c.procs, "procs", 1, "generator processes to spread the connections over, for more than one process may hold")
	fs.BoolVar(&c.child, "child", false, "internal: run as one of the processes of a --procs run")
	fs.IntVar(&c.childFirst, "child-first", 0, "internal: the number of a --child's first connection")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() != 1:
		return nil, fmt.Errorf("want one URL argument, got %d", fs.NArg())
	case c.mode != "idle" && c.mode != "fanout" && c.mode != "topics":
		return nil, fmt.Errorf("--mode %q: want idle, fanout or topics", c.mode)
	case c.conns < 0 || (c.conns == 0 && c.mode != "fanout"):
		return nil, fmt.Errorf("--connections %d: want at least 1 (0 only in fanout mode, to measure publishing alone)", c.conns)
	case c.rate < 0:
		return nil, fmt.Errorf("--rate %v: must not be negative", c.rate)
	case c.events < 0:
		return nil, fmt.Errorf("--events %d: must not be negative", c.events)
	case c.duration <= 0 || c.duration > maxBenchDuration:
		return nil, fmt.Errorf("--duration %v: want more than 0 and at most %v", c.duration, maxBenchDuration)
	case c.publishers < 1 || c.publishers > 256:
		return nil, fmt.Errorf("--publishers %d: want 1 to 256", c.publishers)
	case c.connectTimeout <= 0 || c.connectTimeout > maxConnect:
		return nil, fmt.Errorf("--connect-timeout %v: want more than 0 and at most %v", c.connectTimeout, maxConnect)
	case c.drain < 0 || c.drain > maxDrain:
		return nil, fmt.Errorf("--drain %v: want 0 to %v", c.drain, maxDrain)
	case c.settle < 0 || c.settle > time.Minute:
		return nil, fmt.Errorf("--settle %v: want 0 to 1m", c.settle)
	case c.dialers < 1:
		return nil, fmt.Errorf("--dial-concurrency %d: want at least 1", c.dialers)
	case c.perSource < 0:
		return nil, fmt.Errorf("--per-source %d: must not be negative", c.perSource)
	case c.topic == "":
		return nil, errors.New("--topic: must not be empty")
	case c.jwtKey != "" && c.token != "":
		return nil, errors.New("--jwt-key and --token: give one or the other")
	case c.pid < 0:
		return nil, fmt.Errorf("--pid %d: must be a process id", c.pid)
	case c.procs < 1 || c.procs > 64:
		return nil, fmt.Errorf("--procs %d: want 1 to 64", c.procs)
	case c.procs > 1 && c.procs > c.conns:
		return nil, fmt.Errorf("--procs %d: more processes than --connections %d", c.procs, c.conns)
	case c.childFirst < 0:
		return nil, fmt.Errorf("--child-first %d: must not be negative", c.childFirst)
	}
	c.url = fs.Arg(0)
	return c, nil
}

func runBench(ctx context.Context, args []string, e env) int {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return runBenchAs(ctx, args, e, []string{exe, "bench"})
}

// runBenchAs runs sse bench; self is the command that runs 'sse bench' in
// a child process of a --procs run.
func runBenchAs(ctx context.Context, args []string, e env, self []string) int {
	cfg, err := parseBenchFlags(args, e.stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "sse bench:", err)
		return 2
	}
	if limit, fds, err := maxConnections(); err != nil {
		fmt.Fprintln(e.stderr, "sse bench: reading the file descriptor limit:", err)
		return 1
	} else if share := (cfg.conns + cfg.procs - 1) / cfg.procs; share > limit {
		fmt.Fprintf(e.stderr, "sse bench: --connections %d over --procs %d: one process may hold at most %d connections (file descriptor limit %d, %d kept for other uses); spread them over several processes with --procs %d or more\n",
			cfg.conns, cfg.procs, limit, fds, fdReserve, (cfg.conns+limit-1)/limit)
		return 2
	}
	t, err := resolveTarget(ctx, cfg.url)
	if err != nil {
		fmt.Fprintln(e.stderr, "sse bench:", err)
		return 2
	}
	token := cfg.token
	if cfg.jwtKey != "" {
		// Valid beyond the longest possible run.
		if token, err = signToken([]byte(cfg.jwtKey), []string{"*"}, []string{"*"}, "", 2*time.Hour, time.Now()); err != nil {
			fmt.Fprintln(e.stderr, "sse bench: minting the token:", err)
			return 1
		}
	}
	if cfg.cpuProfile != "" {
		stop, err := startCPUProfile(cfg.cpuProfile)
		if err != nil {
			fmt.Fprintln(e.stderr, "sse bench: --cpuprofile:", err)
			return 2
		}
		defer stop()
	}
	if cfg.child {
		if err := benchChild(ctx, cfg, t, token, e.stdin, e.stdout); err != nil {
			fmt.Fprintln(e.stderr, "sse bench:", err)
			return 1
		}
		return 0
	}
	res, err := benchRun(ctx, cfg, t, token, e.stderr, self)
	if err != nil {
		fmt.Fprintln(e.stderr, "sse bench:", err)
		if res == nil {
			return 1
		}
	}
	if !cfg.quiet {
		printBenchSummary(e.stderr, res)
	}
	line, _ := json.Marshal(res)
	fmt.Fprintf(e.stdout, "%s\n", line)
	if err != nil {
		return 1
	}
	return 0
}
