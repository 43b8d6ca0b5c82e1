//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/cmd/ssehub/ssehubtest"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/sse"
)

func TestBinaryAuthorizationMatrix(t *testing.T) {
	const pubKey, subKey = "publisher key of the matrix test, 32+ bytes", "subscriber key of the matrix test, 32+ bytes"
	p := ssehubtest.Start(t, nil, "--addr", "127.0.0.1:0", "--data", t.TempDir(),
		"--publisher-jwt-key", pubKey, "--subscriber-jwt-key", subKey, "--anonymous=false", "--demo=false")
	c := newClient(t)
	topic := "https://example.com/books/1"
	form := url.Values{"topic": {topic}, "data": {"x"}}
	expired := token(t, pubKey, []string{"*"}, nil, -time.Minute)
	unsigned, _ := jwt.NewWithClaims(jwt.SigningMethodNone, tokenClaims{}).SignedString(jwt.UnsafeAllowNoneSignatureType)

	for _, tc := range []struct {
		name string
		tok  string
		want int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"not a JWT", "not-a-jwt", http.StatusUnauthorized},
		{"alg none", unsigned, http.StatusUnauthorized},
		{"subscriber key", token(t, subKey, []string{"*"}, nil, time.Minute), http.StatusUnauthorized},
		{"expired", expired, http.StatusUnauthorized},
		{"no publish claim", token(t, pubKey, nil, []string{"*"}, time.Minute), http.StatusForbidden},
		{"other topic", token(t, pubKey, []string{"https://example.com/books/2"}, nil, time.Minute), http.StatusForbidden},
		{"template that does not match", token(t, pubKey, []string{"https://example.com/authors/{id}"}, nil, time.Minute), http.StatusForbidden},
		{"exact topic", token(t, pubKey, []string{topic}, nil, time.Minute), http.StatusOK},
		{"template", token(t, pubKey, []string{"https://example.com/books/{id}"}, nil, time.Minute), http.StatusOK},
		{"*", token(t, pubKey, []string{"*"}, nil, time.Minute), http.StatusOK},
	} {
		code, body := post(t, c, p.URL, tc.tok, form)
		if code != tc.want {
			t.Errorf("publish with %s: %d %q, want %d", tc.name, code, body, tc.want)
		}
	}
	// Every topic of an update must be allowed.
	if code, _ := post(t, c, p.URL, token(t, pubKey, []string{topic}, nil, time.Minute),
		url.Values{"topic": {topic, "https://example.com/books/2"}, "data": {"x"}}); code != http.StatusForbidden {
		t.Errorf("publish to an allowed and a forbidden topic: %d, want 403", code)
	}

	for _, tc := range []struct {
		name string
		tok  string
		want int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"publisher key", token(t, pubKey, nil, []string{"*"}, time.Minute), http.StatusUnauthorized},
		{"expired", token(t, subKey, nil, []string{"*"}, -time.Minute), http.StatusUnauthorized},
		{"alg none", unsigned, http.StatusUnauthorized},
		{"valid, no private rights", token(t, subKey, nil, nil, time.Minute), http.StatusOK},
		{"valid", token(t, subKey, nil, []string{"*"}, time.Minute), http.StatusOK},
	} {
		resp, err := openSubscription(t, c, p.URL, tc.tok, "", topic)
		if got := statusOf(err); err == nil {
			got = resp.StatusCode
			resp.Body.Close()
			if got != tc.want {
				t.Errorf("subscribe with %s: %d, want %d", tc.name, got, tc.want)
			}
		} else if got != tc.want {
			t.Errorf("subscribe with %s: %v, want %d", tc.name, err, tc.want)
		}
	}
	// The token may also come in the authorization query parameter.
	q := url.Values{"topic": {topic}, "authorization": {token(t, subKey, nil, nil, time.Minute)}}
	req, _ := http.NewRequest(http.MethodGet, p.URL+mercure.Path+"?"+q.Encode(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := c.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("subscribe with a query token: %d", resp.StatusCode)
	}
	if code, body := get(t, c, p.URL+"/healthz"); code != http.StatusOK || body != "ok" {
		t.Errorf("/healthz = %d %q", code, body)
	}
}

