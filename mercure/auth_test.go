package mercure

import (
	"context"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestNewVerifierRejectsBadConfig(t *testing.T) {
	rsaKey := rsaPair(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, alg string
		key       []byte
		want      string
	}{
		{"none", "none", testHMACKey, "not supported"},
		{"unknown", "XX999", testHMACKey, "not supported"},
		{"empty secret", "HS256", nil, "empty"},
		{"PEM as secret", "HS256", rsaKey.verify, "PEM"},
		{"garbage PEM", "RS256", []byte("not a key"), "RS256"},
		{"RSA key for ES256", "ES256", rsaKey.verify, "ES256"},
		{"P-384 key for ES256", "ES256", ecPair(t, elliptic.P384(), "ES384").verify, "curve"},
		{"short RSA key", "RS256", pemPublic(t, &small.PublicKey), "2048"},
		{"EC key for EdDSA", "EdDSA", ecPair(t, elliptic.P256(), "ES256").verify, "EdDSA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newVerifier("publisher", tt.key, tt.alg)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "publisher") {
				t.Fatalf("newVerifier(%s) = %v, want an error naming the publisher key and %q", tt.alg, err, tt.want)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	pairs := []keyPair{hmacPair(), rsaPair(t), ecPair(t, elliptic.P256(), "ES256"), edPair(t)}
	for _, p := range pairs {
		t.Run(p.alg, func(t *testing.T) {
			v, err := newVerifier("subscriber", p.verify, p.alg)
			if err != nil {
				t.Fatal(err)
			}
			exp := time.Now().Add(time.Hour).Truncate(time.Second)
			c, err := v.verify(context.Background(), p.mint(t, map[string]any{"publish": []string{"a"}, "subscribe": []string{"b", "{x}"}, "payload": map[string]any{"k": 1}}, jwt.MapClaims{"exp": exp.Unix()}))
			if err != nil {
				t.Fatalf("valid token: %v", err)
			}
			if !slices.Equal(c.Publish, []string{"a"}) || !slices.Equal(c.Subscribe, []string{"b", "{x}"}) || string(c.Payload) != `{"k":1}` || !c.exp.Equal(exp) {
				t.Fatalf("claims = %+v", c)
			}
			ns := p.mint(t, pubClaims("ignored"), jwt.MapClaims{"https://mercure.rocks/": map[string]any{"publish": []string{"ns"}}})
			if c, err := v.verify(context.Background(), ns); err != nil || !slices.Equal(c.Publish, []string{"ns"}) {
				t.Fatalf("namespaced claim: %+v, %v", c, err)
			}
			if c, err := v.verify(context.Background(), p.mint(t, nil, nil)); err != nil || len(c.Publish)+len(c.Subscribe) != 0 {
				t.Fatalf("token without mercure claim: %+v, %v", c, err)
			}

			other := map[string]keyPair{"HS256": {alg: "HS256", sign: []byte("another secret"), verify: nil}}
			if p.alg != "HS256" {
				switch p.alg {
				case "RS256":
					other[p.alg] = rsaPair(t)
				case "ES256":
					other[p.alg] = ecPair(t, elliptic.P256(), "ES256")
				case "EdDSA":
					other[p.alg] = edPair(t)
				}
			}
			bad := map[string]string{
				"other key":  other[p.alg].mint(t, pubClaims("*"), nil),
				"alg none":   noneToken(t),
				"expired":    p.mint(t, pubClaims("*"), expired()),
				"not yet":    p.mint(t, pubClaims("*"), notYet()),
				"garbage":    "a.b.c",
				"empty":      "",
				"truncated":  p.mint(t, pubClaims("*"), nil)[:20],
				"bad claims": p.mint(t, map[string]any{"publish": "not a list"}, nil),
			}
			if p.alg == "HS256" {
				bad["other HMAC alg"] = keyPair{alg: "HS384", sign: testHMACKey}.mint(t, pubClaims("*"), nil)
			} else {
				// Algorithm confusion: the public key, known to anyone,
				// used as an HMAC secret.
				bad["HS256 with public key"] = keyPair{alg: "HS256", sign: p.verify}.mint(t, pubClaims("*"), nil)
			}
			for name, tok := range bad {
				if c, err := v.verify(context.Background(), tok); !errors.Is(err, errInvalidToken) {
					t.Errorf("%s: verify = %+v, %v; want errInvalidToken", name, c, err)
				}
			}
		})
	}
}

func TestExtractTokenPrecedence(t *testing.T) {
	req := func(header, query, cookie string) *http.Request {
		r := httptest.NewRequest("GET", "/.well-known/mercure?topic=x", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		if query != "" {
			r.URL.RawQuery += "&authorization=" + query
		}
		if cookie != "" {
			r.AddCookie(&http.Cookie{Name: DefaultCookieName, Value: cookie})
		}
		return r
	}
	tests := []struct {
		name, header, query, cookie string
		want                        string
		src                         tokenSource
		err                         error
	}{
		{"header wins", "Bearer H", "Q", "C", "H", fromHeader, nil},
		{"query before cookie", "", "Q", "C", "Q", fromQuery, nil},
		{"cookie", "", "", "C", "C", fromCookie, nil},
		{"none", "", "", "", "", fromNone, errNoToken},
		{"lower-case scheme", "bearer H", "", "", "H", fromHeader, nil},
		{"basic auth is not ignored", "Basic dXNlcjpwYXNz", "Q", "C", "", fromHeader, errInvalidToken},
		{"bare Bearer", "Bearer", "", "C", "", fromHeader, errInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, src, err := extractToken(req(tt.header, tt.query, tt.cookie), DefaultCookieName)
			if tok != tt.want || src != tt.src || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("extractToken = %q, %v, %v; want %q, %v, %v", tok, src, err, tt.want, tt.src, tt.err)
			}
		})
	}
	r := req("", "", "")
	r.URL.RawQuery += "&authorization=a&authorization=b"
	if _, _, err := extractToken(r, DefaultCookieName); !errors.Is(err, errInvalidToken) {
		t.Fatalf("two query tokens: %v", err)
	}
}
