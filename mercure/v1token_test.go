package mercure

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/hub"
)

// Mercure 1.0 (draft-dunglas-mercure-08), "Token Validation", "Error
// Responses" and "Publishers": which access tokens may publish.
func TestAccessTokenValidation(t *testing.T) {
	pub, other := hmacPair(), rsaPair(t)
	e := newEnv1(t, Options{Issuers: []Issuer{{ID: "https://other.example", PublisherKey: other.verify, Algorithm: "RS256"}}}, pub, hmacPair())
	all := grantJSON([]string{"publish"}, exactM("*"))
	with := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := e.access(all)
		edit(c)
		return c
	}
	const form = "topic=https://example.com/a&data=x"
	for _, tc := range []struct {
		name   string
		token  string
		status int
		code   string
	}{
		{"valid", pub.mintAccess(t, e.access(all), nil), 200, ""},
		{"typ application/AT+JWT", pub.mintAccess(t, e.access(all), map[string]any{"typ": "application/AT+JWT"}), 200, ""},
		{"aud an array holding the hub", pub.mintAccess(t, with(func(c jwt.MapClaims) { c["aud"] = []string{"https://x", e.resource()} }), nil), 200, ""},
		{"nbf past", pub.mintAccess(t, with(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(-time.Minute).Unix() }), nil), 200, ""},
		{"no token", "", 401, ""},
		{"untrusted iss", pub.mintAccess(t, with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }), nil), 401, "invalid_token"},
		{"no iss", pub.mintAccess(t, with(func(c jwt.MapClaims) { delete(c, "iss") }), nil), 401, "invalid_token"},
		{"another hub's aud", pub.mintAccess(t, with(func(c jwt.MapClaims) { c["aud"] = "https://other-hub/.well-known/mercure" }), nil), 401, "invalid_token"},
		{"no aud", pub.mintAccess(t, with(func(c jwt.MapClaims) { delete(c, "aud") }), nil), 401, "invalid_token"},
		{"no exp", pub.mintAccess(t, with(func(c jwt.MapClaims) { delete(c, "exp") }), nil), 401, "invalid_token"},
		{"expired", pub.mintAccess(t, with(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), nil), 401, "invalid_token"},
		{"nbf future", pub.mintAccess(t, with(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() }), nil), 401, "invalid_token"},
		{"alg not pinned (HS384)", keyPair{alg: "HS384", sign: testHMACKey}.mintAccess(t, e.access(all), nil), 401, "invalid_token"},
		{"jwk in the header", pub.mintAccess(t, e.access(all), map[string]any{"jwk": map[string]any{"kty": "oct", "k": "eA"}}), 401, "invalid_token"},
		{"jku in the header", pub.mintAccess(t, e.access(all), map[string]any{"jku": "https://evil.example/jwks"}), 401, "invalid_token"},
		{"x5u in the header", pub.mintAccess(t, e.access(all), map[string]any{"x5u": "https://evil.example/cert.pem"}), 401, "invalid_token"},
		{"x5c in the header", pub.mintAccess(t, e.access(all), map[string]any{"x5c": []string{"MIIB"}}), 401, "invalid_token"},
		// Another trusted issuer's key does not verify this issuer's
		// tokens, nor the reverse.
		{"signed by another trusted issuer", other.mintAccess(t, e.access(all), nil), 401, "invalid_token"},
		{"other issuer, own key", other.mintAccess(t, with(func(c jwt.MapClaims) { c["iss"] = "https://other.example" }), nil), 200, ""},
		{"other issuer, this issuer's key", pub.mintAccess(t, with(func(c jwt.MapClaims) { c["iss"] = "https://other.example" }), nil), 401, "invalid_token"},
		{"garbage", "not.a.token", 401, "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.do(e.publishReq(form, tc.token))
			if tc.status == 200 {
				if resp.StatusCode != 200 {
					t.Fatalf("status %d %s, want 200", resp.StatusCode, body)
				}
				return
			}
			e.wantChallenge(t, tc.name, resp, body, tc.status, tc.code)
		})
	}
	// Not an access token: read as a Mercure 0.x token, which has no
	// mercure claim and so grants nothing (TestOnly1 has the 1.0-only
	// hub's 401).
	for _, typ := range []any{"JWT", nil} {
		resp, body := e.do(e.publishReq(form, pub.mintAccess(t, e.access(all), map[string]any{"typ": typ})))
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("typ %v: %d %s, want 403", typ, resp.StatusCode, body)
		}
	}
	// alg none, unsigned.
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, e.access(all)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	none = strings.Replace(none, strings.Split(none, ".")[0], strings.Split(pub.mintAccess(t, e.access(all), map[string]any{"alg": "none"}), ".")[0], 1)
	resp, body := e.do(e.publishReq(form, none))
	e.wantChallenge(t, "alg none", resp, body, 401, "invalid_token")
}