func TestBinaryResumeAfterRestart(t *testing.T) {
	addr := ssehubtest.FreeAddr(t)
	dir := t.TempDir()
	args := []string{"--addr", addr, "--data", dir, "--jwt-key", testKey, "--anonymous", "--demo=false", "--heartbeat", "200ms"}
	p := ssehubtest.Start(t, nil, args...)
	c := newClient(t)
	pub := token(t, testKey, []string{"*"}, nil, time.Hour)
	topic := "https://example.com/feed"

	// A reconnecting client follows the feed across the restart.
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLong)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, subscribeURL(p.URL, topic), nil)
	opened := make(chan struct{}, 8)
	var mu sync.Mutex
	var reasons []error
	client := &sse.Client{
		HTTPClient:    c,
		ReconnectTime: 50 * time.Millisecond,
		MaxBackoff:    200 * time.Millisecond,
		OnStateChange: func(s sse.State) {
			if s == sse.Open {
				opened <- struct{}{}
			}
		},
		OnError: func(err error) {
			mu.Lock()
			reasons = append(reasons, err)
			mu.Unlock()
		},
	}
	events := make(chan sse.Event, 100)
	go func() {
		defer close(events)
		for ev, err := range client.Events(ctx, req) {
			if err != nil {
				return
			}
			events <- ev
		}
	}()
	nextEvent := func() sse.Event {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("client stopped")
			}
			return ev
		case <-time.After(waitLong):
			t.Fatal("no event in time")
		}
		return sse.Event{}
	}
	select {
	case <-opened:
	case <-time.After(waitLong):
		t.Fatal("client did not connect")
	}

	ids := make([]string, 0, 12)
	for i := range 10 {
		ids = append(ids, mustPublish(t, c, p.URL, pub, url.Values{"topic": {topic}, "data": {fmt.Sprint(i)}}))
	}
	for i := range 10 {
		if ev := nextEvent(); ev.ID != ids[i] || ev.Data != fmt.Sprint(i) {
			t.Fatalf("before the restart: event %+v, want %d %s", ev, i, ids[i])
		}
	}
	if code, _ := p.Stop(sigterm, waitLong); code != 0 {
		t.Fatalf("exit status %d after SIGTERM", code)
	}
	tc := time.Now()
	// Pooled connections to the stopped process are dead; a POST is not
	// retried on one.
	c.CloseIdleConnections()

	p = ssehubtest.Start(t, nil, args...)
	// Published on the restarted hub while the client may or may not
	// have reconnected yet: it gets them either replayed or live.
	for i := 10; i < 12; i++ {
		ids = append(ids, mustPublish(t, c, p.URL, pub, url.Values{"topic": {topic}, "data": {fmt.Sprint(i)}}))
	}
	for i := 10; i < 12; i++ {
		if ev := nextEvent(); ev.ID != ids[i] || ev.Data != fmt.Sprint(i) {
			t.Fatalf("after the restart: event %+v, want %d %s", ev, i, ids[i])
		}
	}
	t.Logf("client resumed %v after the stop", time.Since(tc))
	mu.Lock()
	var ended bool
	for _, err := range reasons {
		ended = ended || errors.Is(err, sse.ErrDisconnected)
	}
	mu.Unlock()
	if !ended {
		t.Errorf("the client never saw the stream end; its errors: %v", reasons)
	}

	// A subscriber resuming from an ID stored before the restart gets
	// exactly the remainder, from disk, and then live updates.
	s := subscribe(t, c, p.URL, "", ids[3], topic)
	ids = append(ids, mustPublish(t, c, p.URL, pub, url.Values{"topic": {topic}, "data": {"12"}}))
	for i := 4; i < 13; i++ {
		if ev := s.next(); ev.ID != ids[i] {
			t.Fatalf("resumed from %s: got %s, want %s (#%d)", ids[3], ev.ID, ids[i], i)
		}
	}
	select {
	case ev := <-s.events:
		t.Errorf("resumed subscriber got an extra event %+v", ev)
	case <-time.After(100 * time.Millisecond):
	}
	if ev := nextEvent(); ev.ID != ids[12] {
		t.Errorf("client got %s, want %s", ev.ID, ids[12])
	}
}

func TestBinaryGracefulShutdown(t *testing.T) {
	const bound = 8 * time.Second
	p := ssehubtest.Start(t, nil, "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--shutdown-timeout", bound.String())
	c := newClient(t)

	// Three reconnecting subscribers (on the demo feed of the development
	// defaults), the dashboard's stream and an idle keep-alive connection.
	type result struct {
		disconnected, retried bool
		err                   error
	}
	results := make(chan result, 3)
	opened := make(chan struct{}, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLong)
	defer cancel()
	for range 3 {
		var r result
		client := &sse.Client{
			HTTPClient:    c,
			ReconnectTime: 20 * time.Millisecond,
			MaxBackoff:    50 * time.Millisecond,
			MaxAttempts:   3,
			OnStateChange: func(s sse.State) {
				if s == sse.Open {
					opened <- struct{}{}
				}
			},
			OnError: func(err error) {
				var re *sse.ReconnectError
				if errors.As(err, &re) {
					r.disconnected = r.disconnected || errors.Is(re.Err, sse.ErrDisconnected)
					r.retried = r.retried || re.Attempt > 0
				}
			},
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, subscribeURL(p.URL, "https://ssehub.local/demo"), nil)
		go func() {
			for _, err := range client.Events(ctx, req) {
				if err != nil {
					r.err = err
					break
				}
			}
			results <- r
		}()
	}
	for range 3 {
		select {
		case <-opened:
		case <-time.After(waitLong):
			t.Fatal("subscribers did not connect")
		}
	}
	dash, err := c.Get(p.URL + "/dashboard/events")
	if err != nil || dash.StatusCode != http.StatusOK {
		t.Fatalf("dashboard stream: %v %v", err, dash)
	}
	defer dash.Body.Close()
	get(t, c, p.URL+"/healthz") // leaves an idle keep-alive connection

	code, took := p.Stop(sigterm, bound+5*time.Second)
	if code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	if logs := p.Logs(); strings.Contains(logs, "still open") || !strings.Contains(logs, "ssehub stopped") {
		t.Errorf("shutdown was not graceful (took %v):\n%s", took, logs)
	}
	t.Logf("exited %v after SIGTERM with 4 streams open", took)
	for range 3 {
		select {
		case r := <-results:
			if !r.disconnected || !r.retried || !errors.Is(r.err, sse.ErrMaxAttempts) {
				t.Errorf("subscriber: saw the end %v, reconnected %v, ended with %v; want true, true, ErrMaxAttempts", r.disconnected, r.retried, r.err)
			}
		case <-time.After(waitLong):
			t.Fatal("a subscriber did not notice the shutdown")
		}
	}
}

