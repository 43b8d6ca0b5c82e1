package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/cmd/ssehub/ssehubtest"
	"github.com/ssehub/ssehub/internal/browsertest"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/sse"
)

// conformanceKey is the HMAC key of the Mercure project's conformance
// suites (conformance-tests/ of dunglas/mercure at v0.24.2 and
// v1.0.0-alpha.3), whose cases these tests replay in Go.
const conformanceKey = "!ChangeThisMercureHubJWTSecretKey!"

// conformanceArgs run the hub as the 1.0 suite expects, which the 0.x
// suite must pass too (issue 14: one binary, the same flags).
func conformanceArgs(t *testing.T) []string {
	return []string{"--addr", "127.0.0.1:0", "--jwt-key", conformanceKey, "--jwt-issuer", "https://localhost",
		"--resource-identifier", "https://localhost/.well-known/mercure", "--anonymous", "--data", t.TempDir(), "--demo=false"}
}

// conformanceTokens are tokens with the claims the suites use: the 0.x
// mercure claim, and the 1.0 access token of issuer https://localhost for
// audience https://localhost/.well-known/mercure.
func conformanceTokens(t *testing.T) (v0, v1 string) {
	t.Helper()
	v0, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"mercure": map[string]any{"publish": []string{"*"}, "subscribe": []string{"*"}},
	}).SignedString([]byte(conformanceKey))
	if err != nil {
		t.Fatal(err)
	}
	grant := func(action string) map[string]any {
		return map[string]any{"type": mercure.AuthorizationDetailType, "actions": []string{action}, "topics": []any{map[string]any{"match": "*"}}}
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"aud": "https://localhost/.well-known/mercure", "iss": "https://localhost",
		"authorization_details": []any{grant("publish"), grant("subscribe")},
		"exp":                   4102444800,
	})
	tok.Header["typ"] = "at+jwt"
	if v1, err = tok.SignedString([]byte(conformanceKey)); err != nil {
		t.Fatal(err)
	}
	return v0, v1
}

// conformanceCase is one case of the suites: an update published with the
// suite's token and a subscriber's selectors.
type conformanceCase struct {
	name      string
	topics    []string // the update's
	selectors []string // the subscriber's
	received  bool
	private   bool
}

func conformanceCases(dialect string) []conformanceCase {
	r := make([]string, 6)
	for i := range r {
		b := make([]byte, 20)
		rand.Read(b)
		r[i] = hex.EncodeToString(b)
	}
	pattern, nomatch := "https://example.net/foo/:random", "https://example.net/bar/:var"
	if dialect == "0.x" {
		pattern, nomatch = "https://example.net/foo/{random}", "https://example.net/bar/{var}"
	}
	return []conformanceCase{
		{name: "raw string", topics: []string{r[0]}, selectors: []string{r[0]}, received: true},
		{name: "multiple topics", topics: []string{r[5], r[1]}, selectors: []string{r[1]}, received: true},
		{name: "multiple topic selectors", topics: []string{r[2]}, selectors: []string{"foo", r[2]}, received: true},
		{name: "URI", topics: []string{"https://example.net/foo/" + r[3]}, selectors: []string{"https://example.net/foo/" + r[3]}, received: true},
		{name: "pattern", topics: []string{"https://example.net/foo/" + r[4]}, selectors: []string{pattern}, received: true},
		{name: "nonmatching raw string", topics: []string{"will-not-match"}, selectors: []string{"another-name"}},
		{name: "nonmatching URI", topics: []string{"https://example.net/foo/will-not-match"}, selectors: []string{"https://example.net/foo/another-name"}},
		{name: "nonmatching pattern", topics: []string{"https://example.net/foo/will-not-match"}, selectors: []string{nomatch}},
		{name: "private raw string", topics: []string{r[0]}, selectors: []string{r[0]}, private: true},
		{name: "private URI", topics: []string{"https://example.net/foo/" + r[3]}, selectors: []string{"https://example.net/foo/" + r[3]}, private: true},
		{name: "private pattern", topics: []string{"https://example.net/foo/" + r[4]}, selectors: []string{pattern}, private: true},
	}
}

// TestBinaryConformanceCases replays the cases of the Mercure project's
// conformance suites, 0.x (v0.24.2) and 1.0 (v1.0.0-alpha.3), against one
// binary run with the flags of the 1.0 suite: an anonymous subscriber opens
// a stream, a publisher posts the update with the suite's token, a client
// ID and multi-line data, and the update arrives (with the ID as the
// publish answer) or, for the private and non-matching cases, does not.
// Not arriving is told by a marker published after it on a topic the
// subscriber also listens to: the hub keeps publication order.
func TestBinaryConformanceCases(t *testing.T) {
	p := ssehubtest.Start(t, nil, conformanceArgs(t)...)
	c := newClient(t)
	v0, v1 := conformanceTokens(t)
	for _, dialect := range []string{"0.x", "1.0"} {
		tok := v0
		if dialect == "1.0" {
			tok = v1
		}
		for i, tc := range conformanceCases(dialect) {
			t.Run(dialect+"/"+tc.name, func(t *testing.T) {
				marker := fmt.Sprintf("marker-%s-%d", dialect, i)
				q := url.Values{}
				for _, s := range append(tc.selectors, marker) {
					name := "topic"
					if dialect == "1.0" {
						name = "match"
						if strings.Contains(s, "/:") {
							name = "match_urlpattern"
						}
					}
					q.Add(name, s)
				}
				ctx, cancel := context.WithTimeout(context.Background(), waitLong)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+mercure.Path+"?"+q.Encode(), nil)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("subscribe: %d", resp.StatusCode)
				}
				events := make(chan sse.Event, 4)
				go func() {
					defer close(events)
					for ev, err := range sse.Events(resp.Body) {
						if err != nil {
							return
						}
						events <- ev
					}
				}()
				topicsJSON, _ := json.Marshal(tc.topics)
				id := "id-" + string(topicsJSON)
				data := "data for\n\n        " + tc.name
				form := url.Values{"topic": tc.topics, "id": {id}, "data": {data}}
				if tc.private {
					form.Set("private", "on")
				}
				code, body := post(t, c, p.URL, tok, form)
				if code != http.StatusOK || body != id {
					t.Fatalf("publish: %d %q, want 200 and the ID %q", code, body, id)
				}
				mustPublish(t, c, p.URL, tok, url.Values{"topic": {marker}, "data": {"marker"}})
				select {
				case ev := <-events:
					got := ev.ID == id && ev.Data == data && (ev.Type == "" || ev.Type == "message")
					if got != tc.received {
						t.Fatalf("first event %+v; want the update: %v", ev, tc.received)
					}
				case <-ctx.Done():
					t.Fatal("no event in time")
				}
			})
		}
	}
}

