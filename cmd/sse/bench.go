package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/loadgen"
	"github.com/ssehub/ssehub/mercure"
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

// benchFlags is the parsed command line of sse bench: the run, and what
// the command line does around it.
type benchFlags struct {
	cfg        loadgen.Config
	jwtKey     string
	protocol   int    // Mercure version spoken: 1 (match=, access token) or 0 (topic=, mercure claim)
	iss        string // the issuer of the 1.0 token minted with jwtKey
	quiet      bool
	child      bool // a child of a --procs run
	cpuProfile string
}

func parseBenchFlags(args []string, stderr io.Writer) (*benchFlags, error) {
	b := &benchFlags{}
	c := &b.cfg
	fs := flag.NewFlagSet("sse bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.Mode, "mode", loadgen.ModeFanout, "`mode`: idle, fanout or topics")
	fs.IntVar(&c.Connections, "connections", 100, "subscriber connections (at most ~19,900 per process)")
	fs.IntVar(&c.Connections, "c", 100, "shorthand for --connections")
	fs.Float64Var(&c.Rate, "rate", 100, "updates per second; 0 publishes as fast as possible")
	fs.IntVar(&c.Events, "events", 0, "updates to publish; 0 means rate × duration (or until --duration at rate 0)")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "publishing time (idle: holding time), at most 10m")
	fs.BoolVar(&c.HTTP2, "http2", false, "with an https:// URL, subscribe over HTTP/2: as many streams per connection as the server allows (default: HTTP/1.1, a connection each)")
	fs.IntVar(&c.Publishers, "publishers", 1, "concurrent publishing connections; sequence order is only defined with 1")
	fs.StringVar(&b.jwtKey, "jwt-key", "", "HS256 `key` to mint a publish/subscribe-all token with")
	fs.StringVar(&c.Token, "token", "", "bearer `token` to send instead of minting one")
	fs.IntVar(&b.protocol, "protocol", 1, "Mercure `version` spoken: 1 (subscribe with match=, mint an access token) or 0 (topic=, a mercure claim), for servers that speak 0.x")
	fs.StringVar(&b.iss, "iss", defaultIssuer, "`issuer` of the access token minted with --jwt-key (--protocol 1)")
	fs.Func("pid", "server process `id`s, to report their memory and CPU added up: repeatable or comma-separated, for several hubs serving one port", func(v string) error {
		for f := range strings.SplitSeq(v, ",") {
			pid, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || pid <= 0 {
				return fmt.Errorf("%q is not a process id", f)
			}
			c.PIDs = append(c.PIDs, pid)
		}
		return nil
	})
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", 60*time.Second, "time allowed to connect all subscribers")
	fs.DurationVar(&c.Drain, "drain", 5*time.Second, "time allowed after the last publish for deliveries to arrive")
	fs.DurationVar(&c.Settle, "settle", 500*time.Millisecond, "pause between connecting and publishing")
	fs.IntVar(&c.DialConcurrency, "dial-concurrency", 128, "connections being opened at once")
	fs.IntVar(&c.PerSource, "per-source", 10000, "connections per source address 127.0.0.2, .3, ... (0: the default source)")
	fs.StringVar(&c.Topic, "topic", "https://ssehub.test/bench", "topic (fanout) or topic prefix (topics)")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the random topic choice")
	fs.BoolVar(&b.quiet, "quiet", false, "print only the JSON line")
	fs.StringVar(&c.Name, "name", "", "label copied into the JSON line (e.g. the server's name)")
	fs.StringVar(&c.Scenario, "scenario", "", "second label copied into the JSON line")
	fs.StringVar(&b.cpuProfile, "cpuprofile", "", "write the generator's CPU profile to `file`")
	fs.IntVar(&c.Procs, "procs", 1, "generator processes to spread the connections over, for more than one process may hold")
	fs.BoolVar(&b.child, "child", false, "internal: run as one of the processes of a --procs run, configured on standard input")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if b.child {
		return b, nil
	}
	if fs.NArg() != 1 {
		return nil, fmt.Errorf("want one URL argument, got %d", fs.NArg())
	}
	if b.jwtKey != "" && c.Token != "" {
		return nil, errors.New("--jwt-key and --token: give one or the other")
	}
	switch b.protocol {
	case 0:
		c.Selector = loadgen.SelectorTopic
	case 1:
		c.Selector = loadgen.SelectorMatch
	default:
		return nil, fmt.Errorf("--protocol %d: want 1 or 0", b.protocol)
	}
	c.URL = fs.Arg(0)
	// The children's command is set later: Validate only needs one.
	c.Child = []string{"sse"}
	var ce *loadgen.ConfigError
	if err := loadgen.Validate(c); errors.As(err, &ce) {
		// The flag that sets each field.
		flagOf := map[string]string{
			"Mode": "mode", "Connections": "connections", "Rate": "rate", "Events": "events", "Duration": "duration",
			"Publishers": "publishers", "PIDs": "pid", "ConnectTimeout": "connect-timeout", "Drain": "drain",
			"Settle": "settle", "DialConcurrency": "dial-concurrency", "PerSource": "per-source", "Topic": "topic",
			"Procs": "procs", "HTTP2": "http2",
		}
		return nil, fmt.Errorf("--%s %v: %s", flagOf[ce.Field], ce.Value, ce.Want)
	}
	return b, nil
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
	b, err := parseBenchFlags(args, e.stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "sse bench:", err)
		return 2
	}
	if b.child {
		if err := loadgen.RunChild(ctx, e.stdin, e.stdout); err != nil {
			fmt.Fprintln(e.stderr, "sse bench:", err)
			return 1
		}
		return 0
	}
	cfg := &b.cfg
	if limit, fds, err := loadgen.MaxConnections(); err != nil {
		fmt.Fprintln(e.stderr, "sse bench: reading the file descriptor limit:", err)
		return 1
	} else if share := (cfg.Connections + cfg.Procs - 1) / cfg.Procs; share > limit {
		fmt.Fprintf(e.stderr, "sse bench: --connections %d over --procs %d: one process may hold at most %d connections (file descriptor limit %d, %d kept for other uses); spread them over several processes with --procs %d or more\n",
			cfg.Connections, cfg.Procs, limit, fds, loadgen.FDReserve, (cfg.Connections+limit-1)/limit)
		return 2
	}
	if b.jwtKey != "" {
		// Valid beyond the longest possible run.
		if cfg.Token, err = b.mintToken(time.Now()); err != nil {
			fmt.Fprintln(e.stderr, "sse bench: minting the token:", err)
			return 1
		}
	}
	cfg.Reader = os.Getenv(loadgen.ReaderEnv)
	cfg.Stderr = e.stderr
	if !b.quiet {
		cfg.Progress = e.stderr
	}
	cfg.Child = append(append([]string(nil), self...), "--child")
	if b.cpuProfile != "" {
		stop, err := startCPUProfile(b.cpuProfile)
		if err != nil {
			fmt.Fprintln(e.stderr, "sse bench: --cpuprofile:", err)
			return 2
		}
		defer stop()
	}
	res, err := loadgen.Run(ctx, *cfg)
	if err != nil {
		fmt.Fprintln(e.stderr, "sse bench:", err)
		if errors.As(err, new(*loadgen.TargetError)) {
			return 2
		}
		if res == nil {
			return 1
		}
	}
	if !b.quiet {
		res.WriteSummary(e.stderr)
	}
	line, _ := json.Marshal(res)
	fmt.Fprintf(e.stdout, "%s\n", line)
	if err != nil {
		return 1
	}
	return 0
}

// startCPUProfile profiles this process into file until the returned
// function is called.
func startCPUProfile(file string) (func(), error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// mintToken mints a token that may publish and subscribe anywhere, valid
// beyond the longest possible run: a Mercure 1.0 access token for the
// hub at the URL (its aud derived as the hub derives it), or a 0.x one.
func (b *benchFlags) mintToken(now time.Time) (string, error) {
	const ttl = 2 * time.Hour
	u, err := url.Parse(b.cfg.URL)
	if err != nil {
		return "", err
	}
	all := mercure.Matchers([]string{hub.Wildcard}, nil)
	return mint(b.protocol, b.jwtKey, mercure.AccessToken{
		Issuer: b.iss, Audience: []string{mercure.DefaultResourceID(u)}, Publish: all, Subscribe: all,
	}, ttl, now)
}
