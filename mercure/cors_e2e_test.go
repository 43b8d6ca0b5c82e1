package mercure

import (
	"net/http"
	"strings"
	"testing"
)

func TestCORSEndToEnd(t *testing.T) {
	p := hmacPair()
	e := newEnv(t, Options{CORSOrigins: []string{"https://app.example.com"}}, p, p)

	// The preflight a page sends before publishing with fetch().
	r, err := http.NewRequest("OPTIONS", e.srv.URL+Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Origin", "https://app.example.com")
	r.Header.Set("Access-Control-Request-Method", "POST")
	r.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	resp, _ := e.do(r)
	h := resp.Header
	if resp.StatusCode != http.StatusNoContent ||
		h.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		h.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "authorization") ||
		!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "content-type") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, h)
	}

	// new EventSource(url, {withCredentials: true}) from the allowed page,
	// authorized by cookie.
	sr := e.subscribeReq("topic=x", "")
	sr.Header.Set("Origin", "https://app.example.com")
	sr.AddCookie(&http.Cookie{Name: DefaultCookieName, Value: p.mint(t, subClaims("x"), nil)})
	s := e.mustOpen(sr)
	if got := s.resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
		t.Fatalf("Access-Control-Allow-Origin = %q", got)
	}
	if s.resp.Header.Get("Access-Control-Allow-Credentials") != "true" || !strings.Contains(strings.Join(s.resp.Header.Values("Vary"), ","), "Origin") {
		t.Fatalf("headers %v", s.resp.Header)
	}
	e.publish(map[string][]string{"topic": {"x"}, "data": {"private hello"}, "private": {"on"}})
	if ev := s.next(); ev.Data != "private hello" {
		t.Fatalf("event %+v", ev)
	}

	// Another origin is never echoed.
	sr = e.subscribeReq("topic=x", p.mint(t, subClaims("x"), nil))
	sr.Header.Set("Origin", "https://evil.example")
	s = e.mustOpen(sr)
	if got := s.resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("foreign origin got Access-Control-Allow-Origin %q", got)
	}
	r.Header.Set("Origin", "https://evil.example")
	if resp, _ := e.do(r); resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign preflight: %d %v", resp.StatusCode, resp.Header)
	}
}
