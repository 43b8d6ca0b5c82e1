// Package ssehubtest runs the real ssehub binary for tests: it builds
// cmd/ssehub once per test binary, starts processes (through
// internal/testproc, like the harnesses of the other servers) with JSON
// logs, keeps what they log, and stops or kills them.
//
// A test package that uses it calls [Main] from its TestMain, so that the
// built binary is removed at the end.
package ssehubtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/testproc"
)

// Bounds of the harness's waits, so that a hub that does not come up or go
// down fails the test instead of hanging it.
const (
	StartTimeout = 20 * time.Second
	StopTimeout  = 15 * time.Second
)

// envPrefix is that of ssehub's configuration variables: the test's own
// are not passed on, so that a process is configured by its test alone.
const envPrefix = "SSEHUB_"

// built is the binary of this test run; see Binary.
type built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// theBuild is the test binary's one build of cmd/ssehub. It is written once
// (under its sync.Once) and read by Main to remove it.
var theBuild built

// Main runs m's tests and then removes the binary they built, if any; call
// it from TestMain: os.Exit(ssehubtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if theBuild.dir != "" {
		os.RemoveAll(theBuild.dir)
	}
	return code
}

// Binary returns the path of the ssehub binary built from this module's
// cmd/ssehub, building it on first use. It skips the test in -short mode.
func Binary(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("builds and runs the ssehub binary")
	}
	b := &theBuild
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "ssehub-bin-"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "ssehub")
		out, err := exec.Command("go", "build", "-o", b.path, "github.com/ssehub/ssehub/cmd/ssehub").CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		b.err = statSources()
	})
	if b.err != nil {
		tb.Fatal(b.err)
	}
	return b.path
}

// statSources stats every file of this module that the binary is built
// from. The binary is built in a subprocess, out of sight of go test's
// cache, which would otherwise replay a pass of a test package after the
// hub's code changed; files a test stats are part of the cache key.
func statSources() error {
	const tmpl = `{{if and .Module .Module.Main}}{{$d := .Dir}}` +
		`{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}` +
		`{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}` +
		`{{.Module.GoMod}}{{"\n"}}{{end}}`
	out, err := exec.Command("go", "list", "-deps", "-f", tmpl, "github.com/ssehub/ssehub/cmd/ssehub").Output()
	if err != nil {
		return fmt.Errorf("listing the sources of cmd/ssehub: %w", err)
	}
	files := strings.Fields(string(out))
	if len(files) == 0 {
		return errors.New("listing the sources of cmd/ssehub: none found")
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return err
		}
		if strings.HasSuffix(f, "go.mod") {
			if _, err := os.Stat(strings.TrimSuffix(f, "mod") + "sum"); err != nil {
				return err
			}
		}
	}
	return nil
}

// Proc is one run of the binary, owned by a test: the test's cleanup kills
// it if it still runs, and prints its log if the test failed.
type Proc struct {
	URL  string // the base URL it announced, once Start returned
	Addr string // the host:port it listens on, once Start returned
	PID  int

	tb   testing.TB
	proc *testproc.Proc

	mu        sync.Mutex
	warnings  map[string]int // WARN and ERROR records by message
	announced chan struct{}  // closed at the "ssehub listening" record
}

// Start runs the binary with args (JSON logs added) and env added to the
// test's environment without its SSEHUB_ variables, and waits until it
// announces that it listens.
func Start(tb testing.TB, env []string, args ...string) *Proc {
	tb.Helper()
	p := Launch(tb, env, append(args, "--log-format", "json")...)
	select {
	case <-p.announced:
	case <-p.proc.Exited():
		tb.Fatalf("ssehub %q exited before listening: %s\n%s", args, p.proc.State(), p.Logs())
	case <-time.After(StartTimeout):
		p.Kill()
		tb.Fatalf("ssehub %q not listening within %v\n%s", args, StartTimeout, p.Logs())
	}
	return p
}

