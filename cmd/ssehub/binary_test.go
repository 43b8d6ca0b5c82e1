//go:build unix

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The binary is built once per test run, on first use, so that tests that
// do not need it do not pay for the build.
var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary returns the path of the built ssehub binary.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "ssehub-bin-"); buildErr != nil {
			return
		}
		buildPath = filepath.Join(buildDir, "ssehub")
		out, err := exec.Command("go", "build", "-o", buildPath, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// proc is one run of the binary.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	base   string // the URL the hub announced
	mu     sync.Mutex
	stderr bytes.Buffer
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
}

// startBinary runs the binary with args and extra environment variables,
// JSON logs added, and waits until it listens. The process is killed at
// the end of the test if it still runs.
func startBinary(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := launch(t, env, append([]string{"--log-format", "json"}, args...)...)
	ready := make(chan string, 1)
	go func() {
		deadline := time.Now().Add(waitLong)
		for time.Now().Before(deadline) {
			if u := p.announced(); u != "" {
				ready <- u
				return
			}
			select {
			case <-p.exited:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	select {
	case p.base = <-ready:
	case <-p.exited:
		t.Fatalf("ssehub exited before listening: %v\n%s", p.err, p.logs())
	case <-time.After(waitLong):
		t.Fatalf("ssehub not listening in time\n%s", p.logs())
	}
	return p
}

// launch starts the binary without waiting for it.
func launch(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, cmd: exec.Command(binary(t), args...), exited: make(chan struct{})}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, env...)
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(pipe)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.Write(sc.Bytes())
			p.stderr.WriteByte('\n')
			p.mu.Unlock()
		}
	}()
	go func() {
		<-copied // Wait closes the pipe: read it all first
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("ssehub %q stderr:\n%s", args, p.logs())
		}
	})
	return p
}

// logs returns what the process wrote to stderr so far.
func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// announced returns the URL of the "ssehub listening" log record, if any.
func (p *proc) announced() string {
	for line := range strings.Lines(p.logs()) {
		var rec struct{ Msg, URL string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "ssehub listening" {
			return rec.URL
		}
	}
	return ""
}

// stop sends sig and waits for the process to exit, returning its exit
// status and how long it took.
func (p *proc) stop(sig os.Signal, bound time.Duration) (int, time.Duration) {
	p.t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(bound):
		p.t.Fatalf("ssehub still running %v after %v", bound, sig)
	}
	return p.cmd.ProcessState.ExitCode(), time.Since(start)
}

// wait waits for the process to exit by itself and returns its status.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(waitLong):
		p.t.Fatal("ssehub did not exit")
	}
	return p.cmd.ProcessState.ExitCode()
}

// freePort returns a loopback address whose port was free a moment ago,
// for tests that restart the binary on the same address.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var sigterm os.Signal = syscall.SIGTERM
