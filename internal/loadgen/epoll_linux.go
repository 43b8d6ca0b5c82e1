package loadgen

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// epollReadBuffer is the read buffer of one epoll loop, shared by its
// connections.
const epollReadBuffer = 64 << 10

// epollWake is the event data of a loop's wake-up eventfd; connections
// are numbered from 0.
const epollWake = -1

// errRunOver reports a connection handed to the epoll reader after the
// run ended.
var errRunOver = errors.New("subscribe: the run is over")

// epollReader reads a fleet's connections without a goroutine each: the
// sockets leave Go's poller for one of K epoll instances, each served by a
// goroutine that reads whatever is ready into its one buffer and pushes
// the bytes through the connection's pushParser. Edge-triggered: a read
// shorter than the buffer drained the socket, and data arriving after it
// raises a new event, so one read per event is the rule; level-triggered
// epoll would poll each socket again at the next wait to learn it is
// drained, costing as much as the read.
type epollReader struct {
	conns []subConn
	hist  []*histogram
	loops []*epollLoop
}

// epollLoop is one epoll instance and the goroutine serving it.
type epollLoop struct {
	epfd, wake int

	mu      sync.Mutex
	pending []int32 // connections handed over, not yet registered
	stopped bool

	// Owned by the loop's goroutine.
	own    []int32 // registered connections
	buf    []byte
	events []unix.EpollEvent
	sink   connSink
}

// newEpollReader returns a reader of conns with k loops, which it starts
// in wg.
func newEpollReader(conns []subConn, hist []*histogram, k int, wg *sync.WaitGroup) (*epollReader, error) {
	r := &epollReader{conns: conns, hist: hist}
	for range max(k, 1) {
		l, err := newEpollLoop()
		if err != nil {
			for _, l := range r.loops {
				l.close()
			}
			return nil, err
		}
		r.loops = append(r.loops, l)
	}
	for _, l := range r.loops {
		wg.Go(func() { l.run(r) })
	}
	return r, nil
}

// defaultLoops is the K of the epoll reader: a loop per processor.
func defaultLoops(conns int) int { return min(runtime.GOMAXPROCS(0), max(conns, 1)) }

func newEpollLoop() (*epollLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: epollWake}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	return &epollLoop{epfd: epfd, wake: wake, buf: make([]byte, epollReadBuffer), events: make([]unix.EpollEvent, 256)}, nil
}

// add takes over connection i: its socket leaves Go's poller for one of
// the loops, after the body bytes the head's reader holds are parsed.
func (r *epollReader) add(h *subHead, i int, c *subConn) error {
	if !h.stop() {
		return errRunOver // life ended: h.conn is closed
	}
	var fd int
	var err error
	if h.tc != nil {
		// The TCP connection under TLS, not the TLS one, whose Close
		// would tell the server the stream is over (close_notify).
		fd, err = dupSocket(h.sock.Conn)
		h.sock.Conn.Close()
		if err != nil {
			return err
		}
		h.sock.fd, c.tc = fd, h.tc
	} else {
		fd, err = dupSocket(h.conn)
		h.conn.Close()
		if err != nil {
			return err
		}
	}
	f, n := h.framing()
	c.parser = newPushParser(f, n)
	c.fd = int32(fd)
	sink := connSink{c: c, h: r.hist[i%len(r.hist)], now: time.Now().UnixNano()}
	if n := h.br.Buffered(); n > 0 {
		b, _ := h.br.Peek(n)
		if err := c.parser.feed(b, &sink); err != nil {
			r.closeConn(c, err)
			return nil
		}
	}
	l := r.loops[i%len(r.loops)]
	l.mu.Lock()
	stopped := l.stopped
	if !stopped {
		l.pending = append(l.pending, int32(i))
	}
	l.mu.Unlock()
	if stopped {
		r.closeConn(c, net.ErrClosed)
		return nil
	}
	l.signal()
	return nil
}

// dupSocket returns a non-blocking, close-on-exec duplicate of conn's
// socket.
func dupSocket(conn net.Conn) (int, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("subscribe: %T has no socket", conn)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("subscribe: dup: %w", derr)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("subscribe: %w", err)
	}
	return fd, nil
}

// closeConn ends connection c with err, closing its socket, which also
// takes it out of its epoll instance.
func (r *epollReader) closeConn(c *subConn, err error) {
	if c.fd >= 0 {
		unix.Close(int(c.fd))
		c.fd = -1
	}
	c.end(err)
}

// stop makes every loop close its connections and exit.
func (r *epollReader) stop() {
	for _, l := range r.loops {
		l.mu.Lock()
		l.stopped = true
		l.mu.Unlock()
		l.signal()
	}
}

