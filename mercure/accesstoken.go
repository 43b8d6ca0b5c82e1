package mercure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/hub"
)

// Mercure 1.0 access tokens (draft-dunglas-mercure-08, "Token Validation"
// and "Authorization Details"): RFC 9068 JWT access tokens whose grants are
// RFC 9396 authorization details.
const (
	// AuthorizationDetailType is the type of the authorization details a
	// Mercure 1.0 hub reads; entries of other types are ignored.
	AuthorizationDetailType = "https://mercure.rocks/authorization-detail"

	// Bounds on a token's authorization details; a token over one is
	// invalid (the spec asks for implementation-defined limits).
	maxDetails      = 100
	maxDetailTopics = 100
	// maxMatcherLen bounds a matcher's value, in a token as in a
	// subscription.
	maxMatcherLen = 4096
)

// Issuer is a trusted issuer of Mercure 1.0 access tokens with its keys:
// a token is verified only with the keys of the issuer its iss claim names,
// never with another issuer's.
type Issuer struct {
	// ID is the issuer identifier, compared exactly with the iss claim.
	ID string
	// PublisherKey verifies the issuer's tokens presented to publish,
	// SubscriberKey those presented to subscribe (or to read the
	// subscriptions API), in the forms of Options.PublisherKey. Without a
	// SubscriberKey the issuer's subscriber tokens are refused.
	PublisherKey  []byte
	SubscriberKey []byte
	// JWKS, instead of the keys above, verifies the issuer's tokens of
	// both roles with the key of its set the token's kid names; the
	// grants in the token tell the roles apart. Algorithm must then be an
	// asymmetric one.
	JWKS *JWKS
	// Algorithm is the one algorithm accepted for PublisherKey (and for
	// SubscriberKey unless SubscriberAlgorithm is set) or for JWKS; empty
	// means DefaultAlgorithm. It is never taken from the token.
	Algorithm           string
	SubscriberAlgorithm string
}

// issuer is an Issuer ready to verify tokens.
type issuer struct {
	id       string
	pub, sub *verifier
}

func newIssuer(is Issuer) (*issuer, error) {
	if is.ID == "" {
		return nil, errors.New("mercure: Issuer.ID is required")
	}
	alg := is.Algorithm
	if alg == "" {
		alg = DefaultAlgorithm
	}
	if is.JWKS != nil {
		if len(is.PublisherKey) > 0 || len(is.SubscriberKey) > 0 {
			return nil, fmt.Errorf("mercure: issuer %q: JWKS and keys are exclusive", is.ID)
		}
		if _, ok := jwt.GetSigningMethod(alg).(*jwt.SigningMethodHMAC); ok || jwt.GetSigningMethod(alg) == nil || alg == "none" {
			return nil, fmt.Errorf("mercure: issuer %q: a JWKS needs an asymmetric algorithm (RS*, PS*, ES*, EdDSA), not %q", is.ID, alg)
		}
		v := &verifier{
			parser:  accessParser(alg, is.ID),
			access:  true,
			jwks:    is.JWKS,
			jwksAlg: alg,
		}
		// One verifier (and one cache) for both roles.
		return &issuer{id: is.ID, pub: v, sub: v}, nil
	}
	if len(is.PublisherKey) == 0 {
		return nil, fmt.Errorf("mercure: issuer %q: PublisherKey is required", is.ID)
	}
	subAlg := is.SubscriberAlgorithm
	if subAlg == "" {
		subAlg = alg
	}
	var (
		out issuer
		err error
	)
	out.id = is.ID
	if out.pub, err = newAccessVerifier("publisher", is.PublisherKey, alg, is.ID); err != nil {
		return nil, fmt.Errorf("mercure: issuer %q: %w", is.ID, err)
	}
	if len(is.SubscriberKey) > 0 {
		if out.sub, err = newAccessVerifier("subscriber", is.SubscriberKey, subAlg, is.ID); err != nil {
			return nil, fmt.Errorf("mercure: issuer %q: %w", is.ID, err)
		}
	}
	return &out, nil
}

// newAccessVerifier is newVerifier for RFC 9068 tokens of one issuer: exp
// is required and iss must be that issuer.
func newAccessVerifier(role string, key []byte, alg, iss string) (*verifier, error) {
	v, err := newVerifier(role, key, alg)
	if err != nil {
		return nil, err
	}
	v.parser = accessParser(alg, iss)
	v.access = true
	return v, nil
}

// accessParser parses RFC 9068 tokens of issuer iss signed with alg.
func accessParser(alg, iss string) *jwt.Parser {
	return jwt.NewParser(jwt.WithValidMethods([]string{alg}), jwt.WithExpirationRequired(), jwt.WithIssuer(iss))
}

