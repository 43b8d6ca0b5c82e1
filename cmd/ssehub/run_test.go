package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/demo"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/sse"
)

// hubRun is a hub started in-process with run.
type hubRun struct {
	base string
	stop func() error // ends run and returns its error
}

// startRun parses args (plus a free loopback port and a fresh data
// directory unless args set them) and runs the hub until the test ends.
func startRun(t *testing.T, args ...string) *hubRun {
	t.Helper()
	all := append([]string{"--addr", "127.0.0.1:0", "--data", t.TempDir()}, args...)
	cfg, err := parseConfig(all, noEnv, &strings.Builder{})
	if err != nil {
		t.Fatalf("parseConfig(%q): %v", all, err)
	}
	return startConfig(t, cfg, runEnv{})
}

// startConfig runs the hub with cfg and env until the test ends, and then
// checks that no goroutine it started is left, but those leak ignores.
func startConfig(t testing.TB, cfg Config, env runEnv, leak ...goleak.Option) *hubRun {
	t.Helper()
	before := goleak.IgnoreCurrent()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	if env.Logger == nil {
		env.Logger = testLogger(t)
	}
	if env.Stderr == nil {
		env.Stderr = &strings.Builder{}
	}
	if env.DemoInterval == 0 {
		env.DemoInterval = 20 * time.Millisecond
	}
	env.Ready = func(u string) { ready <- u }
	go func() { done <- run(ctx, cfg, env) }()
	r := &hubRun{}
	select {
	case r.base = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("run: %v", err)
	case <-time.After(waitLong):
		t.Fatal("hub not ready in time")
	}
	var stopped bool
	var stopErr error
	r.stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(cfg.ShutdownTimeout + waitLong):
				t.Fatal("run did not return after shutdown")
			}
		}
		return stopErr
	}
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("run: %v", err)
		}
		// Everything run started has stopped: the server, the hub, the
		// log, the demo feed, the streams.
		noLeaks(t, append(leak, before)...)
	})
	return r
}

// noLeaks fails the test unless every goroutine but those opts ignore
// ends within waitLong. goleak's own retries give up after about a
// second, which a goroutine on its way out (a server's connection
// closing, certmagic's lock refresher that looks every 5 s whether its
// lock is gone) may need more than on a loaded machine.
func noLeaks(t testing.TB, opts ...goleak.Option) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		err := goleak.Find(opts...)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("goroutines left %v after the hub stopped: %v", waitLong, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRunPublishReceiveWithClient(t *testing.T) {
	r := startRun(t, "--jwt-key", testKey, "--anonymous")
	c := newClient(t)
	topic := "https://example.com/books/1"

	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, subscribeURL(r.base, topic), nil)
	open := make(chan struct{}, 1)
	client := &sse.Client{HTTPClient: c, MaxAttempts: 1, OnStateChange: func(s sse.State) {
		if s == sse.Open {
			open <- struct{}{}
		}
	}}
	tok := token(t, testKey, []string{topic}, nil, time.Minute)
	go func() {
		select {
		case <-open:
		case <-ctx.Done():
			return
		}
		for i := range 3 {
			mustPublish(t, c, r.base, tok, url.Values{"topic": {topic}, "data": {fmt.Sprint("hello ", i)}, "type": {"greeting"}, "id": {fmt.Sprint("id-", i)}})
		}
	}()
	i := 0
	for ev, err := range client.Events(ctx, req) {
		if err != nil {
			t.Fatal(err)
		}
		want := sse.Event{ID: fmt.Sprint("id-", i), Type: "greeting", Data: fmt.Sprint("hello ", i)}
		if ev != want {
			t.Fatalf("event %d = %+v, want %+v", i, ev, want)
		}
		if i++; i == 3 {
			break
		}
	}
}

