package mercure

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// NewToken returns an HS256 token signed with key that carries c as the
// mercure claim, the way this package verifies it: c.Publish are the
// selectors it may publish to, c.Subscribe those whose private updates it
// may receive. Subject may be empty. The token expires ttl after now: a ttl
// of 0 gives a token that never expires, a negative one an expired token.
func NewToken(key []byte, c Claims, subject string, now time.Time, ttl time.Duration) (string, error) {
	if len(key) == 0 {
		return "", errors.New("mercure: empty signing key")
	}
	// Empty lists rather than null: some hubs reject a null claim.
	if c.Publish == nil {
		c.Publish = []string{}
	}
	if c.Subscribe == nil {
		c.Subscribe = []string{}
	}
	tc := tokenClaims{Mercure: &c}
	tc.Subject = subject
	tc.IssuedAt = jwt.NewNumericDate(now)
	if ttl != 0 {
		tc.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, tc).SignedString(key)
}
