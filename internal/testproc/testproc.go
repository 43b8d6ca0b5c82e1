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

// Options are Start's defaults, changed.
type Options struct {
	// Env is the process's environment; nil means this process's.
	Env []string
	// Line, if set, is called with each line of the output (standard
	// output and error interleaved), in order, from the goroutines that
	// copy them. It must not keep the slice.
	Line func(line []byte)
}

// Start starts bin with args.
func Start(bin string, args ...string) (*Proc, error) {
	return StartWith(bin, Options{}, args...)
}

// StartWith starts bin with args as opts say.
func StartWith(bin string, opts Options, args ...string) (*Proc, error) {
	p := &Proc{name: filepath.Base(bin), cmd: exec.Command(bin, args...), exit: make(chan struct{})}
	p.cmd.Env = opts.Env
	p.out.line = opts.Line
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

// PID is the process's ID.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// ExitCode is the exit status of the process, once Exited is closed: -1
// if a signal ended it.
func (p *Proc) ExitCode() int { return p.cmd.ProcessState.ExitCode() }

// State describes how the process ended, once Exited is closed.
func (p *Proc) State() string { return p.cmd.ProcessState.String() }

// Output returns what the process wrote so far, its newest maxOutput bytes.
func (p *Proc) Output() string {
	p.out.mu.Lock()
	defer p.out.mu.Unlock()
	return p.out.buf.String()
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
	s := p.Output()
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

// maxOutput bounds the output a Proc keeps: its newest bytes. maxLine
// bounds a line handed to Options.Line; a longer one is cut.
const (
	maxOutput = 8 << 20
	maxLine   = 1 << 20
)

// output collects a process's stdout and stderr, which exec copies from
// two goroutines, and hands complete lines to line.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	line    func([]byte)
	partial []byte // the start of a line not ended yet
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.buf.Len()+len(p) > maxOutput {
		keep := o.buf.Bytes()[o.buf.Len()-min(o.buf.Len(), maxOutput/2):]
		o.buf = *bytes.NewBuffer(append([]byte(nil), keep...))
	}
	o.buf.Write(p)
	if o.line != nil {
		rest := p
		for {
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				o.partial = append(o.partial, rest...)
				if len(o.partial) > maxLine {
					o.line(o.partial) // cut, rather than held without bound
					o.partial = o.partial[:0]
				}
				break
			}
			if len(o.partial) > 0 {
				o.partial = append(o.partial, rest[:i]...)
				o.line(o.partial)
				o.partial = o.partial[:0]
			} else {
				o.line(rest[:i])
			}
			rest = rest[i+1:]
		}
	}
	return len(p), nil
}
