package mercure

import (
	"net/http"
	"net/http/httptest"
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
