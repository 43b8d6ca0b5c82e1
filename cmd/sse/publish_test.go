package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
)

// hubKey is the publisher key of the test hub.
const hubKey = "sse command test key, not a secret, 32+ bytes"

// testHub is a Mercure hub on a loopback server with an in-memory log the
// test can read back.
type testHub struct {
	url string
	log *hub.MemoryLog
}

func newTestHub(t *testing.T) *testHub {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
	l := hub.NewMemoryLog(hub.MemoryLogOptions{})
	h, err := hub.New(hub.Options{Log: l})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mercure.New(mercure.Options{Hub: h, PublisherKey: []byte(hubKey), SubscriberKey: []byte(hubKey), Anonymous: true,
		Issuers: []mercure.Issuer{{ID: defaultIssuer, PublisherKey: []byte(hubKey), SubscriberKey: []byte(hubKey)}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m)
	t.Cleanup(func() {
		srv.Close()
		h.Close(context.Background())
		l.Close()
	})
	return &testHub{url: srv.URL, log: l}
}

// updates returns every update the hub stored.
func (th *testHub) updates(t *testing.T) []*hub.Update {
	t.Helper()
	var us []*hub.Update
	for u, err := range th.log.Read(context.Background(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		us = append(us, u)
	}
	return us
}

// sseRun runs the sse command in-process.
func sseRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code = run(ctx, args, env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut})
	return code, out.String(), errOut.String()
}

func TestPublishWithKey(t *testing.T) {
	th := newTestHub(t)
	code, out, errOut := sseRun(t, "publish", "--url", th.url+mercure.Path,
		"--topic", "https://example.com/a", "--topic", "https://example.com/b",
		"--data", "line 1\nline 2", "--id", "my-id", "--type", "note", "--retry", "2500", "--private",
		"--jwt-key", hubKey)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if out != "my-id\n" {
		t.Errorf("stdout %q, want the update's ID", out)
	}
	us := th.updates(t)
	if len(us) != 1 {
		t.Fatalf("%d updates stored, want 1", len(us))
	}
	u := us[0]
	if u.ID != "my-id" || !slices.Equal(u.Topics, []string{"https://example.com/a", "https://example.com/b"}) ||
		u.Data != "line 1\nline 2" || u.Type != "note" || u.Retry != 2500*time.Millisecond || !u.Private {
		t.Errorf("stored %+v", u)
	}
}

func TestPublishWithTokenAndBareURL(t *testing.T) {
	th := newTestHub(t)
	_, tok, _ := sseRun(t, "token", "--protocol", "0", "--jwt-key", hubKey, "--publish", "https://example.com/{id}")
	// A URL without a path gets the Mercure path; the hub assigns the ID.
	code, out, errOut := sseRun(t, "publish", "--url", th.url, "--topic", "https://example.com/1", "--data", "", "--token", strings.TrimSpace(tok))
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	us := th.updates(t)
	if len(us) != 1 || out != us[0].ID+"\n" || !strings.HasPrefix(us[0].ID, "urn:uuid:") || us[0].Data != "" || us[0].Private {
		t.Errorf("stdout %q, stored %+v", out, us)
	}
}

func TestPublishRefused(t *testing.T) {
	th := newTestHub(t)
	_, narrow, _ := sseRun(t, "token", "--protocol", "0", "--jwt-key", hubKey, "--publish", "https://example.com/mine")
	_, expired, _ := sseRun(t, "token", "--protocol", "0", "--jwt-key", hubKey, "--publish", "*", "--ttl", "1ns")
	for _, tc := range []struct {
		name, want string
		args       []string
	}{
		{"topic outside the token", "403 Forbidden: authorization: topic", []string{"--token", strings.TrimSpace(narrow), "--topic", "https://example.com/yours"}},
		{"another key", "401 Unauthorized: authorization:", []string{"--jwt-key", "some other key, also 32 bytes long"}},
		{"expired", "401 Unauthorized: authorization:", []string{"--token", strings.TrimSpace(expired)}},
		{"not a token", "401 Unauthorized", []string{"--token", "garbage"}},
		{"invalid id", "400 Bad Request: id", []string{"--jwt-key", hubKey, "--id", "#fragment"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"publish", "--url", th.url, "--data", "x"}, tc.args...)
			if !slices.Contains(tc.args, "--topic") {
				args = append(args, "--topic", "https://example.com/t")
			}
			code, out, errOut := sseRun(t, args...)
			if code != 1 || out != "" || !strings.HasPrefix(errOut, "sse publish: "+tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1 and %q", code, out, errOut, tc.want)
			}
		})
	}
	if us := th.updates(t); len(us) != 0 {
		t.Errorf("refused publishes stored %d updates", len(us))
	}
}