// Mercure 1.0, "Authorization Details", "Topic Matcher List" and
// "Publishers": how the grants are read and applied to a publish.
func TestAccessTokenGrants(t *testing.T) {
	pub := hmacPair()
	e := newEnv1(t, Options{}, pub, hmacPair())
	tok := func(details ...any) string {
		c := e.access()
		c["authorization_details"] = details
		if details == nil {
			delete(c, "authorization_details")
		}
		return pub.mintAccess(t, c, nil)
	}
	const (
		a = "https://example.com/books/1"
		b = "https://example.com/authors/1"
	)
	other := map[string]any{"type": "https://api.example/read", "whatever": []int{1}}
	for _, tc := range []struct {
		name   string
		token  string
		topics []string
		status int
		code   string
	}{
		{"exact", tok(grantJSON([]string{"publish"}, exactM(a))), []string{a}, 200, ""},
		{"match_type exact", tok(grantJSON([]string{"publish"}, map[string]any{"match": a, "match_type": "exact"})), []string{a}, 200, ""},
		{"urlpattern", tok(grantJSON([]string{"publish"}, patternM("https://example.com/books/:id"))), []string{a}, 200, ""},
		{"* whatever the match_type", tok(grantJSON([]string{"publish"}, patternM("*"))), []string{a, b}, 200, ""},
		{"other types ignored", tok(other, grantJSON([]string{"publish"}, exactM(a))), []string{a}, 200, ""},
		{"unknown actions ignored", tok(grantJSON([]string{"publish", "delete"}, exactM(a))), []string{a}, 200, ""},
		{"payload object", tok(map[string]any{"type": AuthorizationDetailType, "actions": []string{"publish"}, "topics": []any{exactM(a)}, "payload": map[string]any{"x": 1}}), []string{a}, 200, ""},
		// A grant on every topic, canonical and alternate, or nothing.
		{"alternate not granted", tok(grantJSON([]string{"publish"}, exactM(a))), []string{a, b}, 403, "insufficient_scope"},
		{"subscribe is not publish", tok(grantJSON([]string{"subscribe"}, exactM("*"))), []string{a}, 403, "insufficient_scope"},
		{"only unknown actions", tok(grantJSON([]string{"read"}, exactM("*"))), []string{a}, 403, "insufficient_scope"},
		{"exact is byte for byte", tok(grantJSON([]string{"publish"}, exactM("https://example.com/books/{id}"))), []string{a}, 403, "insufficient_scope"},
		{"no details", tok(), []string{a}, 403, "insufficient_scope"},
		{"only other types", tok(other), []string{a}, 403, "insufficient_scope"},
		// One malformed Mercure entry invalidates the whole token.
		{"bad entry beside a good one", tok(grantJSON([]string{"publish"}, exactM("*")), map[string]any{"type": AuthorizationDetailType, "actions": []any{1}, "topics": []any{exactM(a)}}), []string{a}, 401, "invalid_token"},
		{"actions empty", tok(map[string]any{"type": AuthorizationDetailType, "actions": []string{}, "topics": []any{exactM(a)}}), []string{a}, 401, "invalid_token"},
		{"actions missing", tok(map[string]any{"type": AuthorizationDetailType, "topics": []any{exactM(a)}}), []string{a}, 401, "invalid_token"},
		{"topics empty", tok(map[string]any{"type": AuthorizationDetailType, "actions": []string{"publish"}, "topics": []any{}}), []string{a}, 401, "invalid_token"},
		{"topic a bare string", tok(map[string]any{"type": AuthorizationDetailType, "actions": []string{"publish"}, "topics": []any{a}}), []string{a}, 401, "invalid_token"},
		{"topic null", tok(map[string]any{"type": AuthorizationDetailType, "actions": []string{"publish"}, "topics": []any{nil}}), []string{a}, 401, "invalid_token"},
		{"match empty", tok(grantJSON([]string{"publish"}, exactM(""))), []string{a}, 401, "invalid_token"},
		{"match not a string", tok(grantJSON([]string{"publish"}, map[string]any{"match": 3})), []string{a}, 401, "invalid_token"},
		{"unknown match_type", tok(grantJSON([]string{"publish"}, map[string]any{"match": a, "match_type": "template"})), []string{a}, 401, "invalid_token"},
		{"match_type case", tok(grantJSON([]string{"publish"}, map[string]any{"match": a, "match_type": "URLPattern"})), []string{a}, 401, "invalid_token"},
		{"broken pattern", tok(grantJSON([]string{"publish"}, patternM("https://example.com/(a"))), []string{a}, 401, "invalid_token"},
		{"payload not an object", tok(map[string]any{"type": AuthorizationDetailType, "actions": []string{"publish"}, "topics": []any{exactM(a)}, "payload": "x"}), []string{a}, 401, "invalid_token"},
		{"entry not an object", tok("x"), []string{a}, 401, "invalid_token"},
		{"type not a string", tok(map[string]any{"type": 1}), []string{a}, 401, "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"topic": tc.topics, "data": {"x"}}
			resp, body := e.do(e.publishReq(form.Encode(), tc.token))
			if tc.status == 200 {
				if resp.StatusCode != 200 {
					t.Fatalf("status %d %s, want 200", resp.StatusCode, body)
				}
				return
			}
			e.wantChallenge(t, tc.name, resp, body, tc.status, tc.code)
		})
	}
	// authorization_details not an array at all.
	for _, v := range []any{map[string]any{"type": AuthorizationDetailType}, nil, "x"} {
		c := e.access()
		c["authorization_details"] = v
		resp, body := e.do(e.publishReq("topic=x", pub.mintAccess(t, c, nil)))
		e.wantChallenge(t, fmt.Sprintf("details %v", v), resp, body, 401, "invalid_token")
	}
}

