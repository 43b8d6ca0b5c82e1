package mercure

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwksServer serves a JWK Set (RFC 7517 section 5) of EC keys by kid that
// the test changes at will, and counts the fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    map[string]*ecdsa.PublicKey
	delay   time.Duration // before each answer, like a distant server
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T) *jwksServer {
	s := &jwksServer{keys: map[string]*ecdsa.PublicKey{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		time.Sleep(s.delay)
		var set struct {
			Keys []map[string]string `json:"keys"`
		}
		for kid, k := range s.keys {
			b, err := k.Bytes() // 0x04 || X || Y
			if err != nil {
				t.Error(err)
				return
			}
			n := (len(b) - 1) / 2
			set.Keys = append(set.Keys, map[string]string{
				"kty": "EC", "crv": k.Curve.Params().Name, "kid": kid, "use": "sig",
				"x": base64.RawURLEncoding.EncodeToString(b[1 : 1+n]),
				"y": base64.RawURLEncoding.EncodeToString(b[1+n:]),
			})
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) put(kid string, p keyPair) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[kid] = &p.sign.(*ecdsa.PrivateKey).PublicKey
}

// An issuer whose keys come from a JWKS URL (issue 14, "Keys"): the set is
// cached, fetched again when a token names an unknown kid (key rotation),
// at a bounded rate, and a kid that never appears is a 401 invalid_token
// (draft-dunglas-mercure-08, "Token Validation"; RFC 6750 section 3.1).
func TestJWKSIssuer(t *testing.T) {
	const iss = "https://idp.example"
	srv := newJWKSServer(t)
	a, b := ecPair(t, elliptic.P256(), "ES256"), ecPair(t, elliptic.P256(), "ES256")
	srv.put("a", a)
	jwks, err := NewJWKS(t.Context(), srv.URL, JWKSOptions{UnknownKID: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	hmac := hmacPair()
	e := newEnv1(t, Options{Issuers: []Issuer{{ID: iss, JWKS: jwks, Algorithm: "ES256"}}}, hmac, hmac)
	claims := func(issuer string) jwt.MapClaims {
		c := e.access(grantJSON([]string{"publish"}, exactM("*")))
		c["iss"] = issuer
		return c
	}
	const form = "topic=https://example.com/a&data=x"
	publish := func(name, tok string, want int) {
		t.Helper()
		resp, body := e.do(e.publishReq(form, tok))
		if want == 200 {
			if resp.StatusCode != 200 {
				t.Fatalf("%s: status %d %s, want 200", name, resp.StatusCode, body)
			}
			return
		}
		e.wantChallenge(t, name, resp, body, want, "invalid_token")
	}
	publish("kid a", a.mintAccess(t, claims(iss), map[string]any{"kid": "a"}), 200)
	publish("no kid: any key of the set", a.mintAccess(t, claims(iss), nil), 200)
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1: the set is cached", n)
	}
	publish("kid a, another key", b.mintAccess(t, claims(iss), map[string]any{"kid": "a"}), 401)
	p384 := ecPair(t, elliptic.P384(), "ES384")
	publish("alg ES384, not the pinned ES256", p384.mintAccess(t, claims(iss), map[string]any{"kid": "a"}), 401)
	// Issuers with their own keys: neither verifies the other's tokens.
	publish("JWKS issuer, the HMAC issuer's key", hmac.mintAccess(t, claims(iss), nil), 401)
	publish("HMAC issuer, a key of the JWKS", a.mintAccess(t, claims(testIssuer), map[string]any{"kid": "a"}), 401)
	publish("HMAC issuer, own key", hmac.mintAccess(t, claims(testIssuer), nil), 200)

	// Rotation: kid b appears; its first token makes the hub fetch again,
	// from a server slower than loopback.
	srv.put("b", b)
	srv.mu.Lock()
	srv.delay = 50 * time.Millisecond
	srv.mu.Unlock()
	publish("kid b after rotation", b.mintAccess(t, claims(iss), map[string]any{"kid": "b"}), 200)
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2: one refresh for the unknown kid", n)
	}
	// A flood of kids that never appear: refused at once, and the spent
	// rate limit keeps them from reaching the JWKS server.
	for range 20 {
		publish("unknown kid", a.mintAccess(t, claims(iss), map[string]any{"kid": "nope"}), 401)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after the unknown kids, want still 2", n)
	}
}

// A kid that is still absent after the refresh it caused is refused, and
// a JWKS that cannot be fetched refuses tokens instead of failing the hub.
func TestJWKSUnknownKID(t *testing.T) {
	const iss = "https://idp.example"
	srv := newJWKSServer(t)
	a := ecPair(t, elliptic.P256(), "ES256")
	srv.put("a", a)
	jwks, err := NewJWKS(t.Context(), srv.URL, JWKSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	down, err := NewJWKS(t.Context(), "http://127.0.0.1:1/jwks.json", JWKSOptions{Timeout: time.Second})
	if err != nil {
		t.Fatalf("NewJWKS of an unreachable set: %v, want it to start anyway", err)
	}
	// A JWKS server that accepts and never answers: the fetches give up
	// after Timeout, at start and for the unknown kid.
	stall := make(chan struct{})
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stall:
		case <-r.Context().Done():
		}
	}))
	defer stalled.Close()
	defer close(stall)
	hung, err := NewJWKS(t.Context(), stalled.URL, JWKSOptions{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("NewJWKS of a stalled set: %v, want it to start anyway", err)
	}
	hmac := hmacPair()
	e := newEnv1(t, Options{Issuers: []Issuer{
		{ID: iss, JWKS: jwks, Algorithm: "ES256"},
		{ID: "https://down.example", JWKS: down, Algorithm: "ES256"},
		{ID: "https://stalled.example", JWKS: hung, Algorithm: "ES256"},
	}}, hmac, hmac)
	for _, tc := range []struct{ name, iss string }{{"unknown kid", iss}, {"unreachable JWKS", "https://down.example"}, {"stalled JWKS", "https://stalled.example"}} {
		c := e.access(grantJSON([]string{"publish"}, exactM("*")))
		c["iss"] = tc.iss
		resp, body := e.do(e.publishReq("topic=https://example.com/a&data=x", a.mintAccess(t, c, map[string]any{"kid": "z"})))
		e.wantChallenge(t, tc.name, resp, body, 401, "invalid_token")
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2: the first and one for the unknown kid", n)
	}
}

