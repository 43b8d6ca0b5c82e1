package mercure

import (
	"net/http"
	"strings"
	"testing"
)

// TestSubscribeAuthorizationAttacks holds the subscribe side to the same
// attacks as TestPublishAuthorizationMatrix holds publishing: every forged,
// confused, expired or premature token gets 401, also on a hub that lets
// anonymous subscribers in, where a bad token must not fall back to an
// anonymous subscription either.
func TestSubscribeAuthorizationAttacks(t *testing.T) {
	p := rsaPair(t)
	for _, anonymous := range []bool{false, true} {
		e := newEnv(t, Options{Anonymous: anonymous}, hmacPair(), p)
		attacks := map[string]string{
			"alg none":                         noneToken(t),
			"HS256 signed with the public key": keyPair{alg: "HS256", sign: p.verify}.mint(t, subClaims("*"), nil),
			"expired":                          p.mint(t, subClaims("*"), expired()),
			"not yet valid":                    p.mint(t, subClaims("*"), notYet()),
			"tampered claims":                  tamper(p.mint(t, subClaims("x"), nil)),
			"another RSA key":                  rsaPair(t).mint(t, subClaims("*"), nil),
			"publisher's key and algorithm":    hmacPair().mint(t, subClaims("*"), nil),
			"signature stripped":               strings.Join(strings.Split(p.mint(t, subClaims("*"), nil), ".")[:2], ".") + ".",
		}
		for name, tok := range attacks {
			for _, via := range []string{"header", "cookie", "query"} {
				r := e.subscribeReq("topic=x", "")
				switch via {
				case "header":
					r.Header.Set("Authorization", "Bearer "+tok)
				case "cookie":
					r.AddCookie(&http.Cookie{Name: DefaultCookieName, Value: tok})
				case "query":
					r.URL.RawQuery += "&authorization=" + tok
				}
				s, resp, body := e.open(r)
				if s != nil {
					s.close()
				}
				if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
					t.Errorf("anonymous=%v, %s via %s: %d %q (WWW-Authenticate %q), want 401 invalid_token",
						anonymous, name, via, resp.StatusCode, strings.TrimSpace(body), resp.Header.Get("WWW-Authenticate"))
				}
			}
		}
	}
}
