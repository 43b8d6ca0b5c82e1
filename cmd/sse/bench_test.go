package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/loadgen"
	"github.com/ssehub/ssehub/mercure"
)

const benchKey = "bench-test-key-of-enough-length!"

// benchHub starts a hub with the Mercure handler on loopback, requiring
// tokens from subscribers too, and returns its subscribe/publish URL:
// https:// (HTTP/1.1 and HTTP/2) if tls is set.
func benchHub(t *testing.T, tls ...bool) string {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
	h, err := hub.New(hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mercure.New(mercure.Options{Hub: h, PublisherKey: []byte(benchKey), SubscriberKey: []byte(benchKey),
		Issuers: []mercure.Issuer{{ID: defaultIssuer, PublisherKey: []byte(benchKey), SubscriberKey: []byte(benchKey)}}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(mercure.Path, m)
	srv := httptest.NewUnstartedServer(mux)
	if len(tls) > 0 && tls[0] {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Close(ctx)
		srv.Close()
	})
	return srv.URL + mercure.Path
}

// TestBenchHTTPS runs the fan-out over TLS, with a connection per
// subscriber (HTTP/1.1) and with streams sharing connections (HTTP/2):
// every update reaches every subscriber.
func TestBenchHTTPS(t *testing.T) {
	for _, proto := range []string{"http/1.1", "h2"} {
		t.Run(proto, func(t *testing.T) {
			url := benchHub(t, true)
			args := []string{"--mode", "fanout", "-c", "50", "--rate", "200", "--events", "20", "--jwt-key", benchKey, "--settle", "50ms"}
			if proto == "h2" {
				args = append(args, "--http2")
			}
			r, _ := benchJSON(t, append(args, url)...)
			if r.Connected != 50 || r.Dropped != 0 || r.Expected != 1000 || r.Delivered != 1000 || r.Lost != 0 || r.Duplicated != 0 {
				t.Errorf("connected %d (%s), dropped %d, expected %d delivered %d lost %d dup %d",
					r.Connected, r.ConnectError, r.Dropped, r.Expected, r.Delivered, r.Lost, r.Duplicated)
			}
		})
	}
	if code, _, stderr := bench(t, "--http2", "-c", "1", "http://127.0.0.1:1/"); code != 2 || !strings.Contains(stderr, "--http2") {
		t.Errorf("--http2 with an http URL: exit %d, stderr %q", code, stderr)
	}
}

// bench runs 'sse bench args' in-process.
func bench(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code = run(ctx, append([]string{"bench"}, args...), env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb})
	return code, out.String(), errb.String()
}

// benchJSON runs a bench that must succeed and returns its JSON line,
// decoded both into the result type and into a map to check the keys.
func benchJSON(t *testing.T, args ...string) (loadgen.Result, map[string]any) {
	t.Helper()
	code, stdout, stderr := bench(t, args...)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if strings.Count(stdout, "\n") != 1 || !strings.HasSuffix(stdout, "\n") {
		t.Fatalf("stdout is not one line: %q", stdout)
	}
	var r loadgen.Result
	var m map[string]any
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("JSON line: %v: %s", err, stdout)
	}
	json.Unmarshal([]byte(stdout), &m)
	t.Logf("summary:\n%s", stderr)
	return r, m
}

func checkLatency(t *testing.T, l *loadgen.Latency, n uint64) {
	t.Helper()
	if l == nil {
		t.Fatal("no latency figures")
	}
	if l.N != n {
		t.Errorf("latency samples = %d, want %d", l.N, n)
	}
	// Delivery over loopback takes some time, and less than the run.
	if !(l.P50 > 0 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max && l.Max < 60_000) {
		t.Errorf("latency not ordered or out of range: %+v", *l)
	}
}

