package web

import (
	"encoding/json"
	"net/http"
)

// tokenResponse is the publish-token endpoint's answer.
type tokenResponse struct {
	Token string `json:"token,omitempty"`
	Error string `json:"error,omitempty"`
}

// needToken explains what publishing from the demo page needs when the hub
// does not hand out tokens.
const needToken = "publishing from this page needs the hub's development defaults " +
	"(a generated key, listening on a loopback address); " +
	"otherwise publish with a JWT whose mercure.publish claim covers the topic, " +
	"for example with `sse token` and `sse publish`"

// token hands the demo page's form a short-lived publish token. It is a POST
// that must come from the pages' own origin: a token is a credential, and
// browsers send Sec-Fetch-Site with every fetch, so another site's page
// cannot obtain one through a visitor's browser.
func (h *handler) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		writeJSON(w, http.StatusForbidden, tokenResponse{Error: "Sec-Fetch-Site: a publish token is only given to this origin's pages"})
		return
	}
	tok, ok := h.opts.PublishToken(r)
	if !ok || tok == "" {
		writeJSON(w, http.StatusForbidden, tokenResponse{Error: needToken})
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse{Token: tok})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
