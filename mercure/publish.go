package mercure

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// publish answers POST /.well-known/mercure.
func (h *Handler) publish(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	claims, err := h.authorizePublisher(r)
	if err != nil {
		writeAuthError(w, err)
		return
	}
	u, err := h.readUpdate(w, r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body: larger than %d bytes", mbe.Limit))
			return
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusRequestTimeout, fmt.Sprintf("body: not received within %v", h.bodyTimeout))
			return
		}
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	for _, t := range u.Topics {
		if !h.matchAny(claims.Publish, t) {
			writeAuthError(w, fmt.Errorf("topic: the token may not publish to %q", t))
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

// authorizePublisher verifies the request's token with the publisher key.
func (h *Handler) authorizePublisher(r *http.Request) (*Claims, error) {
	raw, src, err := extractToken(r, h.cookieName)
	if err != nil {
		return nil, err
	}
	if src == fromCookie {
		// A browser sends cookies along with any site's form post; only
		// pages of the allowed origins may publish with one.
		if err := h.checkCookieOrigin(r); err != nil {
			return nil, err
		}
	}
	return h.pub.verify(raw)
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
		return fmt.Errorf("%w: a cookie token needs an Origin or Referer header", errInvalidToken)
	}
	if !h.cors.listed(origin) {
		return fmt.Errorf("%w: a cookie token is not accepted from origin %q: only origins listed explicitly in the CORS origins may publish with one, never through \"*\"", errInvalidToken, origin)
	}
	return nil
}

// readUpdate parses and validates the publish form. Errors name the field.
func (h *Handler) readUpdate(w http.ResponseWriter, r *http.Request) (*hub.Update, error) {
	const formType = "application/x-www-form-urlencoded"
	// The exact type, as every client sends it, needs no parsing.
	if ct := r.Header.Get("Content-Type"); ct != formType {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != formType {
			return nil, badField("Content-Type", "must be %s, got %q", formType, ct)
		}
	}
	h.setBodyDeadline(w)
	r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, err
		}
		return nil, badField("body", "cannot be read: %v", err)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, badField("body", "malformed form: %v", err)
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