// Mercure 1.0, "Presenting the Access Token" and "Cookie".
func TestAccessTokenPresentation(t *testing.T) {
	pub := hmacPair()
	e := newEnv1(t, Options{CORSOrigins: []string{"https://app.example"}}, pub, hmacPair())
	good := e.pubToken("*")
	req := func(edit func(*http.Request)) *http.Request {
		r := e.publishReq("topic=x&data=y", "")
		edit(r)
		return r
	}
	cookie := func(name, v string) func(*http.Request) {
		return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: name, Value: v}) }
	}
	both := func(fs ...func(*http.Request)) func(*http.Request) {
		return func(r *http.Request) {
			for _, f := range fs {
				f(r)
			}
		}
	}
	origin := func(o string) func(*http.Request) { return func(r *http.Request) { r.Header.Set("Origin", o) } }
	header := func(v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set("Authorization", v) } }
	for _, tc := range []struct {
		name   string
		r      *http.Request
		status int
		code   string
	}{
		{"bearer, any case", req(header("bEaReR " + good)), 200, ""},
		{"cookie from an allowed origin", req(both(cookie(DefaultAccessTokenCookie, good), origin("https://app.example"))), 200, ""},
		{"cookie, allowed Referer", req(both(cookie(DefaultAccessTokenCookie, good), func(r *http.Request) { r.Header.Set("Referer", "https://app.example/page") })), 200, ""},
		// The header wins; the cookie beside it is ignored.
		{"header beside a bad cookie", req(both(header("Bearer "+good), cookie(DefaultAccessTokenCookie, "garbage"))), 200, ""},
		{"cookie without Origin", req(cookie(DefaultAccessTokenCookie, good)), 400, "invalid_request"},
		{"cookie from another origin", req(both(cookie(DefaultAccessTokenCookie, good), origin("https://evil.example"))), 400, "invalid_request"},
		{"malformed header", req(header("Basic " + good)), 400, "invalid_request"},
		{"empty bearer", req(header("Bearer ")), 400, "invalid_request"},
		{"bad header beside a good cookie", req(both(header("Bearer garbage"), cookie(DefaultAccessTokenCookie, good), origin("https://app.example"))), 401, "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.do(tc.r)
			if tc.status == 200 {
				if resp.StatusCode != 200 {
					t.Fatalf("status %d %s, want 200", resp.StatusCode, body)
				}
				return
			}
			e.wantChallenge(t, tc.name, resp, body, tc.status, tc.code)
		})
	}

	// Subscribing: no token in the query string in 1.0 (RFC 9700).
	for _, q := range []string{"access_token", "authorization"} {
		resp, body := e.do(e.subscribeReq("match=x&"+q+"="+good, ""))
		e.wantChallenge(t, "query "+q, resp, body, 400, "invalid_request")
	}
	// The cookie carries a subscriber's token: its private updates arrive.
	r := e.subscribeReq("match=https://example.com/p", "")
	r.AddCookie(&http.Cookie{Name: DefaultAccessTokenCookie, Value: e.subToken(exactM("https://example.com/p"))})
	s := e.mustOpen(r)
	e.publish1("topic=https://example.com/p&data=secret&private=on")
	if ev := s.next(); ev.Data != "secret" {
		t.Fatalf("cookie subscriber got %q, want the private update", ev.Data)
	}
}