// An issuer's JWKS takes an asymmetric algorithm and no other keys.
func TestJWKSIssuerOptions(t *testing.T) {
	srv := newJWKSServer(t)
	jwks, err := NewJWKS(t.Context(), srv.URL, JWKSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, is := range []Issuer{
		{ID: "https://i", JWKS: jwks},                    // HS256 by default
		{ID: "https://i", JWKS: jwks, Algorithm: "none"}, //
		{ID: "https://i", JWKS: jwks, Algorithm: "ES256", PublisherKey: testHMACKey},
	} {
		if _, err := newIssuer(is); err == nil {
			t.Errorf("newIssuer(%+v) succeeded", is)
		}
	}
	if _, err := NewJWKS(t.Context(), "file:///etc/passwd", JWKSOptions{}); err == nil {
		t.Error("NewJWKS(file URL) succeeded")
	}
}

// The fetch an unknown kid causes belongs to the request: once the
// request's context is done, no fetch is made for it.
func TestJWKSFetchFollowsRequestContext(t *testing.T) {
	srv := newJWKSServer(t)
	a := ecPair(t, elliptic.P256(), "ES256")
	jwks, err := NewJWKS(t.Context(), srv.URL, JWKSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	is, err := newIssuer(Issuer{ID: "https://idp.example", JWKS: jwks, Algorithm: "ES256"})
	if err != nil {
		t.Fatal(err)
	}
	tok := a.mintAccess(t, jwt.MapClaims{"iss": "https://idp.example", "aud": "x", "exp": time.Now().Add(time.Minute).Unix()}, map[string]any{"kid": "a"})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := is.pub.verify(ctx, tok); !errors.Is(err, errInvalidToken) {
		t.Fatalf("verify with a done context: %v, want invalid", err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1: none for a request that is gone", n)
	}
}
