package hijack

import (
	"runtime"
	"sync"
)

// maxPoolBuf is the largest write buffer a pool worker keeps between
// streams.
const maxPoolBuf = 64 << 10

// writerPool writes to taken-over streams with a few goroutines shared by
// all of them: a stream with something to write (events queued, a
// heartbeat due, its end) is queued here, and a worker drains and writes
// it. Workers start on demand, at most 2×GOMAXPROCS, and exit when the
// queue is empty, so an idle hub runs none. The zero value is ready to use.
type writerPool struct {
	mu      sync.Mutex
	queue   []*Stream
	workers int
}

// push queues c, which must not be queued or in service already (see
// Stream.wake).
func (p *writerPool) push(c *Stream) {
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

// work serves queued streams until the queue is empty.
func (p *writerPool) work() {
	var buf []byte
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
		c := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		p.mu.Unlock()
		buf = c.serve(buf[:0])
		if cap(buf) > maxPoolBuf {
			buf = nil
		}
	}
}
