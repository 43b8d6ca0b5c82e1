package mercure

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"testing"
)

// FuzzAuthorize feeds arbitrary Authorization headers, authorization query
// parameters and cookies through token extraction and verification: they
// must never panic, and only a token signed with the configured key passes.
func FuzzAuthorize(f *testing.F) {
	p := hmacPair()
	f.Add("Bearer "+p.mint(f, pubClaims("*"), nil), "", "")
	f.Add("", p.mint(f, subClaims("https://example.com/{id}"), nil), "")
	f.Add("", "", p.mint(f, map[string]any{"subscribe": []string{"*"}, "payload": map[string]any{"a": []int{1}}}, nil))
	f.Add("Bearer "+noneToken(f), "", "")
	f.Add("Bearer a.b.c", "x", "y")
	f.Add("Basic Zm9vOmJhcg==", "", "")
	f.Add("", "", "e30.e30.")
	v, err := newVerifier("publisher", p.verify, p.alg)
	if err != nil {
		f.Fatal(err)
	}
	other, err := newVerifier("publisher", []byte("a different secret"), p.alg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header, query, cookie string) {
		r := httptest.NewRequest("GET", "/.well-known/mercure?topic=x", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		if query != "" {
			r.URL.RawQuery += "&" + url.Values{"authorization": {query}}.Encode()
		}
		if cookie != "" {
			r.Header.Set("Cookie", DefaultCookieName+"="+cookie)
		}
		raw, _, err := extractToken(r, DefaultCookieName)
		if err != nil {
			if !errors.Is(err, errNoToken) && !errors.Is(err, errInvalidToken) {
				t.Fatalf("extractToken error %v is neither errNoToken nor errInvalidToken", err)
			}
			return
		}
		c, err := v.verify(context.Background(), raw)
		if err != nil {
			if !errors.Is(err, errInvalidToken) {
				t.Fatalf("verify error %v does not wrap errInvalidToken", err)
			}
			return
		}
		if c == nil {
			t.Fatal("verify returned nil claims and no error")
		}
		if _, err := other.verify(context.Background(), raw); err == nil {
			t.Fatalf("token %q verifies with two different keys", raw)
		}
	})
}
