package loadgen

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// fleet is the receiving side of a run: subscriber connections in this
// process (localFleet) or spread over child processes (procFleet).
type fleet interface {
	// connect opens every connection and returns when each has connected
	// or failed.
	connect(ctx context.Context) connectStats
	// finish waits until every live connection has received want[t] updates
	// for its topic t (nil: nothing was published) or drain has passed,
	// calls beforeClose with the connections still open, closes them and
	// returns the tallies.
	finish(ctx context.Context, want []uint64, drain time.Duration, beforeClose func()) tallies
	// status is the progress line's text.
	status() string
}

type connectStats struct {
	connected, errors int
	firstErr          string
	childCPU          time.Duration // what child processes used to connect
}

// tallies are a fleet's figures once it is closed.
type tallies struct {
	expected, delivered, lost, undelivered uint64
	dup, ooo, malformed                    uint64
	dropped                                int
	lastRecv                               int64 // unix nanos of the newest delivery
	hist                                   *histogram
	clientCPU                              time.Duration // of the fleet's processes other than this one
	clientRSSKiB                           uint64        // of the fleet's processes, with connections open
}

// ReaderEnv names the environment variable from which sse bench takes
// [Config.Reader]; children of a run over several processes inherit it.
const ReaderEnv = "SSE_BENCH_READER"

// How a run reads its connections once their response heads are in (see
// [Config.Reader]): readerEpoll (Linux's default), a few epoll loops for
// all, or readerGoroutine, a goroutine each.
const (
	readerEpoll     = "epoll"
	readerGoroutine = "goroutine"
)

// localFleet holds subscriber connections in this process. Connection i
// has global number first+i, which picks its source address and, in topics
// mode, its topic.
type localFleet struct {
	sub     *subscriber
	conns   []subConn
	dialers int
	timeout time.Duration
	ordered bool   // updates are published one at a time, so in sequence order
	reader  string // readerEpoll or readerGoroutine

	readers   sync.WaitGroup
	connected atomic.Int64
	errs      atomic.Int64
	close     context.CancelFunc
}

func newLocalFleet(sub *subscriber, n int, cfg *Config) *localFleet {
	f := &localFleet{sub: sub, conns: make([]subConn, n), dialers: cfg.DialConcurrency, timeout: cfg.ConnectTimeout, ordered: cfg.Publishers == 1}
	f.reader = cfg.Reader
	if f.reader == "" {
		f.reader = defaultReader
	}
	if sub.h2 != nil {
		// HTTP/2 connections have a reader each, h2Client's. (TLS
		// HTTP/1.1 connections are read by either reader: the epoll one
		// reads them through crypto/tls, see tlsSocket.)
		f.reader = readerGoroutine
	}
	if cfg.Mode == ModeTopics {
		for i := range f.conns {
			f.conns[i].topic = i
		}
	}
	return f
}

func (f *localFleet) connect(ctx context.Context) connectStats {
	life, closeAll := context.WithCancel(ctx)
	f.close = closeAll
	var ep *epollReader
	switch f.reader {
	case readerGoroutine:
	case readerEpoll:
		var err error
		if ep, err = newEpollReader(f.conns, f.sub.hist, defaultLoops(len(f.conns)), &f.readers); err != nil {
			return connectStats{errors: len(f.conns), firstErr: err.Error()}
		}
		context.AfterFunc(life, ep.stop)
	default:
		return connectStats{errors: len(f.conns), firstErr: fmt.Sprintf("%s=%q: want %s or %s", ReaderEnv, f.reader, readerEpoll, readerGoroutine)}
	}
	dialCtx, cancel := context.WithTimeout(life, f.timeout)
	defer cancel()
	var (
		connecting sync.WaitGroup
		errMu      sync.Mutex
		firstErr   error
		sem        = make(chan struct{}, f.dialers)
	)
	for i := range f.conns {
		c := &f.conns[i]
		connecting.Add(1)
		go func() {
			defer connecting.Done()
			select {
			case sem <- struct{}{}:
			case <-dialCtx.Done():
				f.errs.Add(1)
				return
			}
			h, err := f.sub.connect(dialCtx, life, i, c)
			if err == nil && ep != nil {
				err = ep.add(h, i, c)
			}
			<-sem
			if err != nil {
				f.errs.Add(1)
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
				return
			}
			c.connected.Store(true)
			f.connected.Add(1)
			if ep == nil && !h.pushed {
				// A fresh goroutine reads: its stack starts small instead
				// of keeping the depth dialing and parsing the head grew.
				body := h.resp.Body
				f.readers.Go(func() { f.sub.read(body, i, c) })
			}
		}()
	}
	connecting.Wait()
	// Return what connecting left behind (response heads, dial state), so
	// that the generator's footprint is its connections'.
	debug.FreeOSMemory()
	st := connectStats{connected: int(f.connected.Load()), errors: int(f.errs.Load())}
	if firstErr != nil {
		st.firstErr = firstErr.Error()
	}
	return st
}

func (f *localFleet) status() string {
	var got uint64
	for i := range f.conns {
		got += f.conns[i].received.Load()
	}
	return fmt.Sprintf("connected %d/%d  errors %d  received %d", f.connected.Load(), len(f.conns), f.errs.Load(), got)
}

// delivered reports whether every live connection received its want.
func (f *localFleet) delivered(want []uint64) bool {
	for i := range f.conns {
		c := &f.conns[i]
		if c.connected.Load() && !c.ended.Load() && c.received.Load() < want[c.topic] {
			return false
		}
	}
	return true
}

func (f *localFleet) finish(ctx context.Context, want []uint64, drain time.Duration, beforeClose func()) tallies {
	if want != nil {
		deadline := time.Now().Add(drain)
		for time.Now().Before(deadline) && !f.delivered(want) && ctx.Err() == nil {
			sleepCtx(ctx, 20*time.Millisecond)
		}
	}
	t := tallies{hist: new(histogram)}
	for i := range f.conns {
		c := &f.conns[i]
		if c.connected.Load() && c.ended.Load() {
			c.dropped = true // ended before the run closed it
			t.dropped++
		}
	}
	t.clientRSSKiB, _ = procRSS("self")
	if beforeClose != nil {
		beforeClose()
	}
	if f.close != nil {
		f.close()
	}
	f.readers.Wait()
	if f.sub.h2 != nil {
		f.sub.h2.readers.Wait()
	}
	for _, h := range f.sub.hist {
		t.hist.merge(h)
	}
	for i := range f.conns {
		c := &f.conns[i]
		t.lastRecv = max(t.lastRecv, c.lastRecv.Load())
		if !c.connected.Load() || want == nil {
			continue
		}
		w := want[c.topic]
		t.expected += w
		t.delivered += c.seq.unique
		t.dup += c.seq.dup
		t.ooo += c.seq.ooo
		t.malformed += c.seq.malformed
		if c.seq.unique >= w {
			continue
		}
		missing := w - c.seq.unique
		switch {
		case c.dropped:
			// Nothing more can come.
		case !f.ordered:
			// Concurrent publishes may be stored in any order: a number
			// skipped over may still be on its way.
			t.undelivered += missing
			missing = 0
		case w > c.seq.max:
			// The tail after the newest received may still be on its way;
			// numbers skipped over will not come.
			tail := w - c.seq.max
			t.undelivered += tail
			missing -= tail
		}
		t.lost += missing
	}
	return t
}