func TestRunSelectors(t *testing.T) {
	r := startRun(t, "--jwt-key", testKey, "--anonymous")
	c := newClient(t)
	pub := token(t, testKey, []string{"*"}, nil, time.Minute)

	exact := subscribe(t, c, r.base, "", "", "https://example.com/books/1")
	all := subscribe(t, c, r.base, "", "", "*")
	tmpl := subscribe(t, c, r.base, "", "", "https://example.com/books/{id}")
	several := subscribe(t, c, r.base, "", "", "https://example.com/authors/1", "https://example.com/books/2")

	topics := []string{
		"https://example.com/books/1",
		"https://example.com/books/2",
		"https://example.com/authors/1",
		"https://example.com/books/1/chapters/3", // {id} matches one segment only
	}
	for _, tp := range topics {
		mustPublish(t, c, r.base, pub, url.Values{"topic": {tp}, "data": {tp}})
	}
	// An update with several topics reaches a subscriber through any one.
	mustPublish(t, c, r.base, pub, url.Values{"topic": {"https://example.com/other", "https://example.com/books/1"}, "data": {"alias"}})
	mustPublish(t, c, r.base, pub, url.Values{"topic": {"https://example.com/end"}, "data": {"end"}})

	for _, tc := range []struct {
		name string
		s    *sub
		want []string
	}{
		{"exact", exact, []string{topics[0], "alias"}},
		{"*", all, append(append([]string{}, topics...), "alias", "end")},
		{"template", tmpl, []string{topics[0], topics[1], "alias"}},
		{"several", several, []string{topics[1], topics[2]}},
	} {
		for _, w := range tc.want {
			if ev := tc.s.next(); ev.Data != w {
				t.Errorf("%s: got %q, want %q", tc.name, ev.Data, w)
			}
		}
	}
	// Nothing more for the others: the next event each sees is one they
	// match, published after everything above.
	mustPublish(t, c, r.base, pub, url.Values{"topic": {"https://example.com/books/1"}, "data": {"sentinel"}})
	for _, s := range []*sub{exact, tmpl} {
		if ev := s.next(); ev.Data != "sentinel" {
			t.Errorf("got %q after the expected events, want the sentinel", ev.Data)
		}
	}
	mustPublish(t, c, r.base, pub, url.Values{"topic": {"https://example.com/books/2"}, "data": {"sentinel 2"}})
	if ev := several.next(); ev.Data != "sentinel 2" {
		t.Errorf("several: got %q after the expected events, want the sentinel", ev.Data)
	}
}

func TestRunPrivateUpdatesNeverLeak(t *testing.T) {
	r := startRun(t, "--jwt-key", testKey, "--anonymous")
	c := newClient(t)
	topic := "https://example.com/secret/1"
	pub := token(t, testKey, []string{"*"}, nil, time.Minute)

	anon := subscribe(t, c, r.base, "", "", "*")
	authorized := subscribe(t, c, r.base, token(t, testKey, nil, []string{"https://example.com/secret/{id}"}, time.Minute), "", topic)
	other := subscribe(t, c, r.base, token(t, testKey, nil, []string{"https://example.com/other"}, time.Minute), "", "*")
	wrongKey := token(t, "another key, 32 bytes or more, really", nil, []string{"*"}, time.Minute)
	if _, err := openSubscription(t, c, r.base, wrongKey, "", topic); statusOf(err) != http.StatusUnauthorized {
		t.Errorf("subscribing with a token of another key: %v, want 401", err)
	}

	mustPublish(t, c, r.base, pub, url.Values{"topic": {topic}, "data": {"private"}, "private": {"on"}})
	mustPublish(t, c, r.base, pub, url.Values{"topic": {topic}, "data": {"public"}})

	if ev := authorized.next(); ev.Data != "private" {
		t.Errorf("authorized subscriber got %q first, want the private update", ev.Data)
	}
	for name, s := range map[string]*sub{"anonymous": anon, "authorized for another topic": other} {
		if ev := s.next(); ev.Data != "public" {
			t.Errorf("%s subscriber got %q, want only the public update", name, ev.Data)
		}
	}
	// Nor does history replay leak it.
	replay := subscribe(t, c, r.base, "", "earliest", "*")
	if ev := replay.next(); ev.Data != "public" {
		t.Errorf("anonymous replay got %q, want only the public update", ev.Data)
	}
}