// grant is one Mercure authorization detail of an access token.
type grant struct {
	publish, subscribe bool
	topics             []hub.Selector
	payload            json.RawMessage // nil when absent
}

// accessClaims are the claims of an RFC 9068 token this package reads.
type accessClaims struct {
	jwt.RegisteredClaims
	AuthorizationDetails json.RawMessage `json:"authorization_details"`
}

// isAccessTokenType reports whether a JOSE typ header names an RFC 9068
// access token: "at+jwt", or "application/at+jwt", case-insensitively
// (RFC 7515 section 4.1.9).
func isAccessTokenType(typ any) bool {
	s, ok := typ.(string)
	if !ok {
		return false
	}
	if len(s) > len("application/") && strings.EqualFold(s[:len("application/")], "application/") {
		s = s[len("application/"):]
	}
	return strings.EqualFold(s, "at+jwt")
}

// tokenHeader is what is read of a token before its signature is checked:
// which dialect it speaks and which issuer claims to have signed it.
type tokenHeader struct {
	access bool   // typ at+jwt: a Mercure 1.0 access token
	iss    string // the iss claim, unverified
}

// peekToken decodes raw's header and iss claim without verifying anything,
// to pick the rules and the keys to verify it with.
func peekToken(raw string) (tokenHeader, error) {
	if len(raw) > maxTokenLen {
		return tokenHeader{}, fmt.Errorf("%w: longer than %d bytes", errInvalidToken, maxTokenLen)
	}
	var c struct {
		Iss any `json:"iss"`
	}
	t, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		return tokenHeader{}, fmt.Errorf("%w: %w", errInvalidToken, err)
	}
	h := tokenHeader{access: isAccessTokenType(t.Header["typ"])}
	if mc, ok := t.Claims.(jwt.MapClaims); ok {
		c.Iss = mc["iss"]
	}
	h.iss, _ = c.Iss.(string)
	return h, nil
}

// parseAccess verifies raw as an RFC 9068 access token of v's issuer.
func (v *verifier) parseAccess(ctx context.Context, raw string) (*Claims, error) {
	var ac accessClaims
	keyf := func(*jwt.Token) (any, error) { return v.key, nil }
	if v.jwks != nil {
		keyf = v.jwks.keyfunc(ctx, v.jwksAlg)
	}
	t, err := v.parser.ParseWithClaims(raw, &ac, keyf)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidToken, err)
	}
	if !isAccessTokenType(t.Header["typ"]) {
		return nil, fmt.Errorf("%w: typ is %v, want at+jwt", errInvalidToken, t.Header["typ"])
	}
	// The key is the configured one, whatever the token says; a token
	// that carries key material is refused outright (RFC 8725 3.10).
	for _, k := range []string{"jwk", "jku", "x5u", "x5c"} {
		if _, ok := t.Header[k]; ok {
			return nil, fmt.Errorf("%w: header %q: keys inside a token are not accepted", errInvalidToken, k)
		}
	}
	grants, err := parseAuthorizationDetails(ac.AuthorizationDetails, v.checkSelector)
	if err != nil {
		return nil, fmt.Errorf("%w: authorization_details: %w", errInvalidToken, err)
	}
	c := &Claims{access: true, aud: ac.Audience, grants: grants}
	if ac.ExpiresAt != nil {
		c.exp = ac.ExpiresAt.Time
	}
	for _, g := range grants {
		if g.publish {
			c.pubGrants = append(c.pubGrants, g.topics...)
		}
		if g.subscribe {
			c.subGrants = append(c.subGrants, g.topics...)
		}
	}
	return c, nil
}

// detailJSON is a Mercure authorization detail as decoded, before its
// members' types are checked.
type detailJSON struct {
	Type    json.RawMessage   `json:"type"`
	Actions []json.RawMessage `json:"actions"`
	Topics  []json.RawMessage `json:"topics"`
	Payload json.RawMessage   `json:"payload"`
}

type matcherJSON struct {
	Match     json.RawMessage `json:"match"`
	MatchType json.RawMessage `json:"match_type"`
}

