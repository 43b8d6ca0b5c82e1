package main

import (
	"net/http"
	"time"

	"github.com/ssehub/ssehub/mercure"
)

// Lifetimes of the tokens the hub mints on the development defaults.
const (
	// printedTokenTTL keeps the publish command printed at start usable
	// for a working day.
	printedTokenTTL = 24 * time.Hour
	// pageTokenTTL is the demo page form's token: the page asks again
	// when it needs a new one.
	pageTokenTTL = 10 * time.Minute
)

// defaultIssuer is the issuer of Mercure 1.0 access tokens the hub trusts
// with the key it generates, when no --jwt-issuer is given: 'sse token'
// names it by default too.
const defaultIssuer = "ssehub"

// issuers returns the trusted issuers of the configured keys: --jwt-issuer,
// or defaultIssuer for a generated key. A configured key has no default
// issuer: Mercure 1.0 wants the issuers bound to keys explicitly.
func (c *Config) issuers(k keys) []string {
	if len(c.JWTIssuers) == 0 && k.generated != nil {
		return []string{defaultIssuer}
	}
	return c.JWTIssuers
}

// mintAccessToken signs a Mercure 1.0 access token with key, of the hub's
// first trusted issuer, for the resource identifier res, that may publish
// to the publish matchers and receive the private updates of the
// subscribe ones (exact matchers; "*" for all), valid for ttl from now.
func mintAccessToken(key []byte, iss, res string, publish, subscribe []string, ttl time.Duration, now time.Time) (string, error) {
	return mercure.NewAccessToken(key, mercure.AccessToken{Issuer: iss, Audience: []string{res}, Publish: mercure.Matchers(publish, nil), Subscribe: mercure.Matchers(subscribe, nil)}, now, ttl)
}

// resourceOf is the hub's resource identifier as it answers r: the pinned
// one, or the request's origin and the Mercure path, as mercure derives it.
func resourceOf(cfg Config, r *http.Request) string {
	if cfg.ResourceIdentifier != "" {
		return cfg.ResourceIdentifier
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + mercure.Path
}

// mintToken signs an HS256 token with key that may publish to the
// publish selectors and receive the private updates of the subscribe ones,
// valid for ttl from now.
func mintToken(key []byte, publish, subscribe []string, ttl time.Duration, now time.Time) (string, error) {
	return mercure.NewToken(key, mercure.Claims{Publish: publish, Subscribe: subscribe}, "", now, ttl)
}