func TestRunHealthzAndMetrics(t *testing.T) {
	r := startRun(t, "--jwt-key", testKey, "--anonymous")
	c := newClient(t)
	if code, body := get(t, c, r.base+"/healthz"); code != http.StatusOK || body != "ok" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}

	code, before := get(t, c, r.base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, name := range []string{"ssehub_subscribers", "ssehub_updates_published_total", "ssehub_events_delivered_total",
		"ssehub_slow_subscribers_disconnected_total", "ssehub_publish_duration_seconds_count", "go_goroutines", "ssehub_history_updates"} {
		if !strings.Contains(before, "\n"+name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	s := subscribe(t, c, r.base, "", "", "https://example.com/m")
	mustPublish(t, c, r.base, token(t, testKey, []string{"*"}, nil, time.Minute), url.Values{"topic": {"https://example.com/m"}, "data": {"x"}})
	s.next()
	// The hub counts a delivery once the write returns, which may be just
	// after the client read the event: wait for the counters to settle.
	var after string
	for deadline := time.Now().Add(waitLong); ; time.Sleep(10 * time.Millisecond) {
		_, after = get(t, c, r.base+"/metrics")
		if metric(t, after, "ssehub_events_delivered_total") == 1 || time.Now().After(deadline) {
			break
		}
	}
	for name, want := range map[string]float64{
		"ssehub_subscribers":                         1,
		"ssehub_updates_published_total":             1,
		"ssehub_events_delivered_total":              1,
		"ssehub_publish_duration_seconds_count":      1,
		"ssehub_history_updates":                     1,
		"ssehub_slow_subscribers_disconnected_total": 0,
	} {
		if got := metric(t, after, name); got != want {
			t.Errorf("%s = %v after one publish, want %v (before: %v)", name, got, want, metric(t, before, name))
		}
	}
}

// metric returns the value of the unlabelled series name in a Prometheus
// text exposition.
func metric(t *testing.T, text, name string) float64 {
	t.Helper()
	for line := range strings.Lines(text) {
		v, ok := strings.CutPrefix(line, name+" ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return f
	}
	t.Fatalf("no series %s", name)
	return 0
}

func TestRunHealthzFailsWithoutLog(t *testing.T) {
	// A hub whose log is gone answers 503, with the reason.
	cfg, err := parseConfig([]string{"--addr", "127.0.0.1:0", "--data", t.TempDir(), "--jwt-key", testKey}, noEnv, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := openStore(context.Background(), cfg, false, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(hub.Options{Log: st, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	st.Close()
	rec := httptest.NewRecorder()
	healthz(h, st).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "closed") {
		t.Errorf("/healthz on a closed log = %d %q, want 503 naming the cause", rec.Code, rec.Body.String())
	}
}

func TestRunDevDefaults(t *testing.T) {
	dir := t.TempDir()
	cfg, err := parseConfig([]string{"--addr", "127.0.0.1:0", "--data", dir}, noEnv, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.DevDefaults() || !cfg.Anonymous || !cfg.Demo {
		t.Fatalf("no configuration: DevDefaults %v, Anonymous %v, Demo %v; want all true", cfg.DevDefaults(), cfg.Anonymous, cfg.Demo)
	}
	var stderr strings.Builder
	r := startConfig(t, cfg, runEnv{Stderr: &stderr})
	c := newClient(t)

	// The printed command works as printed.
	cmd := ""
	for line := range strings.Lines(stderr.String()) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "publish:"); ok {
			cmd = strings.TrimSpace(v)
		}
	}
	tok, ok := strings.CutPrefix(cmd[strings.Index(cmd, "'Authorization: Bearer "):], "'Authorization: Bearer ")
	if !ok || !strings.HasPrefix(cmd, "curl -d topic="+demo.Topic+" -d data=hello -H ") || !strings.HasSuffix(cmd, " "+r.base+mercure.Path) {
		t.Fatalf("printed publish command %q", cmd)
	}
	tok = tok[:strings.Index(tok, "'")]
	key, err := os.ReadFile(filepath.Join(dir, keyFileName))
	if err != nil {
		t.Fatal(err)
	}
	// A Mercure 1.0 access token of the generated key's issuer, for this
	// hub, that may publish anywhere.
	var cl jwt.MapClaims
	parsed, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"})).ParseWithClaims(tok, &cl, func(*jwt.Token) (any, error) { return []byte(strings.TrimSpace(string(key))), nil })
	if err != nil || parsed.Header["typ"] != "at+jwt" || cl["iss"] != defaultIssuer || !strings.Contains(fmt.Sprint(cl["aud"]), r.base+mercure.Path) ||
		!strings.Contains(fmt.Sprint(cl["authorization_details"]), "actions:[publish] topics:[map[match:* match_type:exact]]") {
		t.Errorf("printed token: %v, header %v, claims %v", err, parsed.Header, cl)
	}

	// The demo feed runs, anonymous subscribers get it, and the printed
	// token publishes.
	s := subscribe(t, c, r.base, "", "", demo.Topic)
	ev := s.next()
	if _, ok := demo.ParseID(ev.ID); !ok || !strings.Contains(ev.Data, `"seq"`) {
		t.Errorf("demo event %+v", ev)
	}
	id := mustPublish(t, c, r.base, tok, url.Values{"topic": {demo.Topic}, "data": {"hello"}})
	for ev = s.next(); ev.ID != id; ev = s.next() {
	}

	// The pages are mounted, and the demo page's form gets a token.
	if code, body := get(t, c, r.base+"/"); code != http.StatusOK || !strings.Contains(body, "<html") {
		t.Errorf("GET / = %d", code)
	}
	resp, err := c.Post(r.base+"/publish-token", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var page struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST /publish-token on the development defaults = %d, want 200", resp.StatusCode)
	}
	// The form's token is a Mercure 1.0 access token that publishes.
	if parsed, _, err := jwt.NewParser().ParseUnverified(page.Token, jwt.MapClaims{}); err != nil || parsed.Header["typ"] != "at+jwt" {
		t.Errorf("the page's token %q: %v", page.Token, err)
	}
	mustPublish(t, c, r.base, page.Token, url.Values{"topic": {demo.Topic}, "data": {"from the page"}})

	// The private panel's token is a Mercure 1.0 access token that
	// subscribes to the private topic with match= (a 0.x token there is
	// a 400).
	req, _ := http.NewRequest(http.MethodPost, r.base+"/subscribe-token", nil)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page.Token = ""
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	cl = jwt.MapClaims{}
	if parsed, _, err := jwt.NewParser().ParseUnverified(page.Token, &cl); err != nil || parsed.Header["typ"] != "at+jwt" ||
		!strings.Contains(fmt.Sprint(cl["authorization_details"]), "actions:[subscribe] topics:[map[match:"+demo.PrivateTopic+" match_type:exact]]") {
		t.Fatalf("the private panel's token %q: %v, claims %v", page.Token, err, cl)
	}
	req, _ = http.NewRequest(http.MethodGet, r.base+mercure.Path+"?"+url.Values{"match": {demo.PrivateTopic}}.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+page.Token)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("subscribing with match= and the panel's token: %s", resp.Status)
	}
}

func TestRunNoPageTokenUnlessDevDefaults(t *testing.T) {
	r := startRun(t, "--jwt-key", testKey)
	resp, err := newClient(t).Post(r.base+"/publish-token", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Errorf("POST /publish-token with a configured key = 200, want a refusal")
	}
}

func TestRunAsymmetricKeyFile(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pub.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startRun(t, "--jwt-alg", "ES256", "--jwt-key", path)
	claims := tokenClaims{}
	claims.Mercure.Publish = []string{"*"}
	claims.ExpiresAt = jwt.NewNumericDate(time.Now().Add(time.Minute))
	tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	mustPublish(t, c, r.base, tok, url.Values{"topic": {"https://example.com/es"}, "data": {"x"}})
	if code, _ := post(t, c, r.base, token(t, testKey, []string{"*"}, nil, time.Minute), url.Values{"topic": {"https://example.com/es"}, "data": {"x"}}); code != http.StatusUnauthorized {
		t.Errorf("HS256 token on an ES256 hub: %d, want 401", code)
	}
}

func TestRunBadKeyIsUsageError(t *testing.T) {
	cfg, err := parseConfig([]string{"--addr", "127.0.0.1:0", "--data", t.TempDir(), "--jwt-alg", "RS256",
		"--jwt-key", "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n"}, noEnv, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), cfg, runEnv{Logger: testLogger(t)})
	var ue *usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--jwt-key") {
		t.Errorf("run with a broken PEM key: %v, want a usage error naming --jwt-key", err)
	}
}

func TestRunAddrInUse(t *testing.T) {
	r := startRun(t, "--jwt-key", testKey)
	u, _ := url.Parse(r.base)
	cfg, err := parseConfig([]string{"--addr", u.Host, "--data", t.TempDir(), "--jwt-key", testKey}, noEnv, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), cfg, runEnv{Logger: testLogger(t)})
	var ue *usageError
	if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), "--addr") {
		t.Errorf("run on a busy port: %v, want a runtime error naming --addr", err)
	}
}

