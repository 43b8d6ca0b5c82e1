package mercure

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestAdmit is issue 19 item 7's gate for the dashboard's stream: a
// subscriber token matching the resource is required when asked for, and
// the stream counts against the subscription limits.
func TestAdmit(t *testing.T) {
	p := hmacPair()
	e := newEnv(t, Options{Anonymous: true, MaxSubscriptionsPerClient: 1}, p, p)
	const res = "/dashboard/events"
	admit := func(token string, authorize bool) (*httptest.ResponseRecorder, func(), bool) {
		t.Helper()
		r := httptest.NewRequest("GET", res, nil)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		release, until, ok := e.h.Admit(w, r, res, authorize)
		if ok && token != "" && authorize && (until.Before(time.Now()) || until.After(time.Now().Add(2*time.Hour))) {
			t.Errorf("admitted until %v, want the token's expiry", until)
		}
		return w, release, ok
	}
	if w, _, ok := admit("", true); ok || w.Code != http.StatusUnauthorized {
		t.Fatalf("no token: admitted %v, %d; want 401", ok, w.Code)
	}
	if w, _, ok := admit(p.mint(t, subClaims("https://example.com/{x}"), nil), true); ok || w.Code != http.StatusForbidden {
		t.Fatalf("token for other topics: admitted %v, %d; want 403", ok, w.Code)
	}
	tok := p.mint(t, subClaims(res), jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()})
	_, release, ok := admit(tok, true)
	if !ok {
		t.Fatal("matching token refused")
	}
	if w, _, ok := admit(tok, true); ok || w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("a second stream beyond MaxSubscriptionsPerClient: admitted %v, %d; want 429", ok, w.Code)
	}
	release()
	_, release, ok = admit("", false)
	if !ok {
		t.Fatal("without authorization, after the first ended: refused")
	}
	release()
}

// TestAdmitAccessToken: the gate takes a Mercure 1.0 access token too
// (draft-dunglas-mercure-08, "Presenting the Access Token": the
// Authorization header or the access token cookie, never the query
// string), whose subscribe grant must match the resource; its refusals are
// the RFC 6750 challenges of 1.0 ("Error Responses"), with
// resource_metadata.
func TestAdmitAccessToken(t *testing.T) {
	p := hmacPair()
	e := newEnv1(t, Options{Anonymous: true}, p, p)
	const res = "/dashboard/events"
	admit := func(set func(r *http.Request)) (*httptest.ResponseRecorder, bool) {
		t.Helper()
		r := httptest.NewRequest("GET", e.srv.URL+res, nil)
		set(r)
		w := httptest.NewRecorder()
		release, until, ok := e.h.Admit(w, r, res, true)
		if ok {
			release()
			if until.Before(time.Now()) || until.After(time.Now().Add(2*time.Hour)) {
				t.Errorf("admitted until %v, want the token's expiry", until)
			}
		}
		return w, ok
	}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	challenge := func(w *httptest.ResponseRecorder) string { return w.Header().Get("WWW-Authenticate") }
	metadata := `resource_metadata="` + e.srv.URL + MetadataPathPrefix + Path + `"`

	if _, ok := admit(bearer(e.subToken(exactM(res)))); !ok {
		t.Error("an access token granting the resource: refused")
	}
	if _, ok := admit(bearer(e.subToken(exactM("*")))); !ok {
		t.Error("an access token granting *: refused")
	}
	if _, ok := admit(func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: DefaultAccessTokenCookie, Value: e.subToken(exactM(res))})
	}); !ok {
		t.Error("an access token in the cookie: refused")
	}
	if w, ok := admit(bearer(e.subToken(exactM("/dashboard/other")))); ok || w.Code != http.StatusForbidden ||
		!strings.Contains(challenge(w), `error="insufficient_scope"`) || !strings.Contains(challenge(w), metadata) {
		t.Errorf("a grant for another resource: admitted %v, %d %q; want 403 insufficient_scope with %s", ok, w.Code, challenge(w), metadata)
	}
	if w, ok := admit(bearer(e.pubToken(res))); ok || w.Code != http.StatusForbidden {
		t.Errorf("a publish grant only: admitted %v, %d; want 403", ok, w.Code)
	}
	other := e.sub.mintAccess(t, jwt.MapClaims{"iss": testIssuer, "aud": "https://elsewhere.example/.well-known/mercure",
		"exp": time.Now().Add(time.Hour).Unix(), "authorization_details": []any{grantJSON([]string{"subscribe"}, exactM(res))}}, nil)
	if w, ok := admit(bearer(other)); ok || w.Code != http.StatusUnauthorized || !strings.Contains(challenge(w), `error="invalid_token"`) {
		t.Errorf("a token for another hub: admitted %v, %d %q; want 401 invalid_token", ok, w.Code, challenge(w))
	}
	if w, ok := admit(func(r *http.Request) {}); ok || w.Code != http.StatusUnauthorized || challenge(w) != "Bearer "+metadata {
		t.Errorf("no token: admitted %v, %d %q; want 401 Bearer %s", ok, w.Code, challenge(w), metadata)
	}
	if w, ok := admit(func(r *http.Request) { r.URL.RawQuery = "access_token=" + e.subToken(exactM(res)) }); ok || w.Code/100 != 4 {
		t.Errorf("a token in the query string: admitted %v, %d; want a refusal", ok, w.Code)
	}
}
