package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

// A run with Procs K spreads its subscriber connections over K child
// processes (each under the file descriptor limit) while the parent
// publishes and adds up. Parent and child speak JSON lines over the
// child's standard streams:
//
//	parent → {"URL":...,"First":...} the child's Config
//	child  → {"ready":true,...}      every connection connected or failed, with the CPU it took
//	parent → {"want":[...]}          what each topic got published ({} when idle)
//	child  → {"drained":true}        delivered, or --drain passed
//	parent closes the child's stdin  (meanwhile it sampled the server)
//	child  → {"done":true,...}       its tallies, then it exits

// childMsg is a message from a child.
type childMsg struct {
	Ready     bool   `json:"ready,omitempty"`
	Drained   bool   `json:"drained,omitempty"`
	Done      bool   `json:"done,omitempty"`
	Connected int    `json:"connected,omitempty"`
	Errors    int    `json:"errors,omitempty"`
	FirstErr  string `json:"first_error,omitempty"`

	Expected    uint64      `json:"expected,omitempty"`
	Delivered   uint64      `json:"delivered,omitempty"`
	Lost        uint64      `json:"lost,omitempty"`
	Undelivered uint64      `json:"undelivered,omitempty"`
	Dup         uint64      `json:"dup,omitempty"`
	OOO         uint64      `json:"ooo,omitempty"`
	Malformed   uint64      `json:"malformed,omitempty"`
	Dropped     int         `json:"dropped,omitempty"`
	LastRecv    int64       `json:"last_recv,omitempty"`
	Hist        [][2]uint64 `json:"hist,omitempty"`
	HistMax     uint64      `json:"hist_max,omitempty"`
	CPUNanos    int64       `json:"cpu_ns,omitempty"`
	RSSKiB      uint64      `json:"rss_kib,omitempty"`
}

// childOrder is the parent's message to a child.
type childOrder struct {
	Want []uint64 `json:"want"`
}

// runChild runs the child side: connections cfg.First to
// cfg.First+cfg.Connections, orders on in, messages on out.
func runChild(ctx context.Context, cfg *Config, t *target, orders *bufio.Reader, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+cfg.Settle+cfg.Duration+cfg.Drain+20*time.Second)
	defer cancel()
	cpu0 := selfCPU()
	sub := newBenchSubscriber(cfg, t, cfg.First, cfg.Connections)
	fl := newLocalFleet(sub, cfg.Connections, cfg)
	cs := fl.connect(ctx)
	enc := json.NewEncoder(out)
	if err := enc.Encode(childMsg{Ready: true, Connected: cs.connected, Errors: cs.errors, FirstErr: cs.firstErr, CPUNanos: int64(selfCPU() - cpu0)}); err != nil {
		fl.finish(ctx, nil, 0, nil)
		return err
	}
	var order childOrder
	line, err := orders.ReadBytes('\n')
	if err == nil {
		if err := json.Unmarshal(line, &order); err != nil {
			fl.finish(ctx, nil, 0, nil)
			return fmt.Errorf("child: order %q: %w", line, err)
		}
	}
	tl := fl.finish(ctx, order.Want, cfg.Drain, func() {
		enc.Encode(childMsg{Drained: true})
		// Hold the connections open while the parent samples the server:
		// it closes our stdin when done.
		orders.ReadBytes('\n')
	})
	return enc.Encode(childMsg{
		Done: true, Expected: tl.expected, Delivered: tl.delivered, Lost: tl.lost, Undelivered: tl.undelivered,
		Dup: tl.dup, OOO: tl.ooo, Malformed: tl.malformed, Dropped: tl.dropped, LastRecv: tl.lastRecv,
		Hist: tl.hist.sparse(), HistMax: tl.hist.max.Load(), CPUNanos: int64(selfCPU() - cpu0), RSSKiB: tl.clientRSSKiB,
	})
}

// procFleet is a fleet of child processes.
type procFleet struct {
	cfg      *Config
	stderr   io.Writer
	children []*benchProc
	ready    atomic.Int64
}

// benchProc is one child process.
type benchProc struct {
	first, n int
	cmd      *exec.Cmd
	in       io.WriteCloser
	out      *json.Decoder
	err      error // the first failure; the child's figures are then missing
}

func newProcFleet(cfg *Config) *procFleet {
	stderr := cfg.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	return &procFleet{cfg: cfg, stderr: &lockedWriter{w: stderr}}
}

