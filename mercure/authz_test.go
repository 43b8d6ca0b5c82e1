package mercure

import (
	"crypto/elliptic"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestPublishAuthorizationMatrix(t *testing.T) {
	rsa, ec := rsaPair(t), ecPair(t, elliptic.P256(), "ES256")
	for _, p := range []keyPair{hmacPair(), rsa, ec} {
		t.Run(p.alg, func(t *testing.T) {
			// The subscriber key differs, so a subscriber's token must not
			// publish.
			subKey := keyPair{alg: "HS256", sign: []byte("subscriber secret"), verify: []byte("subscriber secret")}
			e := newEnv(t, Options{}, p, subKey).with(t)
			form := url.Values{"topic": {"https://example.com/books/1", "https://example.com/all-books"}, "data": {"x"}}.Encode()
			tests := []struct {
				name   string
				token  string
				status int
			}{
				{"no token", "", http.StatusUnauthorized},
				{"valid, all topics covered", p.mint(t, pubClaims("https://example.com/books/{id}", "https://example.com/all-books"), nil), http.StatusOK},
				{"valid, wildcard", p.mint(t, pubClaims("*"), nil), http.StatusOK},
				{"valid, one topic not covered", p.mint(t, pubClaims("https://example.com/books/{id}"), nil), http.StatusForbidden},
				{"valid, subscribe rights only", p.mint(t, subClaims("*"), nil), http.StatusForbidden},
				{"valid, no mercure claim", p.mint(t, nil, nil), http.StatusForbidden},
				{"subscriber's key", subKey.mint(t, pubClaims("*"), nil), http.StatusUnauthorized},
				{"alg none", noneToken(t), http.StatusUnauthorized},
				{"expired", p.mint(t, pubClaims("*"), expired()), http.StatusUnauthorized},
				{"not yet valid", p.mint(t, pubClaims("*"), notYet()), http.StatusUnauthorized},
				{"garbage", "not.a.token", http.StatusUnauthorized},
				{"tampered", tamper(p.mint(t, pubClaims("https://example.com/none"), nil)), http.StatusUnauthorized},
			}
			if p.alg == "HS256" {
				tests = append(tests, struct {
					name   string
					token  string
					status int
				}{"other HMAC algorithm", keyPair{alg: "HS512", sign: testHMACKey}.mint(t, pubClaims("*"), nil), http.StatusUnauthorized})
			} else {
				tests = append(tests, struct {
					name   string
					token  string
					status int
				}{"HS256 signed with the public key", keyPair{alg: "HS256", sign: p.verify}.mint(t, pubClaims("*"), nil), http.StatusUnauthorized})
			}
			for _, tt := range tests {
				resp, body := e.do(e.publishReq(form, tt.token))
				if resp.StatusCode != tt.status {
					t.Errorf("%s: status %d (%s), want %d", tt.name, resp.StatusCode, strings.TrimSpace(body), tt.status)
					continue
				}
				www := resp.Header.Get("WWW-Authenticate")
				switch tt.status {
				case http.StatusUnauthorized:
					if !strings.HasPrefix(www, "Bearer") {
						t.Errorf("%s: WWW-Authenticate = %q", tt.name, www)
					}
					if (tt.token == "") == strings.Contains(www, "error=") {
						t.Errorf("%s: WWW-Authenticate = %q: a missing token gets a bare challenge, a bad one invalid_token", tt.name, www)
					}
				case http.StatusForbidden:
					if !strings.Contains(www, "insufficient_scope") {
						t.Errorf("%s: WWW-Authenticate = %q", tt.name, www)
					}
				}
			}
		})
	}
}

// tamper widens a token's claims without re-signing it.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"mercure":{"publish":["*"]}}`))
	return strings.Join(parts, ".")
}

func TestSubscribeAuthorization(t *testing.T) {
	p := ecPair(t, elliptic.P256(), "ES256")
	strict := newEnv(t, Options{}, hmacPair(), p)
	open := newEnv(t, Options{Anonymous: true}, hmacPair(), p)
	tests := []struct {
		name   string
		e      *env
		token  string
		status int
	}{
		{"anonymous refused", strict, "", http.StatusUnauthorized},
		{"anonymous allowed", open, "", http.StatusOK},
		{"valid token", strict, p.mint(t, subClaims("x"), nil), http.StatusOK},
		{"token without claims", strict, p.mint(t, nil, nil), http.StatusOK},
		{"bad token on an anonymous hub", open, "a.b.c", http.StatusUnauthorized},
		{"expired token on an anonymous hub", open, p.mint(t, subClaims("*"), expired()), http.StatusUnauthorized},
		{"publisher's key", strict, hmacPair().mint(t, subClaims("*"), nil), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.e.with(t)
			s, resp, body := e.open(e.subscribeReq("topic=x", tt.token))
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tt.status)
			}
			if s != nil {
				s.close()
			} else if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}

	// The header wins over the query parameter and the cookie, even when
	// it is the invalid one.
	e := strict.with(t)
	r := e.subscribeReq("topic=x&authorization="+p.mint(t, subClaims("*"), nil), "bad")
	if _, resp, _ := e.open(r); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("invalid header with a valid query token: %d", resp.StatusCode)
	}
	r = e.subscribeReq("topic=x&authorization="+p.mint(t, subClaims("*"), nil), "")
	r.AddCookie(&http.Cookie{Name: DefaultCookieName, Value: "bad"})
	if s, resp, _ := e.open(r); resp.StatusCode != http.StatusOK {
		t.Fatalf("valid query token with an invalid cookie: %d", resp.StatusCode)
	} else {
		s.close()
	}
}

// TestCookiePublishNeedsAllowedOrigin: a browser sends the cookie along with
// any site's form post, so a cookie-authorized publish is accepted only from
// an origin listed explicitly; the wildcard "*" never vouches for a page
// (issue 19, item 2), or every site would publish as each of its visitors.
func TestCookiePublishNeedsAllowedOrigin(t *testing.T) {
	p := hmacPair()
	tok := p.mint(t, pubClaims("*"), nil)
	for _, origins := range [][]string{{"https://app.example.com"}, {"*", "https://app.example.com"}} {
		e := newEnv(t, Options{CORSOrigins: origins}, p, p)
		for _, tt := range []struct {
			name, origin, referer string
			status                int
		}{
			{"allowed origin", "https://app.example.com", "", http.StatusOK},
			{"allowed referer", "", "https://app.example.com/page?x=1", http.StatusOK},
			{"foreign origin", "https://evil.example", "", http.StatusUnauthorized},
			{"foreign referer", "", "https://evil.example/page", http.StatusUnauthorized},
			{"null origin", "null", "", http.StatusUnauthorized},
			{"foreign origin, allowed referer", "https://evil.example", "https://app.example.com/", http.StatusUnauthorized},
			{"neither", "", "", http.StatusUnauthorized},
		} {
			r := e.publishReq("topic=x&data=y", "")
			r.AddCookie(&http.Cookie{Name: DefaultCookieName, Value: tok})
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if tt.referer != "" {
				r.Header.Set("Referer", tt.referer)
			}
			if resp, body := e.do(r); resp.StatusCode != tt.status {
				t.Errorf("CORS origins %q, %s: %d (%s), want %d", origins, tt.name, resp.StatusCode, body, tt.status)
			}
		}
	}
}
