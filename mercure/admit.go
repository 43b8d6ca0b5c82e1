package mercure

import "net/http"

// Admit is the gate of a long-lived stream served beside the Mercure
// endpoint, such as the dashboard's figures: when authorize is set it
// requires a subscriber token (as for the subscriptions API: the
// Authorization header, the authorization query parameter or the cookie)
// whose subscribe selectors match resource, and it counts the stream as a
// subscription against MaxSubscriptions and MaxSubscriptionsPerClient. It
// returns the function ending the count, to call once when the stream
// ends; or, refusing, it answers the request itself (401 or 403, 429 or
// 503 with Retry-After) and returns false.
func (h *Handler) Admit(w http.ResponseWriter, r *http.Request, resource string, authorize bool) (release func(), ok bool) {
	if authorize {
		if _, err := h.authorizeAPI(r, resource); err != nil {
			writeAuthError(w, err, "")
			return nil, false
		}
	}
	release, refused := h.limits.acquire(clientAddr(r, h.trusted), nil)
	if refused != nil {
		h.refuseSubscription(w, refused)
		return nil, false
	}
	return release, true
}