// The cookie name is configurable: browsers refuse __Secure- cookies on
// plain HTTP.
func TestAccessTokenCookieName(t *testing.T) {
	e := newEnv1(t, Options{AccessTokenCookie: "mercure_access_token", CORSOrigins: []string{"https://app.example"}}, hmacPair(), hmacPair())
	r := e.publishReq("topic=x", "")
	r.Header.Set("Origin", "https://app.example")
	r.AddCookie(&http.Cookie{Name: "mercure_access_token", Value: e.pubToken("*")})
	if resp, body := e.do(r); resp.StatusCode != 200 {
		t.Fatalf("publish with the configured cookie: %d %s", resp.StatusCode, body)
	}
	r = e.publishReq("topic=x", "")
	r.Header.Set("Origin", "https://app.example")
	r.AddCookie(&http.Cookie{Name: DefaultAccessTokenCookie, Value: e.pubToken("*")})
	resp, body := e.do(r)
	e.wantChallenge(t, "default cookie name when another is configured", resp, body, 401, "")
}

// An issuer without a subscriber key verifies no subscriber token.
func TestAccessTokenRoles(t *testing.T) {
	pub, sub := hmacPair(), keyPair{alg: "HS256", sign: []byte("another secret of at least 32 bytes!"), verify: []byte("another secret of at least 32 bytes!")}
	e := newEnv1(t, Options{Anonymous: true}, pub, sub)
	// A subscriber token signed with the publisher key is refused.
	wrong := pub.mintAccess(t, e.access(grantJSON([]string{"subscribe"}, exactM("*"))), nil)
	resp, body := e.do(e.subscribeReq("match=x", wrong))
	e.wantChallenge(t, "subscriber token with the publisher key", resp, body, 401, "invalid_token")
	// And a publisher token signed with the subscriber key.
	resp, body = e.do(e.publishReq("topic=x", sub.mintAccess(t, e.access(grantJSON([]string{"publish"}, exactM("*"))), nil)))
	e.wantChallenge(t, "publisher token with the subscriber key", resp, body, 401, "invalid_token")
}