func TestPublishUnreachable(t *testing.T) {
	srv := httptest.NewServer(nil)
	u := srv.URL
	srv.Close() // nothing listens there any more
	code, _, errOut := sseRun(t, "publish", "--url", u, "--topic", "t", "--data", "x", "--jwt-key", hubKey)
	if code != 1 || !strings.Contains(errOut, "sse publish:") {
		t.Errorf("exit %d, stderr %q; want 1", code, errOut)
	}
}

func TestPublishUsage(t *testing.T) {
	base := []string{"--url", "http://127.0.0.1:1", "--topic", "t", "--data", "x"}
	for _, tc := range []struct {
		name, want string
		args       []string
	}{
		{"no url", "--url is required", []string{"--topic", "t", "--data", "x", "--jwt-key", "k"}},
		{"no topic", "--topic is required", []string{"--url", "http://h", "--data", "x", "--jwt-key", "k"}},
		{"empty topic", "--topic: must not be empty", []string{"--url", "http://h", "--topic", "", "--data", "x", "--jwt-key", "k"}},
		{"no data", "--data is required", []string{"--url", "http://h", "--topic", "t", "--jwt-key", "k"}},
		{"no credentials", "give --token or --jwt-key", base},
		{"both credentials", "not both", append(slices.Clone(base), "--token", "t", "--jwt-key", "k")},
		{"negative retry", "--retry -1", append(slices.Clone(base), "--retry", "-1", "--jwt-key", "k")},
		{"relative url", "want an absolute http or https URL", []string{"--url", "/x", "--topic", "t", "--data", "x", "--jwt-key", "k"}},
		{"ftp url", "want an absolute http or https URL", []string{"--url", "ftp://h/x", "--topic", "t", "--data", "x", "--jwt-key", "k"}},
		{"stray argument", "unexpected argument", append(slices.Clone(base), "--jwt-key", "k", "extra")},
		{"bad flag value", "invalid value", append(slices.Clone(base), "--retry", "soon")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := sseRun(t, append([]string{"publish"}, tc.args...)...)
			if code != 2 || out != "" || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, tc.want)
			}
		})
	}
}

func TestTokenClaims(t *testing.T) {
	code, out, errOut := sseRun(t, "token", "--protocol", "0", "--jwt-key", hubKey, "--publish", "https://example.com/{id}", "--publish", "https://example.com/x",
		"--subscribe", "*", "--subject", "alice", "--ttl", "90m")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var c mercureToken
	tok, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"})).ParseWithClaims(strings.TrimSpace(out), &c,
		func(*jwt.Token) (any, error) { return []byte(hubKey), nil })
	if err != nil || !tok.Valid {
		t.Fatalf("token %q: %v", out, err)
	}
	if !slices.Equal(c.Mercure.Publish, []string{"https://example.com/{id}", "https://example.com/x"}) ||
		!slices.Equal(c.Mercure.Subscribe, []string{"*"}) || c.Subject != "alice" {
		t.Errorf("claims %+v, subject %q", c.Mercure, c.Subject)
	}
	if d := time.Until(c.ExpiresAt.Time); d < 89*time.Minute || d > 91*time.Minute {
		t.Errorf("expires in %v, want 90m", d)
	}

	// Without a TTL the token never expires.
	_, out, _ = sseRun(t, "token", "--protocol", "0", "--jwt-key", hubKey, "--subscribe", "*", "--ttl", "0")
	c = mercureToken{}
	if _, err := jwt.NewParser().ParseWithClaims(strings.TrimSpace(out), &c, func(*jwt.Token) (any, error) { return []byte(hubKey), nil }); err != nil || c.ExpiresAt != nil {
		t.Errorf("--ttl 0: err %v, exp %v; want no expiry", err, c.ExpiresAt)
	}
}

func TestTokenAcceptedByHub(t *testing.T) {
	th := newTestHub(t)
	_, tok, _ := sseRun(t, "token", "--protocol", "0", "--jwt-key", hubKey, "--publish", "https://example.com/p", "--subscribe", "https://example.com/p")
	tok = strings.TrimSpace(tok)
	if code, _, errOut := sseRun(t, "publish", "--url", th.url, "--topic", "https://example.com/p", "--data", "secret", "--private", "--token", tok); code != 0 {
		t.Fatalf("publish: exit %d, %s", code, errOut)
	}
	// The subscribe claim lets it replay the private update.
	c := newHTTPClient(t)
	req := httptest.NewRequest("GET", th.url+mercure.Path+"?"+url.Values{"topic": {"https://example.com/p"}, "lastEventID": {"earliest"}}.Encode(), nil)
	req.RequestURI = ""
	req.Header.Set("Authorization", "Bearer "+tok)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 0, 256)
	for !bytes.Contains(buf, []byte("data: secret\n\n")) {
		n, err := resp.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil || len(buf) == cap(buf) {
			t.Fatalf("stream %q: %v", buf, err)
		}
	}
	cancel()
	io.Copy(io.Discard, resp.Body)
}

