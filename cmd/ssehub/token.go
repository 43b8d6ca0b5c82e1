package main

import (
	"time"

	"github.com/golang-jwt/jwt/v5"

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

// tokenClaims is the JWT body mercure verifies: registered claims and the
// mercure claim.
type tokenClaims struct {
	jwt.RegisteredClaims
	Mercure mercure.Claims `json:"mercure"`
}

// mintToken signs an HS256 token with key that may publish to the
// publish selectors and receive the private updates of the subscribe ones,
// valid for ttl from now.
func mintToken(key []byte, publish, subscribe []string, ttl time.Duration, now time.Time) (string, error) {
	c := tokenClaims{Mercure: mercure.Claims{Publish: publish, Subscribe: subscribe}}
	c.IssuedAt = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	if c.Mercure.Publish == nil {
		c.Mercure.Publish = []string{}
	}
	if c.Mercure.Subscribe == nil {
		c.Mercure.Subscribe = []string{}
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
}
