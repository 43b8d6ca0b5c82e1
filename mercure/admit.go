package mercure

import (
	"net/http"
	"time"
)

// Admit is the gate of a long-lived stream served beside the Mercure
// endpoint, such as the dashboard's figures: when authorize is set it
// requires a subscriber token (as for the subscriptions API: the
// Authorization header, the authorization query parameter or the cookie)
// whose subscribe selectors match resource, and it counts the stream as a
// subscription against MaxSubscriptions and MaxSubscriptionsPerClient. It
// returns the function ending the count, to call once when the stream
// ends, and the token's expiry, when the stream must end as a
// subscription's does (zero for none); or, refusing, it answers the
// request itself (401 or 403, 429 or 503 with Retry-After) and returns
// false.
func (h *Handler) Admit(w http.ResponseWriter, r *http.Request, resource string, authorize bool) (release func(), until time.Time, ok bool) {
	if authorize {
		c, err := h.authorizeAPI(r, resource)
		if err != nil {
			writeAuthError(w, err, "")
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
