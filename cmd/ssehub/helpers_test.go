package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/sse"
)

// waitLong bounds every wait of the tests: far above what a healthy run
// takes, so that only a real hang trips it.
const waitLong = 15 * time.Second

// testKey signs the tokens of tests that configure a key.
const testKey = "ssehub cmd test key, not a secret, 32+ bytes"

// noEnv is an environment with no variables set.
func noEnv(string) (string, bool) { return "", false }

// testLogger sends the hub's logs to the test's log, shown on failure.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// token signs a Mercure token with an HMAC key.
func token(t testing.TB, key string, publish, subscribe []string, ttl time.Duration) string {
	t.Helper()
	tok, err := mintToken([]byte(key), publish, subscribe, ttl, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// newClient returns a client with a transport of its own, closed at the
// end of the test so that no connection outlives it.
func newClient(t testing.TB) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// post publishes form to the hub at base with tok (none if empty) and
// returns the status and the body.
func post(t testing.TB, c *http.Client, base, tok string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+mercure.Path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// mustPublish publishes one update and returns its ID.
func mustPublish(t testing.TB, c *http.Client, base, tok string, form url.Values) string {
	t.Helper()
	// Not t.Context(): some tests publish from a goroutine that outlives
	// the test function.
	id, err := mercure.Publish(context.Background(), c, base+mercure.Path, tok, form)
	if err != nil {
		t.Fatalf("publish %v: %v", form, err)
	}
	return id
}

// get returns the status and body of a GET.
func get(t testing.TB, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sub is one subscription over one connection, read with sse.Decoder.
type sub struct {
	t      testing.TB
	events chan sse.Event
	end    chan error // the decoder's final error; nil at a clean end
	cancel context.CancelFunc
}

// subscribeURL is the subscribe URL for topics.
func subscribeURL(base string, topics ...string) string {
	q := url.Values{"topic": topics}
	return base + mercure.Path + "?" + q.Encode()
}

// subscribe opens a subscription and fails the test unless the hub
// answers 200. The subscriber is live when it returns.
func subscribe(t testing.TB, c *http.Client, base, tok, lastID string, topics ...string) *sub {
	t.Helper()
	return subscribeTo(t, c, subscribeURL(base, topics...), tok, lastID)
}

// subscribeTo is subscribe with the whole subscribe URL, for Mercure 1.0's
// match= and the like.
func subscribeTo(t testing.TB, c *http.Client, u, tok, lastID string) *sub {
	t.Helper()
	resp, err := openURL(t, c, u, tok, lastID)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &sub{t: t, events: make(chan sse.Event, 1024), end: make(chan error, 1), cancel: cancel}
	go func() {
		<-ctx.Done()
		resp.Body.Close()
	}()
	go func() {
		defer close(s.events)
		for ev, err := range sse.Events(resp.Body) {
			if err != nil {
				s.end <- err
				return
			}
			s.events <- ev
		}
		s.end <- nil
	}()
	t.Cleanup(cancel)
	return s
}

// openSubscription sends the subscribe request and returns the response
// if it is 200, else an error with the status and message.
func openSubscription(t testing.TB, c *http.Client, base, tok, lastID string, topics ...string) (*http.Response, error) {
	t.Helper()
	return openURL(t, c, subscribeURL(base, topics...), tok, lastID)
}

// openURL is openSubscription with the whole subscribe URL.
func openURL(t testing.TB, c *http.Client, u, tok, lastID string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, &statusErr{code: resp.StatusCode, msg: strings.TrimSpace(string(b))}
	}
	return resp, nil
}

type statusErr struct {
	code int
	msg  string
}

func (e *statusErr) Error() string { return http.StatusText(e.code) + ": " + e.msg }

// statusOf returns the status of an openSubscription error, 0 for none.
func statusOf(err error) int {
	var se *statusErr
	if errors.As(err, &se) {
		return se.code
	}
	return 0
}

// next returns the next event, failing the test if none comes in time or
// the stream ends.
func (s *sub) next() sse.Event {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.t.Fatalf("stream ended: %v", <-s.end)
		}
		return ev
	case <-time.After(waitLong):
		s.t.Fatal("no event in time")
	}
	return sse.Event{}
}

// ended waits for the stream to end and returns the decoder's final
// error (nil when the server ended the body cleanly).
func (s *sub) ended() error {
	s.t.Helper()
	timeout := time.After(waitLong)
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return <-s.end
			}
		case <-timeout:
			s.t.Fatal("stream did not end in time")
		}
	}
}

// parseClaims checks tok against key and returns its claims, as a
// hub reads it.
func parseClaims(t testing.TB, key, tok string) tokenClaims {
	t.Helper()
	var c tokenClaims
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"})).ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return []byte(key), nil })
	if err != nil {
		t.Fatalf("token %q: %v", tok, err)
	}
	return c
}

// tokenClaims is the JWT body as a Mercure hub reads it, declared here so
// the tests check the wire shape independently of the signing code.
type tokenClaims struct {
	jwt.RegisteredClaims
	Mercure mercure.Claims `json:"mercure"`
}