// parseAuthorizationDetails reads the authorization_details claim (RFC
// 9396): a JSON array of objects with a string type. Only entries of type
// AuthorizationDetailType count, and any of them that is malformed makes
// the whole claim invalid, so that no token is half read. check validates
// a URL pattern. An absent claim grants nothing.
func parseAuthorizationDetails(raw json.RawMessage, check func(hub.Selector) error) ([]grant, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var entries []json.RawMessage
	if !isJSON(raw, '[') || json.Unmarshal(raw, &entries) != nil {
		return nil, errors.New("must be an array")
	}
	var grants []grant
	for i, e := range entries {
		var d detailJSON
		if !isJSON(e, '{') || json.Unmarshal(e, &d) != nil {
			return nil, fmt.Errorf("entry %d: must be an object", i)
		}
		typ, ok := jsonString(d.Type)
		if !ok {
			return nil, fmt.Errorf("entry %d: type: must be a string", i)
		}
		if typ != AuthorizationDetailType {
			continue // another API's detail: not ours to judge
		}
		if len(grants) == maxDetails {
			return nil, fmt.Errorf("more than %d Mercure entries", maxDetails)
		}
		g, err := parseDetail(d, check)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		grants = append(grants, g)
	}
	return grants, nil
}

func parseDetail(d detailJSON, check func(hub.Selector) error) (grant, error) {
	var g grant
	if len(d.Actions) == 0 {
		return g, errors.New("actions: must be a non-empty array of strings")
	}
	for j, a := range d.Actions {
		s, ok := jsonString(a)
		if !ok {
			return g, fmt.Errorf("actions[%d]: must be a string", j)
		}
		// Actions a later revision may define grant nothing here.
		switch s {
		case "publish":
			g.publish = true
		case "subscribe":
			g.subscribe = true
		}
	}
	switch n := len(d.Topics); {
	case n == 0:
		return g, errors.New("topics: must be a non-empty array of matchers")
	case n > maxDetailTopics:
		return g, fmt.Errorf("topics: %d matchers, at most %d allowed", n, maxDetailTopics)
	}
	g.topics = make([]hub.Selector, 0, len(d.Topics))
	for j, t := range d.Topics {
		var m matcherJSON
		if !isJSON(t, '{') || json.Unmarshal(t, &m) != nil {
			return g, fmt.Errorf("topics[%d]: must be an object with a match member", j)
		}
		match, ok := jsonString(m.Match)
		if !ok || match == "" {
			return g, fmt.Errorf("topics[%d].match: must be a non-empty string", j)
		}
		sel := hub.Selector{Syntax: hub.SyntaxExact, Text: match}
		if m.MatchType != nil {
			mt, ok := jsonString(m.MatchType)
			if !ok {
				return g, fmt.Errorf("topics[%d].match_type: must be a string", j)
			}
			if sel.Syntax, ok = matcherTypes[mt]; !ok {
				return g, fmt.Errorf("topics[%d].match_type: %q is not a matcher type of this hub (exact, urlpattern)", j, mt)
			}
		}
		if err := checkMatcher(sel, check); err != nil {
			return g, fmt.Errorf("topics[%d].match: %w", j, err)
		}
		g.topics = append(g.topics, sel)
	}
	if d.Payload != nil {
		if !isJSON(d.Payload, '{') {
			return g, errors.New("payload: must be an object")
		}
		g.payload = slices.Clone(d.Payload)
	}
	return g, nil
}

// matcherTypes are the matcher types of Mercure 1.0 by match_type name: the
// hub's syntaxes of the same names.
var matcherTypes = map[string]string{"exact": hub.SyntaxExact, "urlpattern": hub.SyntaxURLPattern}

// checkMatcher applies the rules of a matcher's value, in a token as in a
// subscription: bounded, free of control and format characters, and, for a
// URL pattern, compilable.
func checkMatcher(sel hub.Selector, check func(hub.Selector) error) error {
	if len(sel.Text) > maxMatcherLen {
		return fmt.Errorf("longer than %d bytes", maxMatcherLen)
	}
	if err := hub.CheckText(sel.Text); err != nil {
		return err
	}
	if sel.Syntax == hub.SyntaxURLPattern && check != nil {
		if err := check(sel); err != nil {
			return fmt.Errorf("not a valid URL pattern: %w", err)
		}
	}
	return nil
}

// isJSON reports whether raw, a JSON value, starts with the byte open
// ('[' or '{'): null, which decodes into anything without error, is not.
func isJSON(raw json.RawMessage, open byte) bool {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	return len(raw) > 0 && raw[0] == open
}

// jsonString decodes raw if it is a JSON string.
func jsonString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}

// audienceHas reports whether the verified audience contains resource.
func (c *Claims) audienceHas(resource string) bool {
	return slices.Contains(c.aud, resource)
}

// unexpired reports whether c's token is still valid at now.
func (c *Claims) unexpired(now time.Time) bool {
	return c.exp.IsZero() || now.Before(c.exp)
}
