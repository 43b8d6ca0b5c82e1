package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/mercure"
)

// The binary's wiring of two Mercure 1.0 flags: --protocol 1 makes 0.x
// requests get a 1.0 hub's answers, and --trusted-proxies lets a proxy
// name the origin the resource identifier is derived from (draft-dunglas-
// mercure-08, "Token Validation": aud is the hub's resource identifier).
func TestRunProtocolAndProxies(t *testing.T) {
	subTok := func(aud string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"iss": "https://localhost", "aud": aud, "sub": "t", "exp": time.Now().Add(time.Minute).Unix(),
			"authorization_details": []any{map[string]any{"type": mercure.AuthorizationDetailType, "actions": []string{"subscribe"}, "topics": []any{map[string]any{"match": "*"}}}},
		})
		tok.Header["typ"] = "at+jwt"
		s, err := tok.SignedString([]byte(testKey))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	c := newClient(t)
	// status answers a subscription request, without waiting for events.
	status := func(base, query, tok string, header ...string) (int, string) {
		t.Helper()
		r, err := http.NewRequestWithContext(t.Context(), "GET", base+mercure.Path+"?"+query, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		resp, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body []byte
		if resp.StatusCode != 200 {
			body, _ = io.ReadAll(resp.Body)
		}
		return resp.StatusCode, string(body)
	}
	forwarded := []string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "hub.example"}
	public := subTok("https://hub.example" + mercure.Path)

	only1 := startRun(t, "--jwt-key", testKey, "--jwt-issuer", "https://localhost", "--anonymous", "--protocol", "1")
	if code, body := status(only1.base, "topic=x", ""); code != 400 || !strings.HasPrefix(body, "match:") {
		t.Errorf("--protocol 1, topic=: %d %s, want 400 naming match", code, body)
	}
	// Without --trusted-proxies, the forwarded origin is not believed.
	if code, body := status(only1.base, "match=x", public, forwarded...); code != 401 {
		t.Errorf("untrusted proxy: a token for the forwarded origin: %d %s, want 401", code, body)
	}
	if code, body := status(only1.base, "match=x", subTok(only1.base+mercure.Path), forwarded...); code != 200 {
		t.Errorf("untrusted proxy: a token for the hub's own URL: %d %s, want 200", code, body)
	}

	both := startRun(t, "--jwt-key", testKey, "--jwt-issuer", "https://localhost", "--anonymous", "--trusted-proxies", "127.0.0.0/8,::1")
	if code, body := status(both.base, "topic=x", ""); code != 200 {
		t.Errorf("default protocols, topic=: %d %s, want a stream", code, body)
	}
	if code, body := status(both.base, "match=x", public, forwarded...); code != 200 {
		t.Errorf("trusted proxy: a token for the forwarded origin: %d %s, want 200", code, body)
	}
	if code, body := status(both.base, "match=x", subTok(both.base+mercure.Path), forwarded...); code != 401 {
		t.Errorf("trusted proxy: a token for the proxy's view: %d %s, want 401", code, body)
	}
}