func TestBenchFanout(t *testing.T) {
	url := benchHub(t)
	r, m := benchJSON(t, "--mode", "fanout", "-c", "100", "--rate", "500", "--events", "60",
		"--jwt-key", benchKey, "--settle", "50ms", "--name", "ssehub", url)
	if r.Connected != 100 || r.ConnectErrors != 0 || r.Dropped != 0 {
		t.Errorf("connected %d, errors %d (%s), dropped %d", r.Connected, r.ConnectErrors, r.ConnectError, r.Dropped)
	}
	if r.Published != 60 || r.PublishErrors != 0 {
		t.Errorf("published %d, errors %d (%s)", r.Published, r.PublishErrors, r.PublishError)
	}
	if r.Expected != 6000 || r.Delivered != 6000 || r.Lost != 0 || r.Duplicated != 0 || r.OutOfOrder != 0 || r.Malformed != 0 {
		t.Errorf("expected %d delivered %d lost %d dup %d ooo %d malformed %d",
			r.Expected, r.Delivered, r.Lost, r.Duplicated, r.OutOfOrder, r.Malformed)
	}
	checkLatency(t, r.LatencyMs, 6000)
	if r.DeliveryRate <= 0 || r.PublishRate <= 0 || r.PublishMs == nil {
		t.Errorf("rates: deliveries %v/s, publishes %v/s, publish latency %v", r.DeliveryRate, r.PublishRate, r.PublishMs)
	}
	// At 500/s, 60 updates take about 120 ms: pacing works both ways.
	if r.PublishSeconds < 0.1 {
		t.Errorf("60 updates at 500/s published in %.3fs", r.PublishSeconds)
	}
	for _, k := range []string{"name", "mode", "target", "connections", "connected", "connect_seconds", "published",
		"publishes_per_sec", "expected", "delivered", "deliveries_per_sec", "lost", "duplicated", "out_of_order",
		"latency_ms", "client", "seconds"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON line lacks %q", k)
		}
	}
	if lat, _ := m["latency_ms"].(map[string]any); lat == nil || lat["p99"] == nil || lat["max"] == nil {
		t.Errorf("latency_ms = %v", m["latency_ms"])
	}
}

func TestBenchTopics(t *testing.T) {
	url := benchHub(t)
	r, _ := benchJSON(t, "--mode", "topics", "-c", "50", "--rate", "0", "--events", "400",
		"--publishers", "4", "--jwt-key", benchKey, "--settle", "0s", "--quiet", url)
	if r.Connected != 50 || r.Published != 400 {
		t.Fatalf("connected %d published %d (%s)", r.Connected, r.Published, r.PublishError)
	}
	// Each update reaches exactly its topic's subscriber.
	if r.Expected != 400 || r.Delivered != 400 || r.Lost != 0 || r.Duplicated != 0 {
		t.Errorf("expected %d delivered %d lost %d dup %d", r.Expected, r.Delivered, r.Lost, r.Duplicated)
	}
	checkLatency(t, r.LatencyMs, 400)
}

func TestBenchIdle(t *testing.T) {
	url := benchHub(t)
	pid := strconv.Itoa(os.Getpid()) // the server runs in this process
	// 30 per source address: the 200 connections come from 127.0.0.2-8.
	r, _ := benchJSON(t, "--mode", "idle", "-c", "200", "--per-source", "30", "--duration", "200ms",
		"--jwt-key", benchKey, "--pid", pid, url)
	if r.Connected != 200 || r.Dropped != 0 || r.ConnectSeconds <= 0 {
		t.Fatalf("connected %d dropped %d in %vs: %s", r.Connected, r.Dropped, r.ConnectSeconds, r.ConnectError)
	}
	if r.Server == nil || r.Server.RSSBeforeKiB == 0 || r.Server.RSSEndKiB == 0 || r.Server.PID != os.Getpid() {
		t.Errorf("server figures: %+v", r.Server)
	}
	if r.Client.RSSEndKiB == 0 {
		t.Error("no generator RSS")
	}
	if r.Published != 0 || r.LatencyMs != nil {
		t.Errorf("idle published %d, latency %v", r.Published, r.LatencyMs)
	}
}

