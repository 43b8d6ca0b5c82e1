package mercure

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// fieldError is a request error about one named field (a form field, query
// parameter or header); its message starts with the field's name so that a
// client can tell what to fix.
type fieldError struct {
	Field  string
	Reason string
}

func (e *fieldError) Error() string { return e.Field + ": " + e.Reason }

func badField(field, format string, args ...any) error {
	return &fieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// writeError answers with status and a plain-text message.
func writeError(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

// writeAuthError answers an authorization failure the way RFC 6750 asks:
// 401 with a bare challenge when no token came, 401 invalid_token for a bad
// one, 403 insufficient_scope for a good token without the right, 400
// invalid_request for a token presented the wrong way. metadata, when not
// empty, is the RFC 9728 resource_metadata every Mercure 1.0 challenge
// carries.
func writeAuthError(w http.ResponseWriter, err error, metadata string) {
	rm := ""
	if metadata != "" {
		rm = `resource_metadata="` + metadata + `"`
	}
	challenge := func(code string) string {
		params := make([]string, 0, 2)
		if code != "" {
			params = append(params, `error="`+code+`"`)
		}
		if rm != "" {
			params = append(params, rm)
		}
		if len(params) == 0 {
			return "Bearer"
		}
		return "Bearer " + strings.Join(params, ", ")
	}
	switch {
	case errors.Is(err, errNoToken):
		w.Header().Set("WWW-Authenticate", challenge(""))
		writeError(w, http.StatusUnauthorized, "authorization: a token is required")
	case errors.Is(err, errInvalidRequest):
		w.Header().Set("WWW-Authenticate", challenge("invalid_request"))
		writeError(w, http.StatusBadRequest, "authorization: "+err.Error())
	case errors.Is(err, errInvalidToken):
		w.Header().Set("WWW-Authenticate", challenge("invalid_token"))
		// The parser's reason (expired, bad signature...) helps whoever
		// minted the token and tells an attacker nothing a forger lacks.
		writeError(w, http.StatusUnauthorized, "authorization: "+err.Error())
	default:
		w.Header().Set("WWW-Authenticate", challenge("insufficient_scope"))
		writeError(w, http.StatusForbidden, "authorization: "+err.Error())
	}
}

// authError answers an authorization failure of a request in dialect d:
// 1.0 challenges point at the hub's metadata.
func (h *Handler) authError(w http.ResponseWriter, r *http.Request, d dialect, err error) {
	md := ""
	if d == dialect1 {
		md = h.metadataURL(r)
	}
	writeAuthError(w, err, md)
}
