package mercure

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Publish against the real handler, in both dialects: the ID the hub
// assigned comes back, and a subscriber gets the update under it (Mercure
// 1.0 and 0.x, "Publication": the hub answers 200 with the update's ID).
func TestPublishClient(t *testing.T) {
	e := newEnv1(t, Options{Anonymous: true}, hmacPair(), hmacPair())
	const topic = "https://example.com/books/1"
	s := e.mustOpen(e.subscribeReq("topic="+url.QueryEscape(topic), ""))
	e.waitDispatched()
	tokens := map[string]string{
		"0.x": e.pub.mint(t, pubClaims(topic), nil),
		"1.0": e.pubToken(topic),
	}
	for _, name := range []string{"0.x", "1.0"} {
		id, err := Publish(t.Context(), e.srv.Client(), e.srv.URL+Path, tokens[name], url.Values{"topic": {topic}, "data": {name}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ev := s.next(); ev.ID != id || ev.Data != name {
			t.Errorf("%s: Publish returned %q; the subscriber got id %q data %q", name, id, ev.ID, ev.Data)
		}
	}
	// The publisher's own ID is kept.
	if id, err := Publish(t.Context(), nil, e.srv.URL+Path, tokens["1.0"], url.Values{"topic": {topic}, "id": {"urn:mine"}, "data": {"x"}}); err != nil || id != "urn:mine" {
		t.Errorf("Publish with an id: %q, %v; want urn:mine", id, err)
	}
}

// A refusal is a *RefusedError carrying the status and the hub's reason,
// which names the field at fault, and unwraps to ErrRefused.
func TestPublishClientRefused(t *testing.T) {
	e := newEnv1(t, Options{}, hmacPair(), hmacPair())
	const topic = "https://example.com/books/1"
	for _, tt := range []struct {
		name, token string
		form        url.Values
		status      int
		reason      string
	}{
		{"no token", "", url.Values{"topic": {topic}}, http.StatusUnauthorized, "authorization: a token is required"},
		{"topic outside the token", e.pubToken("https://example.com/other"), url.Values{"topic": {topic}}, http.StatusForbidden, "authorization: topic"},
		{"no topic", e.pubToken(topic), url.Values{"data": {"x"}}, http.StatusBadRequest, "topic: missing"},
		{"bad id", e.pubToken(topic), url.Values{"topic": {topic}, "id": {"#fragment"}}, http.StatusBadRequest, "id"},
	} {
		id, err := Publish(t.Context(), e.srv.Client(), e.srv.URL+Path, tt.token, tt.form)
		re, ok := errors.AsType[*RefusedError](err)
		switch {
		case id != "" || !ok:
			t.Errorf("%s: %q, %v; want a *RefusedError", tt.name, id, err)
		case !errors.Is(err, ErrRefused):
			t.Errorf("%s: %v does not unwrap to ErrRefused", tt.name, err)
		case re.StatusCode != tt.status || !strings.HasPrefix(re.Reason, tt.reason):
			t.Errorf("%s: %d %q; want %d and a reason starting %q", tt.name, re.StatusCode, re.Reason, tt.status, tt.reason)
		case err.Error() != re.Status+": "+re.Reason:
			t.Errorf("%s: Error() = %q; want the status and the reason", tt.name, err)
		}
	}
}

// Answers that are no update ID are errors, never an empty or a partial
// ID; a refusal without a body still says so.
func TestPublishClientOddAnswers(t *testing.T) {
	for _, tt := range []struct {
		name    string
		handler http.HandlerFunc
		want    string
		refused bool
	}{
		{"200 without a body", func(w http.ResponseWriter, r *http.Request) {}, "the hub answered 200 without an update ID", false},
		{"503 without a body", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }, "503 Service Unavailable: (no message)", true},
		{"200 cut short", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			w.Write([]byte("urn:partial"))
		}, "reading the hub's answer: unexpected EOF", false},
	} {
		srv := httptest.NewServer(tt.handler)
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		id, err := Publish(ctx, srv.Client(), srv.URL, "tok", url.Values{"topic": {"t"}})
		cancel()
		srv.Close()
		if id != "" || err == nil || err.Error() != tt.want || errors.Is(err, ErrRefused) != tt.refused {
			t.Errorf("%s: %q, %v; want %q (refused: %v)", tt.name, id, err, tt.want, tt.refused)
		}
	}
}

// A token of NewAccessToken for DefaultResourceID of any URL of the hub,
// with the grants of Matchers, is one the hub takes (Mercure 1.0,
// "Token Validation": aud holds the hub's resource identifier).
func TestPublishClientAccessToken(t *testing.T) {
	e := newEnv1(t, Options{}, hmacPair(), hmacPair())
	u, err := url.Parse(e.srv.URL + "/elsewhere?q=1")
	if err != nil {
		t.Fatal(err)
	}
	if got := DefaultResourceID(u); got != e.resource() {
		t.Fatalf("DefaultResourceID(%s) = %q, want %q", u, got, e.resource())
	}
	tok, err := NewAccessToken(testHMACKey, AccessToken{Issuer: testIssuer, Audience: []string{DefaultResourceID(u)},
		Publish: Matchers([]string{"https://example.com/a"}, []string{"https://example.com/books/:id"})}, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for topic, ok := range map[string]bool{"https://example.com/a": true, "https://example.com/books/1": true, "https://example.com/b": false} {
		_, err := Publish(t.Context(), e.srv.Client(), e.srv.URL+Path, tok, url.Values{"topic": {topic}})
		if (err == nil) != ok {
			t.Errorf("publish to %s: %v, want allowed %v", topic, err, ok)
		}
	}
}
