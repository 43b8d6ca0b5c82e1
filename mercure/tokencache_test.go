package mercure

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerifyCachesOnlySuccesses(t *testing.T) {
	p := hmacPair()
	v, err := newVerifier("publisher", p.verify, p.alg)
	if err != nil {
		t.Fatal(err)
	}
	good := p.mint(t, pubClaims("*"), jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()})
	first, err := v.verify(context.Background(), good)
	if err != nil {
		t.Fatal(err)
	}
	again, err := v.verify(context.Background(), good)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Error("a token verified twice was parsed twice: the cache missed")
	}

	other := keyPair{alg: "HS256", sign: []byte("another-key-0123456789abcdef"), verify: []byte("another-key-0123456789abcdef")}
	bad := []string{
		p.mint(t, pubClaims("*"), expired()),
		p.mint(t, pubClaims("*"), notYet()),
		other.mint(t, pubClaims("*"), nil),
		noneToken(t),
		good[:len(good)-2] + "xx",
		"not.a.token",
	}
	for i, tok := range bad {
		for try := range 2 {
			if _, err := v.verify(context.Background(), tok); !errors.Is(err, errInvalidToken) {
				t.Errorf("bad token %d, try %d: err = %v, want errInvalidToken", i, try, err)
			}
		}
	}
	if n := v.cache.len(); n != 1 {
		t.Errorf("cache holds %d tokens, want only the good one", n)
	}
}

// A token cached while valid must be refused once it expires, with the
// parser's own error.
func TestVerifyRefusesCachedTokenOnceExpired(t *testing.T) {
	p := hmacPair()
	v, err := newVerifier("publisher", p.verify, p.alg)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(-time.Minute).Truncate(time.Second)
	tok := p.mint(t, pubClaims("*"), jwt.MapClaims{"exp": exp.Unix()})
	// As verify would have stored it a while ago, when it was valid.
	v.cache.put(tok, &Claims{Publish: []string{"*"}, exp: exp})

	_, err = v.verify(context.Background(), tok)
	if !errors.Is(err, errInvalidToken) || !errors.Is(err, jwt.ErrTokenExpired) {
		t.Fatalf("err = %v, want errInvalidToken wrapping jwt.ErrTokenExpired", err)
	}
	if n := v.cache.len(); n != 0 {
		t.Errorf("the expired token is still cached (%d entries)", n)
	}
}

func TestTokenCacheHonoursExpiryAtEveryUse(t *testing.T) {
	var c tokenCache
	now := time.Now()
	c.put("forever", &Claims{})
	c.put("soon", &Claims{exp: now.Add(time.Second)})
	for _, tc := range []struct {
		tok  string
		at   time.Time
		want bool
	}{
		{"forever", now.Add(100 * 365 * 24 * time.Hour), true},
		{"soon", now, true},
		{"soon", now.Add(time.Second), false}, // exp itself is past, as in jwt
		{"soon", now, false},                  // and the entry is gone
		{"never-put", now, false},
	} {
		if _, ok := c.get(tc.tok, tc.at); ok != tc.want {
			t.Errorf("get(%q, now%+v) hit = %v, want %v", tc.tok, tc.at.Sub(now), ok, tc.want)
		}
	}
}

func TestTokenCacheIsBounded(t *testing.T) {
	var c tokenCache
	for i := range tokenCacheSize + 100 {
		c.put(fmt.Sprint("tok", i), &Claims{})
	}
	if n := c.len(); n != tokenCacheSize {
		t.Errorf("cache holds %d tokens, want %d", n, tokenCacheSize)
	}
	c.put(strings.Repeat("x", maxCachedTokenLen+1), &Claims{})
	if _, ok := c.get(strings.Repeat("x", maxCachedTokenLen+1), time.Now()); ok {
		t.Error("a token longer than maxCachedTokenLen was cached")
	}
}

// Each handler has its own keys: a token accepted by one must not be
// accepted by another through a shared cache.
func TestVerifierCachesArePerKey(t *testing.T) {
	a, b := []byte("key-a-0123456789abcdef0123456789"), []byte("key-b-0123456789abcdef0123456789")
	va, err := newVerifier("publisher", a, "HS256")
	if err != nil {
		t.Fatal(err)
	}
	vb, err := newVerifier("publisher", b, "HS256")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := NewToken(a, Claims{Publish: []string{"*"}}, "", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := va.verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if _, err := vb.verify(context.Background(), tok); !errors.Is(err, errInvalidToken) {
		t.Errorf("a token signed with key a verified under key b after a cached it: err = %v", err)
	}
}

// BenchmarkVerifyCache compares a full verification with a cache hit.
func BenchmarkVerifyCache(b *testing.B) {
	p := hmacPair()
	tok := p.mint(b, pubClaims("https://example.com/{id}"), jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()})
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("cached=%v", cached), func(b *testing.B) {
			v, err := newVerifier("publisher", p.verify, p.alg)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if cached {
					_, err = v.verify(context.Background(), tok)
				} else {
					_, err = v.parse(tok)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
