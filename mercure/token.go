package mercure

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/hub"
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

// AccessToken is what NewAccessToken puts in a Mercure 1.0 access token
// (RFC 9068; Mercure 1.0, "Authorization" and "Authorization Details").
type AccessToken struct {
	// Issuer is the iss claim: an issuer the hub trusts with the key.
	Issuer string
	// Audience is the aud claim: the hub's resource identifier, such as
	// https://example.com/.well-known/mercure.
	Audience []string
	// Subject is the sub claim (and client_id); empty means "ssehub".
	Subject string
	// Publish and Subscribe are the topic matchers of the publish and
	// subscribe grants, in the syntaxes hub.SyntaxExact (the default for
	// an empty Syntax) and hub.SyntaxURLPattern.
	Publish, Subscribe []hub.Selector
	// Payload, when not nil, is the subscribe grant's payload: a JSON
	// object, shown by the subscriptions API and events.
	Payload json.RawMessage
}

// Matchers returns exact matchers for the topics exact, then URL-pattern
// matchers for patterns, as [AccessToken] takes them.
func Matchers(exact, patterns []string) []hub.Selector {
	var out []hub.Selector
	for _, m := range exact {
		out = append(out, hub.Selector{Syntax: hub.SyntaxExact, Text: m})
	}
	for _, p := range patterns {
		out = append(out, hub.Selector{Syntax: hub.SyntaxURLPattern, Text: p})
	}
	return out
}

// DefaultResourceID is the resource identifier of a hub reached at hubURL
// that has none configured, the audience its access tokens need: the URL's
// origin and [Path], as the hub derives it from each request.
func DefaultResourceID(hubURL *url.URL) string {
	return hubURL.Scheme + "://" + hubURL.Host + Path
}

// NewAccessToken returns an HS256 Mercure 1.0 access token signed with key:
// typ at+jwt, the claims RFC 9068 asks issuers for (iss, aud, sub,
// client_id, iat, exp, jti), and one authorization detail per action. The
// token expires ttl after now; ttl must be positive, for a 1.0 hub refuses
// a token without exp.
func NewAccessToken(key []byte, t AccessToken, now time.Time, ttl time.Duration) (string, error) {
	switch {
	case len(key) == 0:
		return "", errors.New("mercure: empty signing key")
	case ttl <= 0:
		return "", errors.New("mercure: an access token needs a positive lifetime")
	case t.Issuer == "":
		return "", errors.New("mercure: an access token needs an issuer")
	case len(t.Audience) == 0:
		return "", errors.New("mercure: an access token needs an audience")
	}
	if t.Payload != nil && !isJSON(t.Payload, '{') {
		return "", errors.New("mercure: the payload must be a JSON object")
	}
	detail := func(action string, sels []hub.Selector, payload json.RawMessage) map[string]any {
		topics := make([]map[string]string, len(sels))
		for i, s := range sels {
			mt := s.Syntax
			if mt == "" {
				mt = hub.SyntaxExact
			}
			topics[i] = map[string]string{"match": s.Text, "match_type": mt}
		}
		d := map[string]any{"type": AuthorizationDetailType, "actions": []string{action}, "topics": topics}
		if payload != nil {
			d["payload"] = payload
		}
		return d
	}
	details := []map[string]any{}
	if len(t.Publish) > 0 {
		details = append(details, detail("publish", t.Publish, nil))
	}
	if len(t.Subscribe) > 0 {
		details = append(details, detail("subscribe", t.Subscribe, t.Payload))
	}
	sub := t.Subject
	if sub == "" {
		sub = "ssehub"
	}
	jti := make([]byte, 16)
	rand.Read(jti)
	claims := jwt.MapClaims{
		"iss": t.Issuer, "aud": t.Audience, "sub": sub, "client_id": sub,
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(), "jti": hex.EncodeToString(jti),
		"authorization_details": details,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["typ"] = "at+jwt"
	return tok.SignedString(key)
}
