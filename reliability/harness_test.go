package reliability

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwtKey signs every token of these tests; the hubs get it with --jwt-key.
const jwtKey = "reliability-test-secret-0123456789abcdef"

// Bounds of the harness's waits, so that a hub that does not come up or
// go down fails the test instead of hanging it.
const (
	startTimeout = 20 * time.Second
	stopTimeout  = 15 * time.Second
)

// binPath is the ssehub binary TestMain builds for this run.
var binPath string

// sourcesSeen makes the first test that runs the binary stat its sources
// (see statSources). It must happen in a test: go test records the files a
// test binary touches only once m.Run has begun, not in TestMain.
var sourcesSeen = sync.OnceValue(statSources)

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "ssehub-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binPath = filepath.Join(dir, "ssehub")
	cmd := exec.Command("go", "build", "-o", binPath, "github.com/ssehub/ssehub/cmd/ssehub")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "reliability: building cmd/ssehub:", err)
		return 1
	}
	return m.Run()
}

// statSources stats every file of this module that the binary is built
// from. TestMain builds it in a subprocess, out of sight of go test's
// cache, which would otherwise replay a pass of this package after the
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

// hubProc is one running ssehub process.
type hubProc struct {
	t    testing.TB
	cmd  *exec.Cmd
	url  string // http://127.0.0.1:port
	addr string // 127.0.0.1:port
	pid  int

	mu   sync.Mutex
	tail []string // the last lines of its log, for failure messages
	warn map[string]int
	exit chan struct{}
}

// startHub runs the binary with args on a free loopback port (unless args
// name an --addr) and waits until it serves /healthz.
func startHub(t testing.TB, args ...string) *hubProc {
	t.Helper()
	if err := sourcesSeen(); err != nil {
		t.Fatal(err)
	}
	hasAddr := false
	for _, a := range args {
		hasAddr = hasAddr || strings.HasPrefix(a, "--addr")
	}
	if !hasAddr {
		args = append(args, "--addr", "127.0.0.1:0")
	}
	args = append(args, "--log-format", "json")
	p := &hubProc{t: t, exit: make(chan struct{}), warn: map[string]int{}}
	p.cmd = exec.Command(binPath, args...)
	p.cmd.Env = append(os.Environ(), "GOTRACEBACK=all")
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.pid = p.cmd.Process.Pid
	ready := make(chan string, 1)
	go p.readLog(stderr, ready)
	go func() {
		p.cmd.Wait()
		close(p.exit)
	}()
	t.Cleanup(p.kill)
	select {
	case addr := <-ready:
		p.addr, p.url = addr, "http://"+addr
	case <-p.exit:
		t.Fatalf("ssehub %v exited before listening:\n%s", args, p.logTail())
	case <-time.After(startTimeout):
		p.kill()
		t.Fatalf("ssehub %v not listening within %v:\n%s", args, startTimeout, p.logTail())
	}
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := http.Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssehub not healthy within %v: %v\n%s", startTimeout, err, p.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readLog keeps the log's tail, counts warnings by message and reports the
// listening address.
func (p *hubProc) readLog(r io.Reader, ready chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var rec struct {
			Level, Msg, Addr string
		}
		json.Unmarshal([]byte(line), &rec)
		p.mu.Lock()
		if rec.Level == "WARN" || rec.Level == "ERROR" {
			p.warn[rec.Msg]++
		}
		p.tail = append(p.tail, line)
		if len(p.tail) > 40 {
			p.tail = p.tail[1:]
		}
		p.mu.Unlock()
		if rec.Msg == "ssehub listening" && rec.Addr != "" {
			ready <- rec.Addr
		}
	}
	io.Copy(io.Discard, r)
}

func (p *hubProc) logTail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// diag describes the process for a failure message: whether it is still
// running, how it ended, and the tail of its log.
func (p *hubProc) diag() string {
	state := "running"
	select {
	case <-p.exit:
		state = "exited: " + p.cmd.ProcessState.String()
	default:
	}
	return fmt.Sprintf("ssehub pid %d %s; log tail:\n%s", p.pid, state, p.logTail())
}

// warnings returns how many warnings or errors with msg the hub logged.
func (p *hubProc) warnings(msg string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.warn[msg]
}

// kill ends the process with SIGKILL, as a crash or the OOM killer would,
// and waits for it to be gone.
func (p *hubProc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exit:
	case <-time.After(stopTimeout):
		p.t.Errorf("ssehub pid %d still running %v after SIGKILL", p.pid, stopTimeout)
	}
}

// stop ends the process with SIGTERM and fails the test unless it exits
// cleanly in time.
func (p *hubProc) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exit:
		if !p.cmd.ProcessState.Success() {
			p.t.Errorf("ssehub exited with %v after SIGTERM:\n%s", p.cmd.ProcessState, p.logTail())
		}
	case <-time.After(stopTimeout):
		p.kill()
		p.t.Errorf("ssehub did not stop within %v of SIGTERM:\n%s", stopTimeout, p.logTail())
	}
}

// procStatus returns a field of /proc/PID/status in bytes (VmRSS, VmHWM).
func (p *hubProc) procStatus(field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			n, _ := strconv.ParseInt(f[0], 10, 64)
			return n << 10 // kB
		}
	}
	return -1
}

// fds returns the number of file descriptors the process holds.
func (p *hubProc) fds() int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// metric returns the value of an unlabelled metric from /metrics.
func (p *hubProc) metric(name string) (float64, error) {
	resp, err := http.Get(p.url + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("metric %s not in /metrics", name)
}

// token signs a token with the mercure claim's publish and subscribe
// selectors, valid for an hour.
func token(t testing.TB, publish, subscribe []string) string {
	t.Helper()
	claims := jwt.MapClaims{
		"exp":     time.Now().Add(time.Hour).Unix(),
		"mercure": map[string]any{"publish": publish, "subscribe": subscribe},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(jwtKey))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// errNotStored is a publish the hub answered with something else than 200.
var errNotStored = errors.New("publish not acknowledged")

// publish posts form to the hub at base with tok and returns the update's
// ID on 200.
func publish(ctx context.Context, c *http.Client, base, tok string, form url.Values) (string, error) {
	r, err := http.NewRequestWithContext(ctx, "POST", base+"/.well-known/mercure", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.Do(r)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%w: %d %s", errNotStored, resp.StatusCode, bytes.TrimSpace(b))
	}
	return string(b), nil
}