// conformancePage runs one case the way the suites' page does: an
// EventSource on the page's origin without credentials, and, once it is
// open, a fetch POST of the update with the suite's bearer token; it
// resolves to whether the update arrived before the marker published after
// it, and to the publish answer.
const conformancePage = `(async (c) => {
	const url = new URL('/.well-known/mercure', location.origin);
	for (const [name, value] of c.params) url.searchParams.append(name, value);
	const es = new EventSource(url);
	let got = null;
	const done = new Promise((resolve) => {
		es.onmessage = (e) => {
			if (e.lastEventId === c.id && e.data === c.data) got = true;
			if (e.data === 'marker') { es.close(); resolve(got === true); }
		};
	});
	await new Promise((resolve, reject) => { es.onopen = resolve; setTimeout(reject, 5000, 'no open'); });
	const post = async (form) => {
		const r = await fetch('/.well-known/mercure', { method: 'POST', headers: { Authorization: 'Bearer ' + c.token }, body: form });
		return { status: r.status, type: r.headers.get('Content-Type'), body: await r.text() };
	};
	const form = new URLSearchParams();
	for (const t of c.topics) form.append('topic', t);
	form.set('id', c.id);
	form.set('data', c.data);
	if (c.private) form.set('private', 'on');
	const answer = await post(form);
	await post(new URLSearchParams({ topic: c.marker, data: 'marker' }));
	return { received: await done, ...answer };
})(%s)`

// TestBrowserConformanceCases replays the cases of the Mercure project's
// conformance suites (0.x at v0.24.2, 1.0 at v1.0.0-alpha.3) in real
// Chromium against one hub run as the 1.0 suite runs it, over HTTPS: an
// EventSource subscribes, the page publishes with fetch, and the update
// arrives, or does not for the private and non-matching cases.
func TestBrowserConformanceCases(t *testing.T) {
	browsertest.Chromium(t)
	dir := t.TempDir()
	r := startRun(t, "--data", dir, "--jwt-key", conformanceKey, "--jwt-issuer", "https://localhost",
		"--resource-identifier", "https://localhost/.well-known/mercure", "--anonymous", "--tls-self-signed", "--demo=false")
	leaf := selfSignedLeaf(t, dir)
	ctx := browsertest.New(t, chromedp.Flag("ignore-certificate-errors-spki-list", spkiHash(leaf)))
	do(t, ctx, "open the hub's origin", chromedp.Navigate(r.base+"/"))
	v0, v1 := conformanceTokens(t)
	for _, dialect := range []string{"0.x", "1.0"} {
		tok := v0
		if dialect == "1.0" {
			tok = v1
		}
		for i, tc := range conformanceCases(dialect) {
			params := [][2]string{}
			marker := fmt.Sprintf("marker-%s-%d", dialect, i)
			for _, s := range append(tc.selectors, marker) {
				name := "topic"
				if dialect == "1.0" {
					name = "match"
					if strings.Contains(s, "/:") {
						name = "match_urlpattern"
					}
				}
				params = append(params, [2]string{name, s})
			}
			topicsJSON, _ := json.Marshal(tc.topics)
			c := map[string]any{
				"params": params, "topics": tc.topics, "id": "id-" + string(topicsJSON), "data": "data for\n\n        " + tc.name,
				"private": tc.private, "token": tok, "marker": marker,
			}
			arg, _ := json.Marshal(c)
			tctx, cancel := context.WithTimeout(ctx, waitLong)
			res, err := chromedp.Run(tctx, chromedp.Evaluate[struct {
				Received bool
				Status   int
				Type     string
				Body     string
			}](fmt.Sprintf(conformancePage, arg), chromedp.EvalAwaitPromise))
			cancel()
			switch {
			case err != nil:
				t.Errorf("%s %s: %v", dialect, tc.name, err)
			case res.Received != tc.received:
				t.Errorf("%s %s: received %v, want %v", dialect, tc.name, res.Received, tc.received)
			case res.Status != 200 || !strings.HasPrefix(res.Type, "text/plain") || res.Body != c["id"]:
				t.Errorf("%s %s: publish answered %d %q %q, want 200 text/plain and the ID", dialect, tc.name, res.Status, res.Type, res.Body)
			}
		}
	}
}