// Launch starts the binary with args and env as Start does, without
// waiting for anything.
func Launch(tb testing.TB, env []string, args ...string) *Proc {
	tb.Helper()
	p := &Proc{tb: tb, warnings: map[string]int{}, announced: make(chan struct{})}
	var environ []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			environ = append(environ, kv)
		}
	}
	environ = append(append(environ, "GOTRACEBACK=all"), env...)
	var err error
	if p.proc, err = testproc.StartWith(Binary(tb), testproc.Options{Env: environ, Line: p.line}, args...); err != nil {
		tb.Fatal(err)
	}
	p.PID = p.proc.PID()
	tb.Cleanup(func() {
		p.Kill()
		if tb.Failed() {
			tb.Logf("ssehub %q stderr:\n%s", args, p.Tail(60))
		}
	})
	return p
}

// line counts warnings by message and notes the announcement.
func (p *Proc) line(b []byte) {
	var rec struct{ Level, Msg, Addr, URL string }
	if json.Unmarshal(b, &rec) != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if rec.Level == "WARN" || rec.Level == "ERROR" {
		p.warnings[rec.Msg]++
	}
	if rec.Msg == "ssehub listening" && p.Addr == "" {
		p.Addr, p.URL = rec.Addr, rec.URL
		close(p.announced)
	}
}

// Logs returns what the process wrote so far (its newest few MiB).
func (p *Proc) Logs() string { return p.proc.Output() }

// Tail returns the last n lines of the log.
func (p *Proc) Tail(n int) string {
	lines := strings.Split(strings.TrimSuffix(p.Logs(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Warnings returns how many warnings or errors with msg the process logged.
func (p *Proc) Warnings(msg string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.warnings[msg]
}

// Diag describes the process for a failure message: whether it still runs,
// how it ended, and the tail of its log.
func (p *Proc) Diag() string {
	state := "running"
	select {
	case <-p.proc.Exited():
		state = "exited: " + p.proc.State()
	default:
	}
	return fmt.Sprintf("ssehub pid %d %s; log tail:\n%s", p.PID, state, p.Tail(40))
}

// Exited is closed once the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.proc.Exited() }

// Kill ends the process with SIGKILL, as a crash or the OOM killer would,
// and waits for it to be gone.
func (p *Proc) Kill() {
	if err := p.proc.Stop(syscall.SIGKILL, StopTimeout); err != nil {
		p.tb.Errorf("ssehub pid %d: %v", p.PID, err)
	}
}

// Stop sends sig and waits at most bound for the process to exit; it
// returns the exit status and how long the exit took. A process still
// running after bound is killed and fails the test.
func (p *Proc) Stop(sig syscall.Signal, bound time.Duration) (code int, took time.Duration) {
	p.tb.Helper()
	start := time.Now()
	if err := p.proc.Stop(sig, bound); err != nil {
		p.tb.Fatal(err)
	}
	return p.proc.ExitCode(), time.Since(start)
}

// Wait waits at most bound for the process to exit by itself and returns
// its exit status.
func (p *Proc) Wait(bound time.Duration) int {
	p.tb.Helper()
	select {
	case <-p.proc.Exited():
	case <-time.After(bound):
		p.tb.Fatalf("ssehub did not exit within %v", bound)
	}
	return p.proc.ExitCode()
}

// ProcStatus returns a field of /proc/PID/status in bytes (VmRSS, VmHWM),
// or -1 if it cannot be read.
func (p *Proc) ProcStatus(field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID))
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return -1
			}
			n, _ := strconv.ParseInt(f[0], 10, 64)
			return n << 10 // kB
		}
	}
	return -1
}

// FDs returns the number of file descriptors the process holds, or -1.
func (p *Proc) FDs() int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.PID))
	if err != nil {
		return -1
	}
	return len(ents)
}

// FreeAddr returns a loopback address whose port was free a moment ago,
// for tests that restart the binary on the same address.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ports, err := testproc.FreePorts(1)
	if err != nil {
		tb.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(ports[0])
}
