package mercure

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// cors answers cross-origin requests. Origins listed explicitly get their
// origin echoed with Access-Control-Allow-Credentials, because subscribers
// authenticate with cookies (EventSource withCredentials). The wildcard "*"
// lets every other origin read without credentials only: it is answered
// with "Access-Control-Allow-Origin: *" and no Allow-Credentials, which
// browsers refuse to combine with a credentialed request (Fetch standard,
// "CORS protocol and credentials"), so a page on any site can read
// public updates but never a visitor's private ones.
type cors struct {
	any     bool
	origins map[string]bool // serialized origins: scheme://host[:port]
}

func newCORS(origins []string) (cors, error) {
	c := cors{origins: make(map[string]bool, len(origins))}
	for _, o := range origins {
		if o == "*" {
			c.any = true
			continue
		}
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return cors{}, fmt.Errorf("mercure: CORS origin %q is not an origin like https://example.com", o)
		}
		c.origins[strings.ToLower(u.Scheme+"://"+u.Host)] = true
	}
	return c, nil
}

// enabled reports whether any origin is allowed.
func (c cors) enabled() bool { return c.any || len(c.origins) > 0 }

// listed reports whether origin (an Origin header value) is one of the
// origins listed explicitly, which alone may make credentialed requests.
// The wildcard never counts.
func (c cors) listed(origin string) bool {
	if origin == "" || origin == "null" {
		return false
	}
	return c.origins[strings.ToLower(origin)]
}

// allowed reports whether origin may make requests at all, with
// credentials (listed) or without (the wildcard).
func (c cors) allowed(origin string) bool {
	return origin != "" && (c.any || c.listed(origin))
}

// apply sets the CORS response headers for r and reports whether r is a
// preflight request, which the caller answers with preflight.
func (c cors) apply(w http.ResponseWriter, r *http.Request) bool {
	if !c.enabled() {
		return false
	}
	h := w.Header()
	// The answer depends on Origin even when it is a refusal, so caches
	// must not serve one origin's answer to another.
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	isPreflight := r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != ""
	if isPreflight {
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
	}
	switch {
	case c.listed(origin):
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	case c.allowed(origin):
		h.Set("Access-Control-Allow-Origin", "*")
	default:
		return isPreflight
	}
	if !isPreflight {
		// Mercure 1.0's resume answer and the subscriptions API's cursor
		// (a Link field, "Subscription API") must be readable too.
		h.Set("Access-Control-Expose-Headers", "Last-Event-ID, Mercure-Last-Event-ID, Link")
	}
	return isPreflight
}

// preflight answers a preflight request whose CORS headers apply has set.
func (c cors) preflight(w http.ResponseWriter, r *http.Request) {
	if !c.allowed(r.Header.Get("Origin")) {
		writeError(w, http.StatusForbidden, "Origin: "+r.Header.Get("Origin")+" is not allowed")
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, QUERY, POST, OPTIONS")
	// Authorization is named even for the wildcard: "*" in this header
	// never covers it (Fetch standard, CORS-preflight fetch), and a page
	// holding a token of its own may send it without credentials.
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID, Cache-Control")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}