func TestTokenUsage(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		args       []string
	}{
		{"no key", "--jwt-key is required", []string{"--publish", "*"}},
		{"no selector", "at least one --publish or --subscribe", []string{"--jwt-key", "k"}},
		{"empty selector", "must not be empty", []string{"--jwt-key", "k", "--aud", "https://h/.well-known/mercure", "--publish", ""}},
		{"no audience", "--aud is required", []string{"--jwt-key", "k", "--publish", "*"}},
		{"1.0 without expiry", "must expire", []string{"--jwt-key", "k", "--aud", "x", "--publish", "*", "--ttl", "0"}},
		{"pattern for 0.x", "not --protocol 0", []string{"--protocol", "0", "--jwt-key", "k", "--publish-urlpattern", "/a/:b"}},
		{"bad payload", "--payload", []string{"--jwt-key", "k", "--aud", "x", "--subscribe", "*", "--payload", "{"}},
		{"bad protocol", "--protocol 2", []string{"--protocol", "2", "--jwt-key", "k", "--publish", "*"}},
		{"negative ttl", "--ttl -1s", []string{"--jwt-key", "k", "--publish", "*", "--ttl", "-1s"}},
		{"bad ttl", "invalid value", []string{"--jwt-key", "k", "--publish", "*", "--ttl", "soon"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := sseRun(t, append([]string{"token"}, tc.args...)...)
			if code != 2 || out != "" || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, tc.want)
			}
		})
	}
}

// newHTTPClient returns a client whose connections close with the test.
func newHTTPClient(t *testing.T) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// mercureToken is the JWT body as a Mercure hub reads it, declared here so
// the test checks the wire shape independently of the signing code.
type mercureToken struct {
	jwt.RegisteredClaims
	Mercure mercure.Claims `json:"mercure"`
}

// The default tokens are Mercure 1.0 access tokens that a 1.0 hub takes:
// 'sse token' with exact and URL pattern grants, and 'sse publish
// --jwt-key' signing one for its topics.
func TestToken1AcceptedByHub(t *testing.T) {
	th := newTestHub(t)
	aud := th.url + mercure.Path
	_, tok, errOut := sseRun(t, "token", "--jwt-key", hubKey, "--aud", aud, "--publish-urlpattern", "https://example.com/:id",
		"--subscribe", "https://example.com/p", "--payload", `{"a":1}`)
	tok = strings.TrimSpace(tok)
	var c jwt.MapClaims
	parsed, err := jwt.NewParser().ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return []byte(hubKey), nil })
	if err != nil || parsed.Header["typ"] != "at+jwt" || c["iss"] != defaultIssuer {
		t.Fatalf("token %q (%s): %v, header %v, claims %v", tok, errOut, err, parsed.Header, c)
	}
	if code, _, errOut := sseRun(t, "publish", "--url", th.url, "--topic", "https://example.com/p", "--data", "secret", "--private", "--token", tok); code != 0 {
		t.Fatalf("publish with the token: exit %d, %s", code, errOut)
	}
	if code, _, errOut := sseRun(t, "publish", "--url", th.url, "--topic", "https://example.com/q", "--topic", "urn:other", "--data", "x", "--jwt-key", hubKey); code != 0 {
		t.Fatalf("publish --jwt-key: exit %d, %s", code, errOut)
	}
	if code, _, errOut := sseRun(t, "publish", "--url", th.url, "--topic", "https://example.com/q", "--data", "x", "--jwt-key", hubKey, "--protocol", "0"); code != 0 {
		t.Fatalf("publish --jwt-key --protocol 0: exit %d, %s", code, errOut)
	}
	// Another audience is refused.
	if code, _, errOut := sseRun(t, "publish", "--url", th.url, "--topic", "https://example.com/q", "--data", "x", "--jwt-key", hubKey, "--aud", "https://elsewhere/.well-known/mercure"); code != 1 || !strings.Contains(errOut, "401") {
		t.Fatalf("publish for another hub: exit %d, %s", code, errOut)
	}
}
