package mercure

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// publish answers POST /.well-known/mercure. Its form is the same in both
// dialects; the token says which one the publisher speaks.
func (h *Handler) publish(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	d := h.publishDialect(r)
	claims, err := h.authorizePublisher(r, d)
	if err != nil {
		h.authError(w, r, d, err)
		return
	}
	u, err := h.readUpdate(w, r)
	if err != nil {
		h.writeBodyError(w, err)
		return
	}
	if err := h.checkReserved(r, u); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	for _, t := range u.Topics {
		if !h.mayPublish(claims, t) {
			// Mercure 1.0, "Publishers": every topic, canonical and
			// alternate, needs a grant, or nothing is published.
			h.authError(w, r, d, fmt.Errorf("topic: the token may not publish to %q", t))
			return
		}
	}
	id, err := h.hub.Publish(r.Context(), u)
	if err != nil {
		switch {
		case errors.Is(err, hub.ErrInvalidUpdate):
			writeError(w, http.StatusBadRequest, err.Error())
		default:
			// Never 200 for an update that is not stored: the publisher
			// must be able to retry.
			h.log.ErrorContext(r.Context(), "mercure: publish failed", "topic", u.Topics[0], "err", err)
			writeError(w, http.StatusServiceUnavailable, "update not stored: "+err.Error())
		}
		return
	}
	if h.observePub != nil {
		h.observePub(time.Since(start))
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	io.WriteString(w, id)
}

// mayPublish reports whether claims grant publishing to topic.
func (h *Handler) mayPublish(c *Claims, topic string) bool {
	if !c.access {
		return h.matchAny(c.Publish, topic)
	}
	for _, sel := range c.pubGrants {
		if h.hub.MatchSelector(sel, topic) {
			return true
		}
	}
	return false
}

// authorizePublisher verifies the request's token for dialect d.
func (h *Handler) authorizePublisher(r *http.Request, d dialect) (*Claims, error) {
	t, err := h.findToken(r, d)
	if err != nil {
		return nil, err
	}
	if t.src == fromCookie {
		// A browser sends cookies along with any site's form post; only
		// pages of the allowed origins may publish with one.
		if err := h.checkCookieOrigin(r); err != nil {
			if d == dialect1 {
				// Mercure 1.0, "Security Considerations": invalid_request.
				return nil, fmt.Errorf("%w: %w", errInvalidRequest, err)
			}
			return nil, fmt.Errorf("%w: %w", errInvalidToken, err)
		}
	}
	if d == dialect1 {
		return h.verifyAccess(r, t, true)
	}
	return h.pub.verify(r.Context(), t.raw)
}

// checkCookieOrigin accepts a cookie-authorized request only when its
// Origin (or, failing that, Referer) is a CORS origin listed explicitly:
// the wildcard "*" never vouches for a page, since any site would then
// publish as each of its visitors.
func (h *Handler) checkCookieOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		if ref, err := url.Parse(r.Header.Get("Referer")); err == nil && ref.Scheme != "" && ref.Host != "" {
			origin = ref.Scheme + "://" + ref.Host
		}
	}
	if origin == "" {
		return errors.New("a cookie token needs an Origin or Referer header")
	}
	if !h.cors.listed(origin) {
		return fmt.Errorf("a cookie token is not accepted from origin %q: only origins listed explicitly in the CORS origins may publish with one, never through \"*\"", origin)
	}
	return nil
}

// readUpdate parses and validates the publish form. Errors name the field.
func (h *Handler) readUpdate(w http.ResponseWriter, r *http.Request) (*hub.Update, error) {
	form, err := h.readForm(w, r)
	if err != nil {
		return nil, err
	}
	return parseUpdate(form, h.maxTopics)
}

// matchAny reports whether one of selectors matches topic.
func (h *Handler) matchAny(selectors []string, topic string) bool {
	for _, s := range selectors {
		if h.hub.Match(s, topic) {
			return true
		}
	}
	return false
}