// TestBenchSeveralPIDs measures several server processes at once, as
// bench/scale.sh does for hubs sharing a port: their figures add up, and
// each one's are in Servers.
func TestBenchSeveralPIDs(t *testing.T) {
	url := benchHub(t)
	// A second process: its memory counts though it holds no connection.
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Skip("no sleep(1) to stand for a second server:", err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	self := os.Getpid()
	r, _ := benchJSON(t, "--mode", "idle", "-c", "40", "--duration", "100ms", "--jwt-key", benchKey,
		"--pid", strconv.Itoa(self)+","+strconv.Itoa(other.Process.Pid), url)
	if r.Connected != 40 || len(r.Servers) != 2 || r.Server == nil {
		t.Fatalf("connected %d, servers %+v, sum %+v", r.Connected, r.Servers, r.Server)
	}
	a, b, sum := r.Servers[0], r.Servers[1], *r.Server
	if a.PID != self || b.PID != other.Process.Pid || sum.PID != 0 {
		t.Errorf("pids %d %d, sum's %d; want %d %d 0", a.PID, b.PID, sum.PID, self, other.Process.Pid)
	}
	if a.RSSBeforeKiB == 0 || b.RSSBeforeKiB == 0 || b.RSSEndKiB == 0 {
		t.Errorf("a process unmeasured: %+v %+v", a, b)
	}
	if sum.RSSBeforeKiB != a.RSSBeforeKiB+b.RSSBeforeKiB || sum.RSSConnKiB != a.RSSConnKiB+b.RSSConnKiB ||
		sum.RSSEndKiB != a.RSSEndKiB+b.RSSEndKiB || sum.CPUSeconds != a.CPUSeconds+b.CPUSeconds ||
		sum.CPULiveSeconds != a.CPULiveSeconds+b.CPULiveSeconds {
		t.Errorf("sum %+v of %+v and %+v", sum, a, b)
	}
	// The CPU after connecting is counted from then, not from the
	// process's start: this process (a) used some before the run.
	for _, s := range []loadgen.ProcStats{a, b} {
		if s.CPULiveSeconds < 0 || s.CPULiveSeconds > s.CPUSeconds {
			t.Errorf("pid %d: CPU %vs after connecting, of %vs in all", s.PID, s.CPULiveSeconds, s.CPUSeconds)
		}
	}
	grown := func(s loadgen.ProcStats) int64 { return int64(max(s.RSSConnKiB, s.RSSEndKiB)) - int64(s.RSSBeforeKiB) }
	if want := float64(grown(a)+grown(b)) * 1024 / 40; sum.RSSPerConnByte != want {
		t.Errorf("RSS per connection %v, want %v", sum.RSSPerConnByte, want)
	}
	// One process: its own figures, no list.
	r, _ = benchJSON(t, "--mode", "idle", "-c", "5", "--duration", "10ms", "--jwt-key", benchKey, "--pid", strconv.Itoa(self), url)
	if r.Server == nil || r.Server.PID != self || r.Servers != nil {
		t.Errorf("one pid: server %+v, servers %+v", r.Server, r.Servers)
	}
}

func TestBenchUnauthorized(t *testing.T) {
	url := benchHub(t)
	code, stdout, stderr := bench(t, "--mode", "idle", "-c", "3", "--duration", "10ms", url)
	if code != 1 || !strings.Contains(stderr, "401") {
		t.Errorf("without a token: exit %d, stderr %s", code, stderr)
	}
	var r loadgen.Result
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || r.ConnectErrors != 3 {
		t.Errorf("JSON line %q: %v", stdout, err)
	}
}

func TestBenchRefusesNonLoopback(t *testing.T) {
	for _, u := range []string{
		"http://10.1.2.3:8080/.well-known/mercure",
		"http://192.0.2.1/.well-known/mercure",
		"http://[2001:db8::1]:80/.well-known/mercure",
		"http://0.0.0.0:80/",
		"https://10.1.2.3/.well-known/mercure",
	} {
		code, stdout, stderr := bench(t, "-c", "1", u)
		if code != 2 || !strings.Contains(stderr, "not a loopback address") || stdout != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", u, code, stdout, stderr)
		}
	}
	for _, u := range []string{"ftp://127.0.0.1/", "http:///x"} {
		if code, _, stderr := bench(t, "-c", "1", u); code != 2 || !strings.Contains(stderr, "URL") {
			t.Errorf("%s: exit %d, stderr %q", u, code, stderr)
		}
	}
}

func TestBenchRefusesTooManyConnections(t *testing.T) {
	limit, _, err := loadgen.MaxConnections()
	if err != nil {
		t.Skip(err)
	}
	code, stdout, stderr := bench(t, "-c", strconv.Itoa(limit+1), "http://127.0.0.1:1/")
	if code != 2 || stdout != "" || !strings.Contains(stderr, "--connections") || !strings.Contains(stderr, "--procs 2") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestBenchBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		field string
	}{
		{[]string{"--mode", "storm", "http://127.0.0.1:1/"}, "--mode"},
		{[]string{"-c", "-1", "http://127.0.0.1:1/"}, "--connections"},
		{[]string{"--mode", "idle", "-c", "0", "http://127.0.0.1:1/"}, "--connections"},
		{[]string{"--duration", "11m", "http://127.0.0.1:1/"}, "--duration"},
		{[]string{"--duration", "0s", "http://127.0.0.1:1/"}, "--duration"},
		{[]string{"--rate", "-3", "http://127.0.0.1:1/"}, "--rate"},
		{[]string{"--publishers", "0", "http://127.0.0.1:1/"}, "--publishers"},
		{[]string{"--drain", "2h", "http://127.0.0.1:1/"}, "--drain"},
		{[]string{"--pid", "0", "http://127.0.0.1:1/"}, "--pid"},
		{[]string{"--pid", "12,x", "http://127.0.0.1:1/"}, "--pid"},
		{[]string{"--jwt-key", "k", "--token", "t", "http://127.0.0.1:1/"}, "--jwt-key"},
		{[]string{}, "URL"},
		{[]string{"http://127.0.0.1:1/", "extra"}, "URL"},
	} {
		code, _, stderr := bench(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.field) {
			t.Errorf("%v: exit %d, stderr %q, want 2 naming %s", tc.args, code, stderr, tc.field)
		}
	}
}

