// Package redistest runs throwaway redis-server processes for tests.
//
// Each Server listens on its own loopback port with its own data directory
// and is stopped by the test's cleanup. When redis-server is not installed
// the test is skipped, unless the environment variable SSEHUB_REDIS_TESTS
// is "1", in which case it fails: CI sets it so that a missing server
// cannot pass as green.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/testproc"
)

// Options configures a Server.
type Options struct {
	// AppendOnly turns on the append-only file with an fsync per write, so
	// that data survives Restart and Kill.
	AppendOnly bool
}

const (
	// startTimeout bounds the wait for a new server to answer PING.
	startTimeout = 10 * time.Second
	// stopTimeout bounds the wait for a server to exit after SIGTERM
	// before it is killed.
	stopTimeout = 10 * time.Second
)

// Server is a redis-server process owned by a test.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string
	opts Options

	mu   sync.Mutex
	port int
	proc *testproc.Proc // nil while stopped
}

// Start starts a redis-server on a free loopback port and registers its
// stop with tb.Cleanup.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	bin := testproc.Binary(tb, "redis-server", "SSEHUB_REDIS_TESTS")
	s := &Server{tb: tb, bin: bin, dir: tb.TempDir(), opts: opts}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("redistest: %v", err)
		}
	})
	// Another process may take the free port between probe and bind; a
	// few attempts make that race harmless.
	for attempt := 0; ; attempt++ {
		ports, err := testproc.FreePorts(1)
		if err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		s.port = ports[0]
		err = s.start()
		if err == nil {
			return s
		}
		if attempt == 4 {
			tb.Fatalf("redistest: %v", err)
		}
	}
}

// Addr returns the server's host:port.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// URL returns a redis:// URL for database 0 of the server.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Stop stops the server with SIGTERM (so it writes its files), or kills it
// if it does not exit in time. Stopping a stopped server does nothing.
func (s *Server) Stop() error { return s.stop(syscall.SIGTERM) }

// Kill stops the server with SIGKILL, as a crash would.
func (s *Server) Kill() error { return s.stop(syscall.SIGKILL) }

// Restart stops the server and starts it again on the same port with the
// same data directory; with Options.AppendOnly its data survives.
func (s *Server) Restart() error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.Resume()
}

// Resume starts a stopped server again on the same port and directory.
func (s *Server) Resume() error {
	// The old socket may linger in TIME_WAIT; redis-server sets SO_REUSEADDR
	// but the port can still be taken by someone else, so retry briefly.
	var err error
	for range 20 {
		if err = s.start(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return errors.New("server already running")
	}
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--daemonize", "no",
		"--logfile", "",
		"--protected-mode", "yes",
	}
	if s.opts.AppendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	p, err := testproc.Start(s.bin, args...)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	deadline := time.Now().Add(startTimeout)
	for {
		err := ping(addr)
		if err == nil {
			break
		}
		select {
		case <-p.Exited():
			return fmt.Errorf("redis-server on %s exited at start: %s", addr, p.Tail())
		default:
		}
		if time.Now().After(deadline) {
			p.Stop(syscall.SIGKILL, stopTimeout)
			return fmt.Errorf("redis-server on %s did not answer PING within %v (%v): %s", addr, startTimeout, err, p.Tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.proc = p
	return nil
}

func (s *Server) stop(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	p := s.proc
	s.proc = nil
	if err := p.Stop(sig, stopTimeout); err != nil {
		return fmt.Errorf("redis-server on port %d: %w", s.port, err)
	}
	return nil
}

// ping sends PING in the inline protocol and expects +PONG. LOADING and
// other errors count as not ready.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}