func TestRunSubscriptionLimits(t *testing.T) {
	r := startRun(t, "--jwt-key", testKey, "--anonymous", "--max-subscriptions", "3", "--max-subscriptions-per-client", "2")
	c := newClient(t)
	subscribe(t, c, r.base, "", "", "https://example.com/a")
	subscribe(t, c, r.base, "", "", "https://example.com/b")
	if _, err := openSubscription(t, c, r.base, "", "", "https://example.com/c"); statusOf(err) != http.StatusTooManyRequests {
		t.Errorf("third subscription from one address: %v, want 429", err)
	}
}

// TestRunSelectorLimits: the binary's flags bound the distinct selectors of
// one client address and of the hub.
func TestRunSelectorLimits(t *testing.T) {
	r := startRun(t, "--jwt-key", testKey, "--anonymous", "--max-selectors-per-client", "2", "--max-selectors", "2")
	c := newClient(t)
	subscribe(t, c, r.base, "", "", "https://example.com/{a}")
	subscribe(t, c, r.base, "", "", "https://example.com/b")
	if _, err := openSubscription(t, c, r.base, "", "", "https://example.com/{c}"); statusOf(err) != http.StatusTooManyRequests {
		t.Errorf("a third distinct selector from one address: %v, want 429", err)
	}
	// Another address (any 127/8 address is loopback on Linux).
	other := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
	t.Cleanup(other.CloseIdleConnections)
	if _, err := openSubscription(t, other, r.base, "", "", "https://example.com/{a}", "https://example.com/e"); statusOf(err) != http.StatusServiceUnavailable {
		t.Errorf("a third distinct selector in the hub: %v, want 503", err)
	}
}