// TestBenchDetectsLossAndDuplicates runs the generator against servers
// that skip, repeat, reorder and withhold updates, or hang up, which it
// must count.
func TestBenchDetectsLossAndDuplicates(t *testing.T) {
	for _, tc := range []struct {
		name                              string
		order                             []int // indexes of the 6 published updates to send
		hangUp                            bool
		publishers                        string
		delivered, lost, undelivered, dup uint64
		ooo, dropped                      int
	}{
		// 1 2 2 4 3 6: 5 lost, 2 duplicated, 3 late.
		{name: "gaps", order: []int{0, 1, 1, 3, 2, 5}, delivered: 5, lost: 1, dup: 1, ooo: 1},
		// 1 2 4: 3 skipped, 5 and 6 perhaps still coming.
		{name: "tail", order: []int{0, 1, 3}, delivered: 3, lost: 1, undelivered: 2},
		// With concurrent publishers, 3 may yet come after 4.
		{name: "unordered", order: []int{0, 1, 3}, publishers: "2", delivered: 3, undelivered: 3},
		// The same, but the connection is gone: nothing more can come.
		{name: "hang-up", order: []int{0, 1, 3}, hangUp: true, delivered: 3, lost: 3, dropped: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(func() { goleak.VerifyNone(t) })
			updates := make(chan string, 100)
			ctx, cancel := context.WithCancel(context.Background())
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost {
					updates <- r.FormValue("data")
					return
				}
				w.Header().Set("Content-Type", "text/event-stream")
				w.WriteHeader(http.StatusOK)
				w.(http.Flusher).Flush()
				var seen []string
				for {
					select {
					case d := <-updates:
						seen = append(seen, d)
					case <-r.Context().Done():
						return
					case <-ctx.Done():
						return
					}
					if len(seen) == 6 {
						for _, i := range tc.order {
							w.Write([]byte("event: x\nid: 1\ndata: " + seen[i] + "\n\n"))
						}
						w.Write([]byte("data: not ours\n\n"))
						w.(http.Flusher).Flush()
						if tc.hangUp {
							return
						}
					}
				}
			}))
			defer srv.Close()
			defer cancel()
			publishers := cmp.Or(tc.publishers, "1")
			r, _ := benchJSON(t, "-c", "1", "--rate", "0", "--events", "6", "--publishers", publishers, "--drain", "300ms", "--settle", "0s", srv.URL)
			if tc.publishers != "" {
				// Which numbers the server holds in which order depends on
				// how the concurrent publishes raced.
				tc.ooo = int(r.OutOfOrder)
			}
			if r.Published != 6 || r.Expected != 6 || r.Delivered != tc.delivered || r.Lost != tc.lost || r.Undelivered != tc.undelivered ||
				r.Duplicated != tc.dup || r.OutOfOrder != uint64(tc.ooo) || r.Malformed != 1 || r.Dropped != tc.dropped {
				t.Errorf("published %d expected %d delivered %d lost %d undelivered %d dup %d ooo %d malformed %d dropped %d, want 6 6 %d %d %d %d %d 1 %d",
					r.Published, r.Expected, r.Delivered, r.Lost, r.Undelivered, r.Duplicated, r.OutOfOrder, r.Malformed, r.Dropped,
					tc.delivered, tc.lost, tc.undelivered, tc.dup, tc.ooo, tc.dropped)
			}
		})
	}
}

// TestBenchChildHelper is not a test: it is the child process of the
// --procs tests, running sse with the arguments after "--".
func TestBenchChildHelper(t *testing.T) {
	if os.Getenv("SSE_BENCH_CHILD_HELPER") != "1" {
		t.Skip("the child process of the --procs tests")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(run(context.Background(), args, env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}))
}