// lockedWriter serializes the writes of the children's standard errors.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// receive reads the child's next message, which must satisfy ok.
func (p *benchProc) receive(ok func(childMsg) bool) (childMsg, bool) {
	if p.err != nil {
		return childMsg{}, false
	}
	var m childMsg
	if err := p.out.Decode(&m); err != nil {
		p.err = fmt.Errorf("child with connections %d-%d: %w", p.first, p.first+p.n-1, err)
		return m, false
	}
	if !ok(m) {
		p.err = fmt.Errorf("child with connections %d-%d: unexpected message %+v", p.first, p.first+p.n-1, m)
		return m, false
	}
	return m, true
}

// each runs fn for every child at once.
func (f *procFleet) each(fn func(p *benchProc)) {
	var wg sync.WaitGroup
	for _, p := range f.children {
		wg.Go(func() { fn(p) })
	}
	wg.Wait()
}

func (f *procFleet) connect(ctx context.Context) connectStats {
	k := f.cfg.Procs
	share := (f.cfg.Connections + k - 1) / k
	for first := 0; first < f.cfg.Connections; first += share {
		p := &benchProc{first: first, n: min(share, f.cfg.Connections-first)}
		p.cmd = exec.CommandContext(ctx, f.cfg.Child[0], f.cfg.Child[1:]...)
		p.cmd.Stderr = f.stderr
		p.cmd.WaitDelay = 5 * time.Second
		in, err1 := p.cmd.StdinPipe()
		out, err2 := p.cmd.StdoutPipe()
		p.err = errors.Join(err1, err2)
		if p.err == nil {
			p.err = p.cmd.Start()
		}
		p.in, p.out = in, json.NewDecoder(out)
		if p.err == nil {
			c := *f.cfg
			c.First, c.Connections = p.first, p.n
			line, _ := json.Marshal(&c)
			_, p.err = p.in.Write(append(line, '\n'))
		}
		f.children = append(f.children, p)
	}
	var st connectStats
	var mu sync.Mutex
	f.each(func(p *benchProc) {
		m, ok := p.receive(func(m childMsg) bool { return m.Ready })
		f.ready.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if !ok {
			st.errors += p.n
			m.FirstErr = p.err.Error()
		}
		st.connected += m.Connected
		st.errors += m.Errors
		st.childCPU += time.Duration(m.CPUNanos)
		if st.firstErr == "" {
			st.firstErr = m.FirstErr
		}
	})
	return st
}

func (f *procFleet) status() string {
	return fmt.Sprintf("child processes ready %d/%d", f.ready.Load(), len(f.children))
}

func (f *procFleet) finish(ctx context.Context, want []uint64, drain time.Duration, beforeClose func()) tallies {
	f.each(func(p *benchProc) {
		order := childOrder{Want: want}
		if f.cfg.Mode == "topics" && want != nil {
			order.Want = want[p.first : p.first+p.n]
		}
		line, _ := json.Marshal(order)
		if p.err == nil {
			if _, err := p.in.Write(append(line, '\n')); err != nil {
				p.err = err
			}
		}
		p.receive(func(m childMsg) bool { return m.Drained })
	})
	t := tallies{hist: new(histogram)}
	t.clientRSSKiB, _ = procRSS("self")
	if beforeClose != nil {
		beforeClose()
	}
	var mu sync.Mutex
	f.each(func(p *benchProc) {
		if p.in != nil {
			p.in.Close()
		}
		m, ok := p.receive(func(m childMsg) bool { return m.Done })
		if err := p.cmd.Wait(); err != nil && p.err == nil {
			p.err = err
		}
		mu.Lock()
		defer mu.Unlock()
		if !ok {
			fmt.Fprintln(f.stderr, "sse bench:", p.err)
			return
		}
		t.expected += m.Expected
		t.delivered += m.Delivered
		t.lost += m.Lost
		t.undelivered += m.Undelivered
		t.dup += m.Dup
		t.ooo += m.OOO
		t.malformed += m.Malformed
		t.dropped += m.Dropped
		t.lastRecv = max(t.lastRecv, m.LastRecv)
		t.hist.addSparse(m.Hist, m.HistMax)
		t.clientCPU += time.Duration(m.CPUNanos)
		t.clientRSSKiB += m.RSSKiB
	})
	return t
}
