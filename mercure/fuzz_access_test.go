package mercure

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// FuzzAuthorizationDetails feeds arbitrary JSON to the authorization_details
// parser (RFC 9396; Mercure 1.0, "Authorization Details"): it never panics,
// and what it accepts is well formed: every grant has topics, each a
// known kind with a non-empty value within the bounds, and a payload is an
// object. A claim it accepts is accepted again when re-encoded from the
// grants, so nothing is lost or invented.
func FuzzAuthorizationDetails(f *testing.F) {
	for _, s := range []string{
		`[{"type":"https://mercure.rocks/authorization-detail","actions":["publish","subscribe"],"topics":[{"match":"*"}]}]`,
		`[{"type":"https://mercure.rocks/authorization-detail","actions":["subscribe"],"topics":[{"match":"https://example.com/:id","match_type":"urlpattern"}],"payload":{"a":1}}]`,
		`[{"type":"other"},{"type":"https://mercure.rocks/authorization-detail","actions":["x"],"topics":[{"match":"a","match_type":"exact"}]}]`,
		`[{"type":"https://mercure.rocks/authorization-detail","actions":[1],"topics":[{"match":"a"}]}]`,
		`[{"type":"https://mercure.rocks/authorization-detail","actions":["publish"],"topics":["a"]}]`,
		`[{"type":"https://mercure.rocks/authorization-detail","actions":["publish"],"topics":[{"match":"(a","match_type":"urlpattern"}]}]`,
		`[null]`, `null`, `{}`, `[]`, `"x"`, `[{"type":null}]`,
		`[{"type":"https://mercure.rocks/authorization-detail","actions":["publish"],"topics":[{"match":"a"}],"payload":null}]`,
	} {
		f.Add(s)
	}
	hb, err := hub.New(hub.Options{Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { hb.Close(context.Background()) })
	f.Fuzz(func(t *testing.T, raw string) {
		if !json.Valid([]byte(raw)) {
			return // the JWT parser has decoded the claims already
		}
		grants, err := parseAuthorizationDetails(json.RawMessage(raw), hb.CheckSelector)
		if err != nil {
			return
		}
		for _, g := range grants {
			if len(g.topics) == 0 || len(g.topics) > maxDetailTopics {
				t.Fatalf("accepted a grant with %d topics: %s", len(g.topics), raw)
			}
			for _, s := range g.topics {
				if s.Text == "" || len(s.Text) > maxMatcherLen || s.Syntax != hub.SyntaxExact && s.Syntax != hub.SyntaxURLPattern {
					t.Fatalf("accepted matcher %+v: %s", s, raw)
				}
				if s.Syntax == hub.SyntaxURLPattern && hb.CheckSelector(s) != nil {
					t.Fatalf("accepted a pattern that does not compile: %q", s.Text)
				}
			}
			if g.payload != nil && !isJSON(g.payload, '{') {
				t.Fatalf("accepted payload %s", g.payload)
			}
		}
		// Re-encode what was understood: it must read back the same.
		out := []map[string]any{}
		for _, g := range grants {
			var actions []string
			if g.publish {
				actions = append(actions, "publish")
			}
			if g.subscribe {
				actions = append(actions, "subscribe")
			}
			if actions == nil {
				actions = []string{"other"}
			}
			var ts []map[string]any
			for _, s := range g.topics {
				ts = append(ts, map[string]any{"match": s.Text, "match_type": s.Syntax})
			}
			d := map[string]any{"type": AuthorizationDetailType, "actions": actions, "topics": ts}
			if g.payload != nil {
				d["payload"] = g.payload
			}
			out = append(out, d)
		}
		b, _ := json.Marshal(out)
		again, err := parseAuthorizationDetails(b, hb.CheckSelector)
		if err != nil || len(again) != len(grants) {
			t.Fatalf("re-encoded grants %s do not read back: %v", b, err)
		}
	})
}

// FuzzSubscribeQuery sends QUERY requests with arbitrary query strings and
// form bodies (Mercure 1.0, "Subscription"): the answer is a stream, a 400
// naming a parameter, or a 413, never a panic or a hang.
func FuzzSubscribeQuery(f *testing.F) {
	for _, s := range [][2]string{
		{"match=a", "match_urlpattern=https%3A%2F%2Fexample.com%2F%3Aid&last_event_id=earliest"},
		{"", "match=a&match=b"},
		{"last_event_id=x", "Match=a"},
		{"match=a%00", ""},
		{"topic=a", "match=b"},
		{"", "%zz"},
		{"match=a;b", "match=c"},
	} {
		f.Add(s[0], s[1])
	}
	hb, err := hub.New(hub.Options{Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { hb.Close(context.Background()) })
	h, err := New(Options{Hub: hb, PublisherKey: testHMACKey, Anonymous: true, Logger: quietLogger(), Heartbeat: -1, MaxBodyBytes: 4 << 10, NoHijack: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, query, body string) {
		if _, err := url.ParseRequestURI(Path + "?" + query); err != nil || strings.ContainsAny(query, " #") {
			return // not a request target
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		r := httptest.NewRequestWithContext(ctx, methodQuery, Path+"?"+query, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.ServeHTTP(w, r)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("QUERY %q %q: no answer", query, body)
		}
		switch w.Code {
		case http.StatusOK:
			if w.Header().Get("Content-Type") != "text/event-stream" {
				t.Fatalf("200 without a stream: %v", w.Header())
			}
		case http.StatusBadRequest:
			// "name: reason", the name being whatever the client sent.
			if msg := w.Body.String(); !strings.Contains(msg, ": ") {
				t.Fatalf("400 %q names no parameter", msg)
			}
		case http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("QUERY %q %q: %d %s", query, body, w.Code, w.Body)
		}
	})
}