// A configured resource identifier pins the audience, whatever the Host.
func TestResourceIdentifierPinned(t *testing.T) {
	const res = "https://hub.example/.well-known/mercure"
	pub := hmacPair()
	e := newEnv1(t, Options{ResourceIdentifier: res}, pub, hmacPair())
	c := e.access(grantJSON([]string{"publish"}, exactM("*")))
	if resp, body := e.do(e.publishReq("topic=x", pub.mintAccess(t, c, nil))); resp.StatusCode != 401 {
		t.Errorf("aud = the request's URL with a pinned identifier: %d %s, want 401", resp.StatusCode, body)
	} else if www := resp.Header.Get("WWW-Authenticate"); !strings.Contains(www, `resource_metadata="https://hub.example/.well-known/oauth-protected-resource/.well-known/mercure"`) {
		t.Errorf("WWW-Authenticate = %q: the metadata is at the pinned identifier's origin", www)
	}
	c["aud"] = res
	if resp, body := e.do(e.publishReq("topic=x", pub.mintAccess(t, c, nil))); resp.StatusCode != 200 {
		t.Errorf("aud = the pinned identifier: %d %s, want 200", resp.StatusCode, body)
	}
}

// NewAccessToken's tokens are accepted by the hub it is minted for, with
// the grants it was given.
func TestNewAccessToken(t *testing.T) {
	pub := hmacPair()
	e := newEnv1(t, Options{Subscriptions: true}, pub, pub)
	tok, err := NewAccessToken(testHMACKey, AccessToken{
		Issuer: testIssuer, Audience: []string{e.resource()},
		Publish:   []hub.Selector{{Text: "https://example.com/a"}, {Syntax: hub.SyntaxURLPattern, Text: "https://example.com/b/:id"}},
		Subscribe: []hub.Selector{{Syntax: hub.SyntaxExact, Text: "https://example.com/a"}},
		Payload:   json.RawMessage(`{"x":1}`),
	}, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]int{"https://example.com/a": 200, "https://example.com/b/2": 200, "https://example.com/c": 403} {
		if resp, body := e.do(e.publishReq("topic="+url.QueryEscape(topic), tok)); resp.StatusCode != want {
			t.Errorf("publish to %s: %d %s, want %d", topic, resp.StatusCode, body, want)
		}
	}
	s := e.mustOpen(e.subscribeReq("match=https://example.com/a", tok))
	e.publish1("topic=https://example.com/a&data=secret&private=on")
	if ev := s.next(); ev.Data != "secret" {
		t.Errorf("subscriber got %q", ev.Data)
	}
	for name, at := range map[string]AccessToken{
		"no issuer":   {Audience: []string{"x"}},
		"no audience": {Issuer: "x"},
		"bad payload": {Issuer: "x", Audience: []string{"x"}, Payload: json.RawMessage(`[1]`)},
	} {
		if _, err := NewAccessToken(testHMACKey, at, time.Now(), time.Minute); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := NewAccessToken(testHMACKey, AccessToken{Issuer: "x", Audience: []string{"x"}}, time.Now(), 0); err == nil {
		t.Error("no lifetime: no error")
	}
}

// Mercure 1.0, "Subscribers": the hub closes the connection no later than
// the access token's exp, on both stream engines.
func TestAccessTokenExpiryEndsStream(t *testing.T) {
	for _, noHijack := range []bool{false, true} {
		p := hmacPair()
		e := newEnv1(t, Options{NoHijack: noHijack}, p, p)
		c := e.access(grantJSON([]string{"subscribe"}, exactM("*")))
		c["exp"] = time.Now().Add(1500 * time.Millisecond).Unix()
		s := e.mustOpen(e.subscribeReq("match=t", p.mintAccess(t, c, nil)))
		deadline := time.After(waitTimeout)
	wait:
		for {
			select {
			case _, ok := <-s.events:
				if !ok {
					break wait
				}
			case <-deadline:
				t.Fatalf("NoHijack %v: the stream outlived its token", noHijack)
			}
		}
	}
}