// TestRunDashboardStream is issue 19 item 7 on the binary: off the
// development defaults the dashboard's figures need a subscriber token
// covering /dashboard/events, and each stream counts as a subscription.
func TestRunDashboardStream(t *testing.T) {
	const issuer = "https://issuer.ssehub.test"
	r := startRun(t, "--jwt-key", testKey, "--jwt-issuer", issuer, "--anonymous", "--max-subscriptions-per-client", "1")
	c := newClient(t)
	bearer := ""
	get := func(query string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, r.base+"/dashboard/events"+query, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
		}
		return resp
	}
	if resp := get(""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %s, want 401", resp.Status)
	}
	tok := token(t, testKey, nil, []string{"/dashboard/events"}, time.Minute)
	first := get("?authorization=" + tok)
	if first.StatusCode != http.StatusOK {
		t.Fatalf("with a token: %s", first.Status)
	}
	if resp := get("?authorization=" + tok); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a second stream beyond --max-subscriptions-per-client 1: %s, want 429", resp.Status)
	}
	first.Body.Close()
	// A Mercure 1.0 access token, in the Authorization header, whose
	// subscribe grant covers the stream, as the dashboard sends one given
	// in its fragment. The first stream's end frees its place.
	var err error
	if bearer, err = mintAccessToken([]byte(testKey), issuer, r.base+mercure.Path, nil, []string{"/dashboard/events"}, time.Minute, time.Now()); err != nil {
		t.Fatal(err)
	}
	var resp *http.Response
	for deadline := time.Now().Add(waitLong); ; time.Sleep(20 * time.Millisecond) {
		if resp = get(""); resp.StatusCode != http.StatusTooManyRequests || time.Now().After(deadline) {
			break
		}
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("with a Mercure 1.0 access token: %s", resp.Status)
	}
	resp.Body.Close()
}

