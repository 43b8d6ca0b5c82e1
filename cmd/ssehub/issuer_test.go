package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/mercure"
)

func TestConfigIssuers(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "b.key")
	os.WriteFile(secret, []byte("b secret, with a comma\n"), 0o600)
	c, err := parseConfig([]string{"--jwt-key", "k", "--jwt-issuer", "https://localhost",
		"--issuer", "https://idp.example,jwks=https://idp.example/jwks.json,alg=ES256",
		"--issuer", "https://b.example,key-file=" + secret,
		"--issuer", "https://c.example,alg=HS512,key=c secret"}, envOf(nil), &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	want := []IssuerConfig{
		{ID: "https://idp.example", JWKS: "https://idp.example/jwks.json", Alg: "ES256"},
		{ID: "https://b.example", Key: "b secret, with a comma", Alg: "HS256"},
		{ID: "https://c.example", Key: "c secret", Alg: "HS512"},
	}
	if len(c.Issuers) != len(want) {
		t.Fatalf("Issuers = %+v, want %+v", c.Issuers, want)
	}
	for i := range want {
		if c.Issuers[i] != want[i] {
			t.Errorf("Issuers[%d] = %+v, want %+v", i, c.Issuers[i], want[i])
		}
	}
	if c.JWTKey != "k" || len(c.JWTIssuers) != 1 {
		t.Errorf("--jwt-key and --jwt-issuer changed: %+v", c)
	}
	// An --issuer is a deployment with real issuers: no development
	// defaults, so no token handed out, even on loopback.
	if c, err := parseConfig([]string{"--issuer", "https://b.example,key=s"}, envOf(nil), &strings.Builder{}); err != nil || c.DevDefaults() || c.Anonymous {
		t.Errorf("--issuer alone: DevDefaults %v, Anonymous %v, err %v; want neither", c.DevDefaults(), c.Anonymous, err)
	}
	for _, v := range []string{
		"",
		"https://a",                  // no key
		"jwks=https://idp/jwks.json", // no issuer
		"https://a,jwks=https://i/j", // alg not pinned
		"https://a,jwks=https://i/j,alg=HS256",
		"https://a,jwks=ftp://i/j,alg=ES256",
		"https://a,key=s,jwks=https://i/j,alg=ES256",
		"https://a,key=s,key-file=" + secret,
		"https://a,key=s,alg=none",
		"https://a,key=s,alg=XX1",
		"https://a,key=not pem,alg=RS256",
		"https://a,key=s,key=t",
		"https://a,key=s,colour=blue",
		"https://a,key",
		"https://a,key-file=/does/not/exist",
	} {
		_, err := parseConfig([]string{"--issuer", v}, envOf(nil), &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), "-issuer") {
			t.Errorf("--issuer %q: %v, want an error naming -issuer", v, err)
		}
	}
	_, err = parseConfig([]string{"--jwt-key", "k", "--jwt-issuer", "https://a", "--issuer", "https://a,key=s"}, envOf(nil), &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "--issuer https://a") {
		t.Errorf("an issuer both in --jwt-issuer and --issuer: %v, want a usage error", err)
	}
}

// Issuers with their own keys (issue 14, "Keys" and "Configuration";
// draft-dunglas-mercure-08, "Token Validation": iss is a trusted issuer
// and the token is verified with that issuer's keys): each issuer's token
// verifies with its key or JWKS only, and the existing flags keep working.
func TestRunIssuers(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := jwkset.NewJWKFromKey(&ec.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "a", ALG: jwkset.AlgES256}})
	if err != nil {
		t.Fatal(err)
	}
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	}))
	defer idp.Close()
	secret := filepath.Join(t.TempDir(), "b.key")
	os.WriteFile(secret, []byte("b secret, 32 bytes or so, not a real one\n"), 0o600)
	res := "https://hub.example" + mercure.Path
	r := startRun(t, "--jwt-key", testKey, "--jwt-issuer", "https://localhost", "--resource-identifier", res,
		"--issuer", "https://idp.example,jwks="+idp.URL+",alg=ES256",
		"--issuer", "https://b.example,key-file="+secret)
	mint := func(iss string, m jwt.SigningMethod, key any) string {
		tok := jwt.NewWithClaims(m, jwt.MapClaims{
			"iss": iss, "aud": res, "sub": "t", "exp": time.Now().Add(time.Minute).Unix(),
			"authorization_details": []any{map[string]any{"type": mercure.AuthorizationDetailType, "actions": []string{"publish"}, "topics": []any{map[string]any{"match": "*"}}}},
		})
		tok.Header["typ"] = "at+jwt"
		tok.Header["kid"] = "a"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	bKey := []byte("b secret, 32 bytes or so, not a real one")
	c := newClient(t)
	form := url.Values{"topic": {"https://example.com/i"}, "data": {"x"}}
	for _, tc := range []struct {
		name string
		tok  string
		want int
	}{
		{"JWKS issuer, its key", mint("https://idp.example", jwt.SigningMethodES256, ec), 200},
		{"key-file issuer, its key", mint("https://b.example", jwt.SigningMethodHS256, bKey), 200},
		{"--jwt-issuer, --jwt-key", mint("https://localhost", jwt.SigningMethodHS256, []byte(testKey)), 200},
		{"0.x token, --jwt-key", token(t, testKey, []string{"*"}, nil, time.Minute), 200},
		{"JWKS issuer, b's key", mint("https://idp.example", jwt.SigningMethodHS256, bKey), 401},
		{"JWKS issuer, --jwt-key", mint("https://idp.example", jwt.SigningMethodHS256, []byte(testKey)), 401},
		{"b, the JWKS issuer's key", mint("https://b.example", jwt.SigningMethodES256, ec), 401},
		{"b, --jwt-key", mint("https://b.example", jwt.SigningMethodHS256, []byte(testKey)), 401},
		{"--jwt-issuer, b's key", mint("https://localhost", jwt.SigningMethodHS256, bKey), 401},
	} {
		if code, body := post(t, c, r.base, tc.tok, form); code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
}