// signal wakes the loop up.
func (l *epollLoop) signal() {
	one := [8]byte{1}
	// EAGAIN means the counter is full of pending wake-ups already.
	unix.Write(l.wake, one[:])
}

func (l *epollLoop) run(r *epollReader) {
	defer l.close()
	for {
		n, err := unix.EpollWait(l.epfd, l.events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			l.closeAll(r, fmt.Errorf("epoll_wait: %w", err))
			return
		}
		for _, ev := range l.events[:n] {
			if ev.Fd == epollWake {
				if l.takePending(r) {
					l.closeAll(r, net.ErrClosed)
					return
				}
				continue
			}
			l.read(r, int(ev.Fd))
		}
	}
}

// takePending registers the connections handed over and reports whether
// the loop is to stop.
func (l *epollLoop) takePending(r *epollReader) bool {
	var b [8]byte
	unix.Read(l.wake, b[:])
	l.mu.Lock()
	pending, stopped := l.pending, l.stopped
	l.pending = nil
	l.mu.Unlock()
	for _, i := range pending {
		c := &r.conns[i]
		l.own = append(l.own, i)
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: i}
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, int(c.fd), &ev); err != nil {
			r.closeConn(c, fmt.Errorf("epoll_ctl: %w", err))
			continue
		}
		if c.tc != nil {
			// crypto/tls may hold records read with the head's: no
			// event will come for them.
			l.read(r, int(i))
		}
	}
	return stopped
}

// read reads what connection i has and parses it.
func (l *epollLoop) read(r *epollReader, i int) {
	c := &r.conns[i]
	if c.fd < 0 {
		return // closed earlier in this batch of events
	}
	if c.tc != nil {
		l.readTLS(r, i, c)
		return
	}
	for {
		// A raw read: the socket is non-blocking, so the scheduler need
		// not hear of it.
		n, _, errno := unix.RawSyscall(unix.SYS_READ, uintptr(c.fd), uintptr(unsafe.Pointer(&l.buf[0])), uintptr(len(l.buf)))
		switch {
		case errno == unix.EINTR:
			continue
		case errno == unix.EAGAIN:
			return
		case errno != 0:
			r.closeConn(c, fmt.Errorf("read: %w", errno))
			return
		case n == 0:
			r.closeConn(c, c.parser.eof())
			return
		}
		l.sink = connSink{c: c, h: r.hist[i%len(r.hist)], now: time.Now().UnixNano()}
		if err := c.parser.feed(l.buf[:n], &l.sink); err != nil {
			r.closeConn(c, err)
			return
		}
		if int(n) < len(l.buf) {
			return // drained
		}
	}
}

// readTLS reads what TLS connection i has, through crypto/tls, until its
// socket is drained (errWouldBlock), and parses it.
func (l *epollLoop) readTLS(r *epollReader, i int, c *subConn) {
	for {
		n, err := c.tc.Read(l.buf)
		if n > 0 {
			l.sink = connSink{c: c, h: r.hist[i%len(r.hist)], now: time.Now().UnixNano()}
			if err := c.parser.feed(l.buf[:n], &l.sink); err != nil {
				r.closeConn(c, err)
				return
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, errWouldBlock):
			return
		case errors.Is(err, io.EOF):
			r.closeConn(c, c.parser.eof())
			return
		default:
			r.closeConn(c, fmt.Errorf("read: %w", err))
			return
		}
	}
}

// readNow reads what non-blocking socket fd has, errWouldBlock if
// nothing, with a raw read as the plain connections' (see read).
func readNow(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, _, errno := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch {
		case errno == unix.EINTR:
			continue
		case errno == unix.EAGAIN:
			return 0, errWouldBlock
		case errno != 0:
			return 0, errno
		case n == 0:
			return 0, io.EOF
		}
		return int(n), nil
	}
}

// writeNow writes what socket fd takes of p at once; the rest is an
// error.
func writeNow(fd int, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Write(fd, p[n:])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return n, err
		}
		n += m
	}
	return n, nil
}

// closeAll ends every connection of the loop with err.
func (l *epollLoop) closeAll(r *epollReader, err error) {
	l.mu.Lock()
	l.stopped = true
	l.own = append(l.own, l.pending...)
	l.pending = nil
	l.mu.Unlock()
	for _, i := range l.own {
		if c := &r.conns[i]; c.fd >= 0 {
			r.closeConn(c, err)
		}
	}
	l.own = nil
}

func (l *epollLoop) close() {
	unix.Close(l.epfd)
	unix.Close(l.wake)
}

// defaultReader is the subscriber reader of a run: see [Config.Reader].
const defaultReader = readerEpoll
