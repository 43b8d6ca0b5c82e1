package web

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
)

// tokenResponse is the token endpoints' answer.
type tokenResponse struct {
	Token string `json:"token,omitempty"`
	Error string `json:"error,omitempty"`
}

// needToken explains what publishing from the demo page needs when the hub
// does not hand out tokens.
const needToken = "publishing from this page needs the hub's development defaults " +
	"(a generated key, listening on a loopback address); " +
	"otherwise publish with a Mercure 1.0 access token whose publish grant covers the topic, " +
	"for example with `sse token` and `sse publish`"

// needSubscribeToken explains what the private panel needs when the hub does
// not hand out tokens.
const needSubscribeToken = "a subscriber token from this page needs the hub's development defaults; " +
	"otherwise paste a Mercure 1.0 access token whose subscribe grant matches the topic, " +
	"for example from `sse token --subscribe TOPIC`"

// token hands the demo page a short-lived token that mint makes: a publish
// token for the form, a subscriber token for the private panel. It is a
// POST that must come from the pages' own origin: a token is a credential,
// and browsers send Sec-Fetch-Site with every fetch, so another site's page
// cannot obtain one through a visitor's browser.
//
// The Host must be a loopback name as well: a DNS-rebinding page, served
// from the attacker's name that now resolves to 127.0.0.1, is same-origin
// with itself, so Sec-Fetch-Site alone would let it in; its requests carry
// the attacker's name as Host.
func (h *handler) token(w http.ResponseWriter, r *http.Request, mint func(*http.Request) (string, bool), need string) {
	w.Header().Set("Cache-Control", "no-store")
	if !loopbackHost(r.Host) {
		writeJSON(w, http.StatusForbidden, tokenResponse{Error: "Host: a token is only given to pages loaded from localhost, 127.0.0.1 or [::1], not " + r.Host})
		return
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		writeJSON(w, http.StatusForbidden, tokenResponse{Error: "Sec-Fetch-Site: a token is only given to this origin's pages"})
		return
	}
	tok, ok := mint(r)
	if !ok || tok == "" {
		writeJSON(w, http.StatusForbidden, tokenResponse{Error: need})
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

// loopbackHost reports whether host, a Host header value, names the loopback
// interface: localhost, 127.0.0.1 or [::1], with or without a port.
func loopbackHost(host string) bool {
	name := host
	if h, port, err := net.SplitHostPort(host); err == nil {
		if port == "" || strings.Trim(port, "0123456789") != "" {
			return false
		}
		name = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		name = host[1 : len(host)-1]
	}
	return strings.EqualFold(name, "localhost") || name == "127.0.0.1" || name == "::1"
}
