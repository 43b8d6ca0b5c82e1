package hijack

import (
	"errors"
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// canWatchHangups reports whether this platform has a hangupWatcher, which
// taken-over streams need: without one a client's hang-up would go unnoticed
// until the next heartbeat.
const canWatchHangups = true

// watchPoll is how long the watcher's epoll_wait sleeps at most, so that it
// notices it has nothing left to watch and exits.
const watchPoll = 100 // milliseconds

// hangupWatcher notices clients that hang up on taken-over streams, all of
// them with one goroutine and one epoll instance: per connection it costs a
// map entry, not a goroutine blocked in Read. It registers each socket for
// EPOLLRDHUP only (plus the always-reported EPOLLHUP and EPOLLERR), one
// shot, so that a client sending data does not wake it. The goroutine runs
// only while something is watched.
type hangupWatcher struct {
	mu      sync.Mutex
	epfd    int
	running bool
	next    uint64
	conns   map[uint64]func() // by registration ID, not fd: fds are reused
}

// watch calls gone, from the watcher's goroutine, once the client of conn
// hangs up. It returns the registration to pass to unwatch, or 0 when conn
// cannot be watched: the hang-up is then noticed at the next write.
func (w *hangupWatcher) watch(conn net.Conn, gone func()) uint64 {
	raw := rawConn(conn)
	if raw == nil {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.running {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return 0
		}
		w.epfd, w.running = fd, true
		if w.conns == nil {
			w.conns = make(map[uint64]func())
		}
		go w.loop(fd)
	}
	w.next++
	id := w.next
	ev := syscall.EpollEvent{Events: syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	var cerr error
	err := raw.Control(func(fd uintptr) {
		cerr = syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err != nil || cerr != nil {
		return 0
	}
	w.conns[id] = gone
	return id
}

// unwatch forgets the registration id of conn. Call it before closing conn.
func (w *hangupWatcher) unwatch(conn net.Conn, id uint64) {
	if id == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.conns[id]; !ok {
		return
	}
	delete(w.conns, id)
	if raw := rawConn(conn); raw != nil {
		// Closing the socket would drop it from the interest list too, but
		// only once no other reference to it is left.
		raw.Control(func(fd uintptr) {
			syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
		})
	}
}

// loop waits for hang-ups on epfd until nothing is watched.
func (w *hangupWatcher) loop(epfd int) {
	events := make([]syscall.EpollEvent, 256)
	var gone []func()
	for {
		n, err := syscall.EpollWait(epfd, events, watchPoll)
		w.mu.Lock()
		if err != nil && !errors.Is(err, syscall.EINTR) {
			// Cannot happen with a valid epfd; the streams still end at
			// their next write.
			clear(w.conns)
			n = 0
		}
		for _, ev := range events[:max(n, 0)] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if f, ok := w.conns[id]; ok {
				delete(w.conns, id)
				gone = append(gone, f)
			}
		}
		if len(w.conns) == 0 && len(gone) == 0 {
			w.running = false
			syscall.Close(epfd)
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		for i, f := range gone {
			f()
			gone[i] = nil
		}
		gone = gone[:0]
	}
}

// rawConn returns the socket under conn, looking through TLS.
func rawConn(conn net.Conn) syscall.RawConn {
	for {
		switch c := conn.(type) {
		case syscall.Conn:
			raw, err := c.SyscallConn()
			if err != nil {
				return nil
			}
			return raw
		case interface{ NetConn() net.Conn }:
			conn = c.NetConn()
		default:
			return nil
		}
	}
}

// socketOf returns the descriptor of conn's socket for writeNow, -1 if
// conn is no socket of its own (TLS, a wrapper): a stream then writes in
// the pool only what the socket under it surely takes (roomFor), else in
// a goroutine of its own.
func socketOf(conn net.Conn) int {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return -1
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	if err := raw.Control(func(s uintptr) { fd = int(s) }); err != nil {
		return -1
	}
	return fd
}

// sendBufferOf returns the send buffer of conn's socket as the kernel
// counts it (twice what was asked for, on Linux), 0 if unknown.
func sendBufferOf(conn *net.TCPConn) int {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	raw.Control(func(fd uintptr) {
		n, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	})
	return n
}

// roomFor reports whether socket fd, whose send buffer is sndbuf, surely
// takes n more bytes at once: what is queued (SIOCOUTQ) and n fill at most
// a quarter of it. The kernel charges buffers with their bookkeeping, up
// to about twice the bytes for small writes: a quarter leaves room for it.
func roomFor(fd, sndbuf, n int) bool {
	if sndbuf <= 0 {
		return false
	}
	queued, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	return err == nil && queued+n <= sndbuf/4
}

// writeNow writes as much of p as socket fd takes at once, without waiting
// for room. It goes around the runtime's poller and the net.Conn's locks,
// whose bookkeeping is a good part of the cost of a small write to one of
// many sockets: the caller guarantees that no one else writes to or
// closes the connection meanwhile (a stream's turn owner).
func writeNow(fd int, p []byte) (n int, err error) {
	for n < len(p) {
		m, e := syscall.Write(fd, p[n:])
		if m > 0 {
			n += m
		}
		switch {
		case e == syscall.EINTR:
		case e == syscall.EAGAIN:
			return n, nil // full: the caller hands the rest over
		case e != nil:
			return n, e
		case m <= 0:
			return n, nil
		}
	}
	return n, nil
}
