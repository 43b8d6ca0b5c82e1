package reliability

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/cmd/ssehub/ssehubtest"
	"github.com/ssehub/ssehub/mercure"
)

// jwtKey signs every token of these tests; the hubs get it with --jwt-key.
const jwtKey = "reliability-test-secret-0123456789abcdef"

func TestMain(m *testing.M) {
	os.Exit(ssehubtest.Main(m))
}

// hubProc is one running ssehub process.
type hubProc struct {
	*ssehubtest.Proc
	t   testing.TB
	url string // http://127.0.0.1:port, or https://
	// client reaches the hub; nil means http.DefaultClient (plain HTTP).
	client *http.Client
}

// startHub runs the binary with args on a free loopback port (unless args
// name an --addr) and waits until it serves /healthz.
func startHub(t testing.TB, args ...string) *hubProc {
	t.Helper()
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--addr") }) {
		args = append(args, "--addr", "127.0.0.1:0")
	}
	p := &hubProc{Proc: ssehubtest.Start(t, nil, args...), t: t}
	p.url = "http://" + p.Addr
	deadline := time.Now().Add(ssehubtest.StartTimeout)
	for {
		resp, err := http.Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssehub not healthy within %v: %v\n%s", ssehubtest.StartTimeout, err, p.Tail(40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the process with SIGTERM and fails the test unless it exits
// cleanly in time.
func (p *hubProc) stop() {
	p.t.Helper()
	if code, _ := p.Stop(syscall.SIGTERM, ssehubtest.StopTimeout); code != 0 {
		p.t.Errorf("ssehub exited with status %d after SIGTERM:\n%s", code, p.Tail(40))
	}
}

// httpClient returns the client that reaches the hub.
func (p *hubProc) httpClient() *http.Client {
	if p.client == nil {
		return http.DefaultClient
	}
	return p.client
}

// metric returns the value of a series from /metrics: a metric's name,
// with its labels if it has any.
func (p *hubProc) metric(name string) (float64, error) {
	resp, err := p.httpClient().Get(p.url + "/metrics")
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
	s, err := mercure.NewToken([]byte(jwtKey), mercure.Claims{Publish: publish, Subscribe: subscribe}, "", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// publish posts form to the hub at base with tok and returns the update's
// ID; a refusal unwraps to mercure.ErrRefused.
func publish(ctx context.Context, c *http.Client, base, tok string, form url.Values) (string, error) {
	return mercure.Publish(ctx, c, base+mercure.Path, tok, form)
}