func TestBinaryKeyFileReuse(t *testing.T) {
	dir := t.TempDir()
	p := ssehubtest.Start(t, nil, "--addr", "127.0.0.1:0", "--data", dir, "--demo=false")
	path := filepath.Join(dir, keyFileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	key, _ := os.ReadFile(path)
	tok := token(t, strings.TrimSpace(string(key)), []string{"*"}, nil, time.Hour)
	c := newClient(t)
	mustPublish(t, c, p.URL, tok, url.Values{"topic": {"https://example.com/k"}, "data": {"1"}})
	if !strings.Contains(p.Logs(), "generated a signing key") {
		t.Error("first run did not log the key's generation")
	}
	p.Stop(sigterm, waitLong)
	c.CloseIdleConnections()

	p = ssehubtest.Start(t, nil, "--addr", "127.0.0.1:0", "--data", dir, "--demo=false")
	if again, _ := os.ReadFile(path); string(again) != string(key) {
		t.Error("the key changed across a restart")
	}
	if strings.Contains(p.Logs(), "generated a signing key") {
		t.Error("second run generated a key again")
	}
	// Tokens signed before the restart still work, and anonymous
	// subscribers are let in (development defaults).
	mustPublish(t, c, p.URL, tok, url.Values{"topic": {"https://example.com/k"}, "data": {"2"}})
	s := subscribe(t, c, p.URL, "", "earliest", "https://example.com/k")
	if a, b := s.next(), s.next(); a.Data != "1" || b.Data != "2" {
		t.Errorf("history across the restart: %q, %q", a.Data, b.Data)
	}
	if code, _ := post(t, c, p.URL, "", url.Values{"topic": {"https://example.com/k"}, "data": {"3"}}); code != http.StatusUnauthorized {
		t.Errorf("publish without a token on the development defaults: %d, want 401", code)
	}
}

func TestBinaryConfigFromEnv(t *testing.T) {
	dir := t.TempDir()
	env := []string{"SSEHUB_ADDR=127.0.0.1:0", "SSEHUB_DATA=" + dir, "SSEHUB_JWT_KEY=" + testKey,
		"SSEHUB_ANONYMOUS=false", "SSEHUB_DEMO=false", "SSEHUB_LOG_FORMAT=text"}
	// JSON logs from the flag, over the environment's text.
	p := ssehubtest.Start(t, env)
	c := newClient(t)
	if _, err := openSubscription(t, c, p.URL, "", "", "https://example.com/e"); statusOf(err) != http.StatusUnauthorized {
		t.Errorf("anonymous subscribe with SSEHUB_ANONYMOUS=false: %v, want 401", err)
	}
	mustPublish(t, c, p.URL, token(t, testKey, []string{"*"}, nil, time.Minute), url.Values{"topic": {"https://example.com/e"}, "data": {"x"}})
	if _, err := os.Stat(filepath.Join(dir, historyFileName)); err != nil {
		t.Errorf("SSEHUB_DATA not used: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, keyFileName)); err == nil {
		t.Error("a key was generated although SSEHUB_JWT_KEY is set")
	}
	p.Stop(sigterm, waitLong)
	c.CloseIdleConnections()

	// The flag wins over the variable.
	p = ssehubtest.Start(t, env, "--anonymous")
	s := subscribe(t, c, p.URL, "", "earliest", "https://example.com/e")
	if ev := s.next(); ev.Data != "x" {
		t.Errorf("replay: %+v", ev)
	}

	// Invalid values exit with status 2 and name the flag or variable.
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{[]string{"SSEHUB_HISTORY_SIZE=lots"}, nil, "SSEHUB_HISTORY_SIZE (--history-size)"},
		{nil, []string{"--heartbeat", "-1s"}, "--heartbeat"},
		{nil, []string{"--jwt-alg", "RS256", "--jwt-key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}, "--jwt-key"},
	} {
		q := ssehubtest.Launch(t, append([]string{"SSEHUB_DATA=" + t.TempDir(), "SSEHUB_ADDR=127.0.0.1:0"}, tc.env...), tc.args...)
		if code := q.Wait(waitLong); code != 2 || !strings.Contains(q.Logs(), tc.want) {
			t.Errorf("%v %v: exit %d, stderr %q; want 2 naming %s", tc.env, tc.args, code, q.Logs(), tc.want)
		}
	}
}