// benchProcs runs 'sse bench args' in-process with child processes that
// are this test binary.
func benchProcs(t *testing.T, args ...string) loadgen.Result {
	t.Helper()
	t.Setenv("SSE_BENCH_CHILD_HELPER", "1")
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	self := []string{os.Args[0], "-test.run=^TestBenchChildHelper$", "--", "bench"}
	code := runBenchAs(ctx, args, env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}, self)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	var r loadgen.Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("JSON line: %v: %s", err, out.String())
	}
	t.Logf("summary:\n%s", errb.String())
	return r
}

func TestBenchProcsFanout(t *testing.T) {
	url := benchHub(t)
	r := benchProcs(t, "--procs", "3", "-c", "100", "--rate", "0", "--events", "30", "--settle", "50ms", "--jwt-key", benchKey, url)
	if r.Procs != 3 || r.Connected != 100 || r.Published != 30 {
		t.Fatalf("procs %d connected %d published %d: %s %s", r.Procs, r.Connected, r.Published, r.ConnectError, r.PublishError)
	}
	if r.Expected != 3000 || r.Delivered != 3000 || r.Lost != 0 || r.Undelivered != 0 || r.Duplicated != 0 || r.OutOfOrder != 0 {
		t.Errorf("expected %d delivered %d lost %d undelivered %d dup %d ooo %d", r.Expected, r.Delivered, r.Lost, r.Undelivered, r.Duplicated, r.OutOfOrder)
	}
	checkLatency(t, r.LatencyMs, 3000)
	if r.DeliveryRate <= 0 || r.Client.CPUSeconds <= 0 || r.Client.RSSEndKiB == 0 {
		t.Errorf("deliveries/s %v, generator %+v", r.DeliveryRate, r.Client)
	}
	// The children's connecting is not counted in the live part.
	if r.Client.CPULiveSeconds < 0 || r.Client.CPULiveSeconds >= r.Client.CPUSeconds {
		t.Errorf("generator CPU %vs after connecting, of %vs in all", r.Client.CPULiveSeconds, r.Client.CPUSeconds)
	}
}

func TestBenchProcsTopics(t *testing.T) {
	url := benchHub(t)
	// 25 connections per source address: the children's connections
	// 0-39 and 40-79 come from 127.0.0.2-5 by their global numbers.
	r := benchProcs(t, "--mode", "topics", "--procs", "2", "-c", "80", "--per-source", "25", "--rate", "0", "--events", "200",
		"--settle", "50ms", "--jwt-key", benchKey, url)
	if r.Connected != 80 || r.Published != 200 || r.Expected != 200 || r.Delivered != 200 || r.Lost != 0 || r.Duplicated != 0 {
		t.Errorf("connected %d published %d expected %d delivered %d lost %d dup %d", r.Connected, r.Published, r.Expected, r.Delivered, r.Lost, r.Duplicated)
	}
}

func TestBenchProcsIdle(t *testing.T) {
	url := benchHub(t)
	r := benchProcs(t, "--mode", "idle", "--procs", "2", "-c", "60", "--duration", "100ms", "--jwt-key", benchKey, "--pid", strconv.Itoa(os.Getpid()), url)
	if r.Connected != 60 || r.Dropped != 0 || r.Server == nil || r.Server.RSSEndKiB == 0 {
		t.Errorf("connected %d dropped %d server %+v", r.Connected, r.Dropped, r.Server)
	}
}

// sse bench speaks Mercure 1.0 by default (match= and an access token, as
// TestBenchFanout runs) and 0.x on request, for servers that speak only
// that: a hub that trusts no 1.0 issuer still takes --protocol 0.
func TestBenchProtocol0(t *testing.T) {
	h, err := hub.New(hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mercure.New(mercure.Options{Hub: h, PublisherKey: []byte(benchKey), SubscriberKey: []byte(benchKey)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m)
	t.Cleanup(func() {
		srv.Close()
		h.Close(context.Background())
	})
	url := srv.URL + mercure.Path
	r, _ := benchJSON(t, "--mode", "fanout", "-c", "10", "--rate", "0", "--events", "20", "--protocol", "0",
		"--jwt-key", benchKey, "--settle", "50ms", url)
	if r.Connected != 10 || r.Published != 20 || r.Delivered != 200 || r.Lost != 0 {
		t.Errorf("--protocol 0: connected %d (%s), published %d (%s), delivered %d, lost %d", r.Connected, r.ConnectError, r.Published, r.PublishError, r.Delivered, r.Lost)
	}
}
