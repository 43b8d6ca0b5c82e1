package loadgen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"time"
)

// benchTopics returns the topic names of a run's connections first to
// first+n: one shared topic in fanout and idle modes, one per connection in
// topics mode.
func benchTopics(cfg *Config, first, n int) []string {
	if cfg.Mode != ModeTopics {
		return []string{cfg.Topic}
	}
	topics := make([]string, n)
	for i := range topics {
		topics[i] = cfg.Topic + "/" + strconv.Itoa(first+i)
	}
	return topics
}

// newBenchSubscriber returns the dialing and reading side of connections
// first to first+n.
func newBenchSubscriber(cfg *Config, t *target, first, n int) *subscriber {
	topics := benchTopics(cfg, first, n)
	dial := t.sourceDialer(first+n, cfg.ConnectTimeout, cfg.PerSource)
	shards := make([]*histogram, 8)
	for i := range shards {
		shards[i] = new(histogram)
	}
	s := &subscriber{
		target:     t.addr,
		host:       t.url.Host,
		requestURI: func(i int) string { return topicURI(t.url, cfg.Selector, topics[i]) },
		token:      cfg.Token,
		dialer:     func(i int) *net.Dialer { return dial(first + i) },
		hist:       shards,
		tls:        t.tlsConfig("http/1.1"),
	}
	if cfg.HTTP2 {
		s.h2 = newH2Client(t, dial(first), cfg.Token, shards)
	}
	return s
}

// run connects the subscribers, publishes as the mode asks and
// gathers the figures. A non-nil result with an error is a run that went
// wrong but measured something worth printing.
func run(parent context.Context, cfg *Config, t *target) (*Result, error) {
	// The hard cap: whatever happens, the run ends.
	ctx, cancel := context.WithTimeout(parent, cfg.ConnectTimeout+cfg.Settle+cfg.Duration+cfg.Drain+10*time.Second)
	defer cancel()
	res := &Result{Name: cfg.Name, Scenario: cfg.Scenario, Mode: cfg.Mode, Target: t.url.String(), Connections: cfg.Connections, Procs: max(cfg.Procs, 1)}
	srv, err := watchServer(cfg.PIDs)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	cpu0 := selfCPU()

	var fl fleet
	if cfg.Procs > 1 {
		fl = newProcFleet(cfg)
	} else {
		fl = newLocalFleet(newBenchSubscriber(cfg, t, 0, cfg.Connections), cfg.Connections, cfg)
	}
	stopProgress := startProgress(cfg.Progress, fl.status)
	defer stopProgress()
	cs := fl.connect(ctx)
	res.ConnectSeconds = time.Since(start).Seconds()
	cpuLive := selfCPU()
	res.Connected, res.ConnectErrors, res.ConnectError = cs.connected, cs.errors, cs.firstErr
	srv.connected()
	var runErr error
	if cfg.Connections > 0 && res.Connected == 0 {
		runErr = fmt.Errorf("no subscriber connected: %s", cs.firstErr)
	}

	var pub *publisher
	var want []uint64
	var pubStart time.Time
	if runErr == nil {
		switch cfg.Mode {
		case ModeIdle:
			sleepCtx(ctx, cfg.Duration)
		default:
			topics := benchTopics(cfg, 0, cfg.Connections)
			pub = newPublisher(t.url.String(), cfg.Token, topics, cfg.Publishers, t.tlsConfig())
			defer pub.client.CloseIdleConnections()
			sleepCtx(ctx, cfg.Settle)
			pubStart = time.Now()
			stop, stopCancel := context.WithTimeout(ctx, cfg.Duration)
			events := cfg.Events
			if events == 0 && cfg.Rate > 0 {
				events = max(1, int(cfg.Rate*cfg.Duration.Seconds()))
			}
			rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
			pick := func() int { return 0 }
			if len(topics) > 1 {
				pick = func() int { return rng.IntN(len(topics)) }
			}
			pub.run(ctx, stop, events, cfg.Rate, cfg.Publishers, pick)
			stopCancel()
			res.PublishSeconds = time.Since(pubStart).Seconds()
			want = make([]uint64, len(topics))
			for i := range want {
				want[i] = pub.ok[i].Load()
			}
		}
	}
	tl := fl.finish(ctx, want, cfg.Drain, srv.end)
	stopProgress()

	elapsed := time.Since(start)
	res.Seconds = elapsed.Seconds()
	res.Dropped = tl.dropped
	res.Client.CPUSeconds = (selfCPU() - cpu0 + tl.clientCPU).Seconds()
	res.Client.CPUPercent = 100 * res.Client.CPUSeconds / elapsed.Seconds()
	res.Client.CPULiveSeconds = (selfCPU() - cpuLive + tl.clientCPU - cs.childCPU).Seconds()
	res.Client.RSSEndKiB = tl.clientRSSKiB
	res.Server, res.Servers = srv.stats(elapsed, res.Connected)
	if pub != nil {
		res.Published = pub.total()
		res.PublishErrors = pub.failed.Load()
		if pub.err != nil {
			res.PublishError = pub.err.Error()
		}
		if res.PublishSeconds > 0 {
			res.PublishRate = float64(res.Published) / res.PublishSeconds
		}
		res.PublishMs = latencyOf(&pub.hist)
		res.Expected, res.Delivered, res.Lost, res.Undelivered = tl.expected, tl.delivered, tl.lost, tl.undelivered
		res.Duplicated, res.OutOfOrder, res.Malformed = tl.dup, tl.ooo, tl.malformed
		res.LatencyMs = latencyOf(tl.hist)
		if span := time.Duration(tl.lastRecv - pubStart.UnixNano()); tl.lastRecv > 0 && span > 0 {
			res.DeliveryRate = float64(res.Delivered) / span.Seconds()
		}
		if runErr == nil && res.Published == 0 && res.PublishErrors > 0 {
			runErr = fmt.Errorf("every publish failed: %v", pub.err)
		}
	}
	return res, runErr
}

