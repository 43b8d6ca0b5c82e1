package mercure

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/hub"
)

// maxTokenLen bounds the token we hand to the JWT parser; real tokens are a
// few hundred bytes, and the parser base64-decodes and unmarshals whatever
// it is given.
const maxTokenLen = 16 << 10

var (
	// errNoToken means the request carried no token at all.
	errNoToken = errors.New("mercure: no authorization token")
	// errInvalidToken is wrapped by every failure of a token that was
	// presented: malformed, badly signed, of the wrong algorithm, expired.
	errInvalidToken = errors.New("mercure: invalid authorization token")
)

// Claims are the Mercure claims of a verified token.
type Claims struct {
	// Publish holds the topic selectors the token may publish to.
	Publish []string `json:"publish"`
	// Subscribe holds the topic selectors whose private updates the token
	// may receive.
	Subscribe []string `json:"subscribe"`
	// Payload is any JSON the issuer attached; the subscriptions API and
	// events show it.
	Payload json.RawMessage `json:"payload,omitempty"`

	exp time.Time // the token's expiry; zero if it has none

	// Mercure 1.0 access tokens only.
	access               bool           // an RFC 9068 access token: the fields below apply, not the ones above
	aud                  []string       // the verified audience
	grants               []grant        // the Mercure authorization details, in order
	pubGrants, subGrants []hub.Selector // the topics of the publish and subscribe grants
}

type tokenClaims struct {
	jwt.RegisteredClaims
	Mercure *Claims `json:"mercure"`
	// Namespaced is the same claim under its collision-resistant name,
	// which Mercure 0.x accepts too and prefers when both are present.
	Namespaced *Claims `json:"https://mercure.rocks/,omitempty"`
}

// verifier checks tokens signed for one role (publisher or subscriber) with
// one key and one algorithm.
type verifier struct {
	key    crypto.PublicKey // []byte for HMAC
	parser *jwt.Parser
	cache  tokenCache // tokens this verifier has accepted
	// access makes it verify Mercure 1.0 access tokens, whose URL
	// patterns checkSelector validates.
	access        bool
	checkSelector func(hub.Selector) error
	// jwks, when set, holds the keys instead of key, for jwksAlg.
	jwks    *JWKS
	jwksAlg string
}

// newVerifier parses key for alg. HMAC algorithms take key as the secret
// itself; RSA, RSA-PSS, ECDSA and EdDSA take PEM text holding the public key
// (or a certificate carrying it).
func newVerifier(role string, key []byte, alg string) (*verifier, error) {
	m := jwt.GetSigningMethod(alg)
	if m == nil || alg == "none" {
		return nil, fmt.Errorf("mercure: %s algorithm %q is not supported", role, alg)
	}
	v := &verifier{parser: jwt.NewParser(jwt.WithValidMethods([]string{alg}))}
	var err error
	switch m.(type) {
	case *jwt.SigningMethodHMAC:
		if len(key) == 0 {
			return nil, fmt.Errorf("mercure: %s key is empty", role)
		}
		// A public key used as an HMAC secret is the classic algorithm
		// confusion: anyone who has the public key could sign tokens.
		if strings.Contains(string(key), "-----BEGIN") {
			return nil, fmt.Errorf("mercure: %s key is PEM text but the algorithm is %s: configure the asymmetric algorithm the key is for", role, alg)
		}
		v.key = key
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		v.key, err = jwt.ParseRSAPublicKeyFromPEM(key)
	case *jwt.SigningMethodECDSA:
		v.key, err = jwt.ParseECPublicKeyFromPEM(key)
	case *jwt.SigningMethodEd25519:
		v.key, err = jwt.ParseEdPublicKeyFromPEM(key)
	default:
		return nil, fmt.Errorf("mercure: %s algorithm %q is not supported", role, alg)
	}
	if err == nil {
		if _, hmac := m.(*jwt.SigningMethodHMAC); !hmac {
			err = checkKey(alg, v.key)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("mercure: %s key for %s: %w", role, alg, err)
	}
	return v, nil
}

func curveFor(alg string) elliptic.Curve {
	switch alg {
	case "ES256":
		return elliptic.P256()
	case "ES384":
		return elliptic.P384()
	case "ES512":
		return elliptic.P521()
	}
	return nil
}

// verify checks the signature, algorithm and time claims of raw and returns
// its Mercure claims (empty, never nil, when the token has none). A token
// accepted before and unexpired now is answered from the cache. The claims
// returned may be shared with other requests and must not be modified.
// ctx bounds the fetch of a JWKS it may make.
func (v *verifier) verify(ctx context.Context, raw string) (*Claims, error) {
	if len(raw) > maxTokenLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", errInvalidToken, maxTokenLen)
	}
	if c, ok := v.cache.get(raw, time.Now()); ok {
		return c, nil
	}
	var (
		c   *Claims
		err error
	)
	if v.access {
		c, err = v.parseAccess(ctx, raw)
	} else {
		c, err = v.parse(raw)
	}
	if err != nil {
		return nil, err
	}
	v.cache.put(raw, c)
	return c, nil
}

// parse verifies raw in full, without the cache.
func (v *verifier) parse(raw string) (*Claims, error) {
	var tc tokenClaims
	_, err := v.parser.ParseWithClaims(raw, &tc, func(*jwt.Token) (any, error) { return v.key, nil })
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidToken, err)
	}
	c := tc.Mercure
	if tc.Namespaced != nil {
		c = tc.Namespaced
	}
	if c == nil {
		c = &Claims{}
	}
	if tc.ExpiresAt != nil {
		c.exp = tc.ExpiresAt.Time
	}
	return c, nil
}

// tokenSource names where a request's token came from.
type tokenSource int

const (
	fromNone tokenSource = iota
	fromHeader
	fromQuery
	fromCookie
)

// extractToken finds the request's token the way Mercure 0.x does: the
// Authorization header wins, then the authorization query parameter, then
// the cookie. Once a source is present the others are ignored, even when
// its token turns out to be invalid.
func extractToken(r *http.Request, cookieName string) (string, tokenSource, error) {
	if hs, ok := r.Header["Authorization"]; ok {
		if len(hs) != 1 {
			return "", fromHeader, fmt.Errorf("%w: several Authorization headers", errInvalidToken)
		}
		scheme, tok, ok := strings.Cut(strings.TrimSpace(hs[0]), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", fromHeader, fmt.Errorf("%w: Authorization header is not \"Bearer <token>\"", errInvalidToken)
		}
		return strings.TrimSpace(tok), fromHeader, nil
	}
	if qs, ok := r.URL.Query()["authorization"]; ok {
		if len(qs) != 1 {
			return "", fromQuery, fmt.Errorf("%w: several authorization query parameters", errInvalidToken)
		}
		return qs[0], fromQuery, nil
	}
	if c, err := r.Cookie(cookieName); err == nil {
		return c.Value, fromCookie, nil
	}
	return "", fromNone, errNoToken
}
