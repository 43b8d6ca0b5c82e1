package mercure

import (
	"fmt"
	"net/http"
	"time"
)

// Admit is the gate of a long-lived stream served beside the Mercure
// endpoint, such as the dashboard's figures: when authorize is set it
// requires a subscriber token whose subscribe grants match resource: a
// Mercure 1.0 access token (the Authorization header or the access token
// cookie, never the query string), or a 0.x token as for the 0.x
// subscriptions API (the header, the authorization query parameter or the
// cookie), as publishDialect tells them apart. It counts the stream as a
// subscription against MaxSubscriptions and MaxSubscriptionsPerClient. It
// returns the function ending the count, to call once when the stream
// ends, and the token's expiry, when the stream must end as a
// subscription's does (zero for none); or, refusing, it answers the
// request itself (401 or 403, 429 or 503 with Retry-After) and returns
// false.
func (h *Handler) Admit(w http.ResponseWriter, r *http.Request, resource string, authorize bool) (release func(), until time.Time, ok bool) {
	if authorize {
		// The request names no matchers: its token tells the dialect.
		d := h.publishDialect(r)
		verify := h.authorizeAPI
		if d == dialect1 {
			verify = h.authorizeStream1
		}
		c, err := verify(r, resource)
		if err != nil {
			h.authError(w, r, d, err)
			return nil, time.Time{}, false
		}
		until = c.exp
	}
	release, refused := h.limits.acquire(clientAddr(r, h.trusted), nil)
	if refused != nil {
		h.refuseSubscription(w, refused)
		return nil, time.Time{}, false
	}
	return release, until, true
}

// authorizeStream1 verifies the Mercure 1.0 access token of r for Admit:
// one of its subscribe grants must match resource.
func (h *Handler) authorizeStream1(r *http.Request, resource string) (*Claims, error) {
	t, err := h.findToken(r, dialect1)
	if err != nil {
		return nil, err
	}
	c, err := h.verifyAccess(r, t, false)
	if err != nil {
		return nil, err
	}
	for _, sel := range c.subGrants {
		if h.hub.MatchSelector(sel, resource) {
			return c, nil
		}
	}
	return nil, fmt.Errorf("the token's subscribe grants do not cover %s", resource)
}
