package mercure

import (
	"errors"
	"fmt"
	"net/http"
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
// one, 403 insufficient_scope for a good token without the right.
func writeAuthError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errNoToken):
		w.Header().Set("WWW-Authenticate", `Bearer`)
		writeError(w, http.StatusUnauthorized, "authorization: a token is required")
	case errors.Is(err, errInvalidToken):
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		// The parser's reason (expired, bad signature...) helps whoever
		// minted the token and tells an attacker nothing a forger lacks.
		writeError(w, http.StatusUnauthorized, "authorization: "+err.Error())
	default:
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
		writeError(w, http.StatusForbidden, "authorization: "+err.Error())
	}
}
