// Package testproc runs the server processes that tests start themselves
// (redis-server, nats-server): it finds the binary or skips, captures the
// output for failure messages, stops a process by signal within a bound,
// and hands out free loopback ports. The redistest and jstest harnesses
// are built on it.
package testproc

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary returns the path of the program name: from the PATH, else from
// $GOPATH/bin (where `go install` puts it). When it is not found the test
// is skipped, unless the environment variable env is "1", in which case
// it fails: CI sets it so that a missing server cannot pass as green.
func Binary(tb testing.TB, name, env string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if home, herr := os.UserHomeDir(); herr == nil {
			gopath = filepath.Join(home, "go")
		}
	}
	if gopath != "" {
		p = filepath.Join(filepath.SplitList(gopath)[0], "bin", name)
		if _, serr := os.Stat(p); serr == nil {
			return p
		}
	}
	if os.Getenv(env) == "1" {
		tb.Fatalf("%s not found and %s=1: %v", name, env, err)
	}
	tb.Skipf("%s not installed (%v); set %s=1 to make this a failure", name, err, env)
	return ""
}

// Proc is a running process whose output is kept.
type Proc struct {
	name string
	cmd  *exec.Cmd
	out  output
	exit chan struct{} // closed when the process has exited
}

// Start starts bin with args.
func Start(bin string, args ...string) (*Proc, error) {
	p := &Proc{name: filepath.Base(bin), cmd: exec.Command(bin, args...), exit: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		p.cmd.Wait()
		close(p.exit)
	}()
	return p, nil
}

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exit }

// Stop sends sig and waits up to bound for the process to exit; then it
// kills it and reports that sig was ignored.
func (p *Proc) Stop(sig syscall.Signal, bound time.Duration) error {
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", p.name, err)
	}
	select {
	case <-p.exit:
		return nil
	case <-time.After(bound):
		p.cmd.Process.Kill()
		<-p.exit
		return fmt.Errorf("%s ignored %v for %v: %s", p.name, sig, bound, p.Tail())
	}
}

// Tail returns the end of the process's output, for an error message.
func (p *Proc) Tail() string {
	const n = 2000
	p.out.mu.Lock()
	s := p.out.buf.String()
	p.out.mu.Unlock()
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// FreePorts returns n distinct loopback ports that were free a moment ago.
// Another process may take one before the caller binds it, so callers
// retry a failed start with new ports.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// output collects a process's stdout and stderr, which exec copies from
// two goroutines.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}