// TestRunMemoryHistoryBytes: --history-bytes bounds the --memory history in
// bytes (issue 19 item 10): of six updates of 300 KiB, 1 MiB keeps three.
func TestRunMemoryHistoryBytes(t *testing.T) {
	r := startRun(t, "--memory", "--history-bytes", "1MiB", "--jwt-key", testKey, "--anonymous")
	c := newClient(t)
	topic := "https://example.com/big"
	tok := token(t, testKey, []string{topic}, nil, time.Minute)
	data := strings.Repeat("x", 300<<10)
	for i := range 6 {
		mustPublish(t, c, r.base, tok, url.Values{"topic": {topic}, "data": {data}, "id": {fmt.Sprint("b", i)}})
	}
	s := subscribe(t, c, r.base, "", "earliest", topic)
	if ev := s.next(); ev.ID != "b3" {
		t.Fatalf("oldest kept update %q, want b3", ev.ID)
	}
}

// TestRunMemoryHistory serves from --memory: replay works while the
// process lives, and nothing is written to the data directory but the key.
func TestRunMemoryHistory(t *testing.T) {
	data := t.TempDir()
	r := startRun(t, "--data", data, "--memory", "--jwt-key", testKey, "--anonymous", "--history-size", "2")
	c := newClient(t)
	topic := "https://example.com/m"
	tok := token(t, testKey, []string{topic}, nil, time.Minute)
	for i := range 3 {
		mustPublish(t, c, r.base, tok, url.Values{"topic": {topic}, "data": {fmt.Sprint(i)}, "id": {fmt.Sprint("m", i)}})
	}
	// Two kept, m1 and m2: a replay after m1 finds it and sends m2.
	s := subscribe(t, c, r.base, "", "m1", topic)
	if ev := s.next(); ev.ID != "m2" || ev.Data != "2" {
		t.Fatalf("replayed %+v, want m2", ev)
	}
	resp, err := c.Get(r.base + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, err := os.Stat(filepath.Join(data, historyFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a history file in the data directory: %v", err)
	}
}

// TestRunClosesAfterChunkedRequest: RFC 9112, section 6.1, on every path
// of the binary, not only the Mercure endpoint: a request with both
// Content-Length and Transfer-Encoding is answered and its connection
// closed, so the request pipelined behind it is never served.
func TestRunClosesAfterChunkedRequest(t *testing.T) {
	r := startRun(t, "--jwt-key", testKey)
	u, _ := url.Parse(r.base)
	c, err := net.DialTimeout("tcp", u.Host, waitLong)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLong))
	io.WriteString(c, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"+
		"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if !resp.Close {
		t.Errorf("%s answered without Connection: close", resp.Status)
	}
	if resp, err := http.ReadResponse(br, nil); err == nil {
		t.Errorf("the pipelined request was served: %s", resp.Status)
	}
}
