package main

import (
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

// mintToken signs an HS256 token with key that may publish to the
// publish selectors and receive the private updates of the subscribe ones,
// valid for ttl from now.
func mintToken(key []byte, publish, subscribe []string, ttl time.Duration, now time.Time) (string, error) {
	return mercure.NewToken(key, mercure.Claims{Publish: publish, Subscribe: subscribe}, "", now, ttl)
}