// serverWatch samples the server processes' memory and CPU over a run.
// Its methods do nothing on a nil *serverWatch (no --pid).
type serverWatch struct {
	procs []procWatch
}

// procWatch samples one server process.
type procWatch struct {
	pid           string
	cpu0, cpuLive time.Duration // at the start, once every subscriber connected
	s             ProcStats
}

func watchServer(pids []int) (*serverWatch, error) {
	if len(pids) == 0 {
		return nil, nil
	}
	w := &serverWatch{}
	for _, pid := range pids {
		p := procWatch{pid: strconv.Itoa(pid), s: ProcStats{PID: pid}}
		var err error
		if p.s.RSSBeforeKiB, err = procRSS(p.pid); err != nil {
			return nil, fmt.Errorf("--pid %d: %w", pid, err)
		}
		p.cpu0, _ = procCPU(p.pid)
		w.procs = append(w.procs, p)
	}
	return w, nil
}

// connected samples memory and CPU once every subscriber has connected.
func (w *serverWatch) connected() {
	if w == nil {
		return
	}
	for i := range w.procs {
		p := &w.procs[i]
		p.s.RSSConnKiB, _ = procRSS(p.pid)
		p.cpuLive, _ = procCPU(p.pid)
	}
}

// end samples memory and CPU at the end, connections still open.
func (w *serverWatch) end() {
	if w == nil {
		return
	}
	for i := range w.procs {
		p := &w.procs[i]
		p.s.RSSEndKiB, _ = procRSS(p.pid)
		cpu, _ := procCPU(p.pid)
		p.s.CPUSeconds = (cpu - p.cpu0).Seconds()
		p.s.CPULiveSeconds = (cpu - p.cpuLive).Seconds()
	}
}

// stats returns the sum over the processes, and each one's figures when
// there are several. Memory per connection is the sum of each process's
// growth to its own peak over all the connections: which process holds
// which connection is the kernel's choice (SO_REUSEPORT), not known here.
func (w *serverWatch) stats(elapsed time.Duration, connected int) (*ProcStats, []ProcStats) {
	if w == nil {
		return nil, nil
	}
	var sum ProcStats
	var grown int64
	each := make([]ProcStats, len(w.procs))
	for i, p := range w.procs {
		s := p.s
		s.CPUPercent = 100 * s.CPUSeconds / elapsed.Seconds()
		g := int64(max(s.RSSConnKiB, s.RSSEndKiB)) - int64(s.RSSBeforeKiB)
		if connected > 0 && len(w.procs) == 1 {
			s.RSSPerConnByte = float64(g) * 1024 / float64(connected)
		}
		each[i] = s
		grown += g
		sum.RSSBeforeKiB += s.RSSBeforeKiB
		sum.RSSConnKiB += s.RSSConnKiB
		sum.RSSEndKiB += s.RSSEndKiB
		sum.CPUSeconds += s.CPUSeconds
		sum.CPULiveSeconds += s.CPULiveSeconds
	}
	if len(each) == 1 {
		return &each[0], nil
	}
	sum.CPUPercent = 100 * sum.CPUSeconds / elapsed.Seconds()
	if connected > 0 {
		sum.RSSPerConnByte = float64(grown) * 1024 / float64(connected)
	}
	return &sum, each
}
