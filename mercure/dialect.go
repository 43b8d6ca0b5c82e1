package mercure

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// dialect is the revision of the Mercure protocol a request speaks. Both
// are served on one endpoint and chosen per request: topic= and the
// mercure claim are 0.x, match* parameters and at+jwt tokens are 1.0.
type dialect uint8

const (
	dialect0 dialect = iota // Mercure 0.x, before draft-dunglas-mercure-08
	dialect1                // Mercure 1.0, draft-dunglas-mercure-08
)

// errInvalidRequest is wrapped by errors about how a token was presented:
// RFC 6750's invalid_request, a 400.
var errInvalidRequest = errors.New("mercure: invalid request")

// errMixed is wrapped by errors about a request that mixes the dialects.
var errMixed = fmt.Errorf("%w: Mercure 0.x and 1.0 mixed", errInvalidRequest)

// token is a token found on a request, with where it came from and what
// its header says.
type token struct {
	raw string
	src tokenSource
	hdr tokenHeader
}

// findToken finds the token of a request in dialect d.
//
// 1.0 ("Presenting the Access Token"): the Authorization header, which
// wins, or else the access token cookie; never the query string (RFC 9700),
// and a malformed header is an invalid_request.
//
// 0.x: the Authorization header, the authorization query parameter, the
// mercureAuthorization cookie, as before.
func (h *Handler) findToken(r *http.Request, d dialect) (token, error) {
	var (
		t   token
		err error
	)
	if d == dialect0 {
		t.raw, t.src, err = extractToken(r, h.cookieName)
	} else {
		t.raw, t.src, err = h.extractAccessToken(r)
	}
	if err != nil {
		return t, err
	}
	if t.hdr, err = peekToken(t.raw); err != nil {
		return t, err
	}
	return t, nil
}

// extractAccessToken finds a Mercure 1.0 request's token.
func (h *Handler) extractAccessToken(r *http.Request) (string, tokenSource, error) {
	if hs, ok := r.Header["Authorization"]; ok {
		if len(hs) != 1 {
			return "", fromHeader, fmt.Errorf("%w: several Authorization headers", errInvalidRequest)
		}
		scheme, tok, ok := strings.Cut(strings.TrimSpace(hs[0]), " ")
		if tok = strings.TrimSpace(tok); !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return "", fromHeader, fmt.Errorf("%w: the Authorization header must be \"Bearer <token>\"", errInvalidRequest)
		}
		return tok, fromHeader, nil
	}
	q := r.URL.Query()
	for _, name := range []string{"access_token", "authorization"} {
		if q.Has(name) {
			return "", fromQuery, fmt.Errorf("%w: %s: Mercure 1.0 takes no token in the query string (RFC 9700); send an Authorization header or the %s cookie", errInvalidRequest, name, h.accessCookie)
		}
	}
	if c, err := r.Cookie(h.accessCookie); err == nil {
		return c.Value, fromCookie, nil
	}
	return "", fromNone, errNoToken
}

// publishDialect picks a publish request's dialect, which its form cannot
// tell: the token's. An at+jwt token, in the header or the access token
// cookie, is 1.0; a token of another type, the authorization query
// parameter or the 0.x cookie are 0.x. With no token, the hub's answer is
// the 1.0 one unless only 0.x is spoken.
func (h *Handler) publishDialect(r *http.Request) dialect {
	if h.only1 {
		return dialect1
	}
	if hs := r.Header.Values("Authorization"); len(hs) > 0 {
		if _, tok, ok := strings.Cut(strings.TrimSpace(hs[0]), " "); ok {
			if hdr, err := peekToken(strings.TrimSpace(tok)); err == nil && !hdr.access {
				return dialect0
			}
		}
		return dialect1
	}
	if r.URL.Query().Has("authorization") {
		return dialect0
	}
	if _, err := r.Cookie(h.accessCookie); err == nil {
		return dialect1
	}
	if _, err := r.Cookie(h.cookieName); err == nil {
		return dialect0
	}
	return dialect1
}

// checkTokenDialect refuses a token of the other dialect than the
// request's: an at+jwt token on a 0.x request, or a 0.x token on a 1.0
// request while the hub speaks 0.x (a 1.0-only hub just finds it invalid).
func (h *Handler) checkTokenDialect(t token, d dialect) error {
	switch {
	case d == dialect0 && t.hdr.access:
		return fmt.Errorf("%w: an at+jwt access token is Mercure 1.0: subscribe with match= or match_urlpattern=, not topic=", errMixed)
	case d == dialect1 && !t.hdr.access && !h.only1:
		return fmt.Errorf("%w: a token without typ at+jwt is Mercure 0.x: subscribe with topic=, or present a Mercure 1.0 access token", errMixed)
	}
	return nil
}

// verifyAccess verifies a Mercure 1.0 access token for role ("publisher"
// or "subscriber") and checks that r's hub is its audience.
func (h *Handler) verifyAccess(r *http.Request, t token, publisher bool) (*Claims, error) {
	if !t.hdr.access {
		return nil, fmt.Errorf("%w: not an RFC 9068 access token: the typ header must be at+jwt", errInvalidToken)
	}
	is := h.issuers[t.hdr.iss]
	if is == nil {
		// Only the keys of the issuer the token names may verify it.
		return nil, fmt.Errorf("%w: iss %q is not a trusted issuer of this hub", errInvalidToken, t.hdr.iss)
	}
	v := is.sub
	if publisher {
		v = is.pub
	}
	if v == nil {
		return nil, fmt.Errorf("%w: issuer %q has no subscriber key on this hub", errInvalidToken, t.hdr.iss)
	}
	c, err := v.verify(r.Context(), t.raw)
	if err != nil {
		return nil, err
	}
	if res := h.resourceID(r); !c.audienceHas(res) {
		return nil, fmt.Errorf("%w: aud does not contain this hub's resource identifier %q", errInvalidToken, res)
	}
	return c, nil
}

// resourceID returns the hub's OAuth 2.0 resource identifier, the audience
// of its access tokens: the configured one, or else derived from the
// request as the hub's URL, <scheme>://<host>/.well-known/mercure, the
// origin the client used (requestOrigin: behind a trusted proxy, the one
// the proxy says). Mercure 1.0 ("Token Validation") wants hubs configured
// with it; deriving it serves a hub reachable under several names.
func (h *Handler) resourceID(r *http.Request) string {
	if h.resource != "" {
		return h.resource
	}
	return requestOrigin(r, h.trusted) + Path
}

// metadataURL is where the hub's RFC 9728 metadata is, as the
// resource_metadata of its challenges.
func (h *Handler) metadataURL(r *http.Request) string {
	res := h.resourceID(r)
	origin, path := res, ""
	if i := strings.Index(res, "://"); i >= 0 {
		if j := strings.IndexByte(res[i+3:], '/'); j >= 0 {
			origin, path = res[:i+3+j], res[i+3+j:]
		}
	}
	return origin + MetadataPathPrefix + path
}
