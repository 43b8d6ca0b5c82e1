package mercure

import (
	"runtime"
	"sync"
)

// maxPoolBuf is the largest write buffer a pool worker keeps between
// streams.
const maxPoolBuf = 64 << 10

// writerPool writes to hijacked streams with a few goroutines shared by
// all of them: a stream with something to write (events queued, a
// heartbeat due, its end) is queued here, and a worker drains and writes
// it. Workers start on demand, at most 2×GOMAXPROCS, and exit when the
// queue is empty, so an idle hub runs none. The zero value is ready to use.
type writerPool struct {
	mu      sync.Mutex
	queue   []*hijacked
	workers int
}

// push queues c, which must not be queued or in service already (see
// hijacked.wake).
func (p *writerPool) push(c *hijacked) {
	p.mu.Lock()
	p.queue = append(p.queue, c)
	spawn := p.workers < 2*runtime.GOMAXPROCS(0)
	if spawn {
		p.workers++
	}
	p.mu.Unlock()
	if spawn {
		go p.work()
	}
}

// popMax bounds the streams a worker takes from the queue at once: one
// lock round for several streams, while the other workers still get their
// share of a short queue.
const popMax = 16

// work serves queued streams until the queue is empty.
func (p *writerPool) work() {
	var buf []byte
	var batch [popMax]*hijacked
	for {
		p.mu.Lock()
		if len(p.queue) == 0 {
			// Drop the array too: after a burst it would pin one
			// pointer per stream.
			p.queue = nil
			p.workers--
			p.mu.Unlock()
			return
		}
		k := copy(batch[:min(popMax, max(1, len(p.queue)/p.workers))], p.queue)
		clear(p.queue[:k])
		p.queue = p.queue[k:]
		p.mu.Unlock()
		for i, c := range batch[:k] {
			batch[i] = nil
			buf = c.serve(buf[:0])
			if cap(buf) > maxPoolBuf {
				buf = nil
			}
		}
	}
}
