package mercure

import (
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/hub"
)

// The Mercure 1.0 side of the tests: tokens are RFC 9068 access tokens of
// testIssuer, whose audience is the test server's hub URL.
const testIssuer = "https://issuer.example"

// newEnv1 is newEnv with testIssuer trusted for pub's and sub's keys.
func newEnv1(t *testing.T, opts Options, pub, sub keyPair) *env {
	t.Helper()
	return newEnv1Log(t, opts, pub, sub, hub.MemoryLogOptions{})
}

// newEnv1Log is newEnv1 with a log of the given options.
func newEnv1Log(t *testing.T, opts Options, pub, sub keyPair, lo hub.MemoryLogOptions) *env {
	t.Helper()
	opts.Issuers = append(opts.Issuers, Issuer{ID: testIssuer, PublisherKey: pub.verify, SubscriberKey: sub.verify, Algorithm: pub.alg, SubscriberAlgorithm: sub.alg})
	return newEnvLog(t, opts, pub, sub, lo)
}

// resource is the resource identifier the hub derives from requests to
// the test server.
func (e *env) resource() string { return e.srv.URL + Path }

// grantJSON is an authorization detail of type AuthorizationDetailType.
func grantJSON(actions []string, topics ...map[string]any) map[string]any {
	return map[string]any{"type": AuthorizationDetailType, "actions": actions, "topics": topics}
}

func exactM(s string) map[string]any   { return map[string]any{"match": s} }
func patternM(s string) map[string]any { return map[string]any{"match": s, "match_type": "urlpattern"} }

// access returns valid claims of an access token for e's hub carrying the
// given authorization details.
func (e *env) access(details ...map[string]any) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":                   testIssuer,
		"aud":                   e.resource(),
		"sub":                   "urn:test",
		"exp":                   time.Now().Add(time.Hour).Unix(),
		"authorization_details": details,
	}
}

// mintAccess signs claims as an access token: typ at+jwt unless header
// says otherwise (a nil value deletes the header parameter).
func (p keyPair) mintAccess(t testing.TB, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(p.alg), claims)
	tok.Header["typ"] = "at+jwt"
	maps.Copy(tok.Header, header)
	for k, v := range tok.Header {
		if v == nil {
			delete(tok.Header, k)
		}
	}
	s, err := tok.SignedString(p.sign)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// pubToken and subToken grant publish or subscribe on the given exact
// matchers.
func (e *env) pubToken(matchers ...string) string {
	ms := make([]map[string]any, len(matchers))
	for i, m := range matchers {
		ms[i] = exactM(m)
	}
	return e.pub.mintAccess(e.t, e.access(grantJSON([]string{"publish"}, ms...)), nil)
}

func (e *env) subToken(ms ...map[string]any) string {
	return e.sub.mintAccess(e.t, e.access(grantJSON([]string{"subscribe"}, ms...)), nil)
}

// publish1 publishes form with a 1.0 token allowed to publish anywhere.
func (e *env) publish1(body string) string {
	e.t.Helper()
	resp, b := e.do(e.publishReq(body, e.pubToken("*")))
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("publish %s: %d %s", body, resp.StatusCode, b)
	}
	return b
}

// wantChallenge checks a Mercure 1.0 error answer: status, the RFC 6750
// error code in WWW-Authenticate ("" for none), and the resource_metadata
// pointing at the hub's metadata.
func (e *env) wantChallenge(t *testing.T, name string, resp *http.Response, body string, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s: status %d (%s), want %d", name, resp.StatusCode, strings.TrimSpace(body), status)
		return
	}
	www := resp.Header.Get("WWW-Authenticate")
	if !strings.HasPrefix(www, "Bearer") {
		t.Errorf("%s: WWW-Authenticate = %q, want a Bearer challenge", name, www)
	}
	if code == "" && strings.Contains(www, "error=") || code != "" && !strings.Contains(www, `error="`+code+`"`) {
		t.Errorf("%s: WWW-Authenticate = %q, want error %q", name, www, code)
	}
	md := `resource_metadata="` + e.srv.URL + MetadataPath + `"`
	if !strings.Contains(www, md) {
		t.Errorf("%s: WWW-Authenticate = %q, want %s", name, www, md)
	}
}

// waitDispatched waits until the hub has fanned out everything published,
// so that a live-only subscriber opened next starts after it.
func (e *env) waitDispatched() {
	e.t.Helper()
	last, err := e.log.Last(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	for deadline := time.Now().Add(waitTimeout); e.hub.Stats().Position < last; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			e.t.Fatal("the hub did not fan out what was published")
		}
	}
}
