package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/web"
)

// TestBrowserCrossOriginPrivate serves the page from one loopback origin,
// http://127.0.0.1:P, and the hub from another, http://localhost:Q, which
// lists the page's origin. The application on the hub's site signs the
// visitor in and sets the Mercure 1.0 access token cookie,
// __Secure-mercure_access_token (draft-dunglas-mercure-08, "Cookie": Secure,
// HttpOnly, the hub's path), which Chromium stores over http://localhost
// because it counts localhost as a secure origin: the development
// defaults' http://localhost:8080 works with the default name. The page's
// EventSource goes with credentials and match_urlpattern=, and gets the
// private update; a cookie-authorized publish from the listed origin is
// accepted ("Security Considerations": an allowed Origin). A browser
// without the cookie gets the public update and nothing private.
func TestBrowserCrossOriginPrivate(t *testing.T) {
	pages := httptest.NewUnstartedServer(nil)
	pageOrigin := "http://" + pages.Listener.Addr().String()
	const pattern = "https://ssehub.local/private/:id"
	grant := []hub.Selector{{Syntax: hub.SyntaxURLPattern, Text: pattern}}
	s := &stack{t: t, path: filepath.Join(t.TempDir(), "hub.db"), addr: "127.0.0.1:0", cors: []string{pageOrigin},
		login: func(hubURL string) *http.Cookie {
			// The page is on another site: only a SameSite=None cookie
			// goes along (the profile allows third-party cookies); a
			// same-site deployment uses Strict, as the spec recommends.
			return &http.Cookie{Name: mercure.DefaultAccessTokenCookie, Value: grantedToken(t, hubURL, grant, grant),
				Path: mercure.Path, Secure: true, HttpOnly: true, SameSite: http.SameSiteNoneMode}
		}}
	s.start()
	t.Cleanup(s.stop)
	hubURL := s.HubURL("localhost")
	h, err := web.New(web.Options{
		Hub:     s.hub,
		HubPath: hubURL,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	pages.Config.Handler = h
	pages.Start()
	t.Cleanup(pages.Close)

	const topic = "https://ssehub.local/private/1"
	pageURL := pages.URL + "/?match_urlpattern=" + url.QueryEscape(pattern)

	authorized := newBrowser(t)
	hubOrigin := strings.TrimSuffix(hubURL, mercure.Path)
	run(t, authorized, "sign in on the hub's site", chromedp.Navigate(hubOrigin+"/test-login"))
	cookies, err := chromedp.Call(authorized, network.GetCookies, network.GetCookiesParams{URLs: []string{hubURL}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cookies.Cookies) != 1 || cookies.Cookies[0].Name != mercure.DefaultAccessTokenCookie {
		t.Fatalf("Chromium kept %v for %s, want the %s cookie set over http://localhost", cookies.Cookies, hubURL, mercure.DefaultAccessTokenCookie)
	}
	// Another browser, fresh profile: no cookie.
	anonymous := newBrowser(t)

	for _, ctx := range []context.Context{authorized, anonymous} {
		run(t, ctx, "open the page", chromedp.Navigate(pageURL))
		waitFor(t, ctx, "cross-origin subscription open", `document.getElementById('sub-state').textContent === 'open'`)
	}

	private := publish(t, hubURL, url.Values{"topic": {topic}, "data": {"private data"}, "private": {"on"}})
	public := publish(t, hubURL, url.Values{"topic": {topic}, "data": {"public data"}})
	has := func(id string) string { return `document.querySelector('#sub-events li[data-id="` + id + `"]')` }

	waitFor(t, authorized, "authorized page gets both", has(private)+` && `+has(public))
	screenshot(t, authorized, "authorized")
	// Updates arrive in log order: the public one came after the private one.
	waitFor(t, anonymous, "anonymous page gets the public update", has(public))
	screenshot(t, anonymous, "anonymous")
	if eval[bool](t, anonymous, "!!"+has(private)) {
		t.Error("the page without the cookie received the private update")
	}
	if n := eval[int](t, anonymous, `document.querySelectorAll('#sub-events li').length`); n != 1 {
		t.Errorf("the page without the cookie shows %d events, want 1", n)
	}
	// The feed on the hub's origin works cross-origin too.
	waitFor(t, anonymous, "demo feed cross-origin", `document.querySelector('#updates li[data-seq]')`)

	// A publish with the cookie alone, from the listed origin.
	eval[bool](t, authorized, `(() => {
		window.pub = '';
		fetch(`+strconv.Quote(hubURL)+`, {method: 'POST', credentials: 'include',
			body: new URLSearchParams({topic: `+strconv.Quote(topic)+`, data: 'by cookie', private: 'on'})})
			.then(async (r) => { window.pub = r.status + ' ' + (await r.text()).trim(); }, (e) => { window.pub = 'failed: ' + e; });
		return true;
	})()`)
	waitFor(t, authorized, "the cookie publish answered", `window.pub !== ''`)
	status, id, _ := strings.Cut(eval[string](t, authorized, `window.pub`), " ")
	if status != "200" {
		t.Fatalf("a cookie-authorized publish from the listed origin %s: %s %s, want 200", pageOrigin, status, id)
	}
	waitFor(t, authorized, "the cookie publish arrives", has(id))
}

// setHubCookie gives the browser of ctx the hub's cookie name, as a login
// on the hub's site would have set it.
func setHubCookie(t *testing.T, ctx context.Context, hubURL, name, value string) {
	t.Helper()
	u, _ := url.Parse(hubURL)
	port, _ := strconv.ParseInt(u.Port(), 10, 64)
	_, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{
		Name:  name,
		Value: value,
		URL:   "http://" + u.Host + "/",
		Path:  "/.well-known/mercure",
		// The page's origin is another site: only a SameSite=None cookie
		// goes along, and that must be Secure, which Chromium allows on
		// http://localhost. The profile allows third-party cookies.
		SameSite: network.CookieSameSiteNone,
		Secure:   new(true),
		HTTPOnly: new(true),
		// Cookies are bound to the port they were set from; without one
		// this one would belong to port 443.
		SourcePort: port,
	})
	if err != nil {
		t.Fatalf("set the cookie: %v", err)
	}
}

// TestBrowserWildcardCORSWithoutCredentials is issue 19, item 2, in real
// Chromium: with --cors-origins '*' a page on any site may read public
// updates, but a visitor's cookie gets it nothing. The hub answers "*"
// without Access-Control-Allow-Credentials, so the browser fails the
// credentialed EventSource before the page sees a byte (Fetch standard,
// "CORS protocol and credentials"), and refuses the cookie-authorized
// publish the page forges, because "*" never vouches for an origin
// (Mercure 1.0, "Security Considerations": a cookie-authorized publish
// needs an allowed Origin or Referer). Both cookies: Mercure 1.0's access
// token cookie, and 0.x's mercureAuthorization, which 0.x clients still
// use and the same rule guards.
func TestBrowserWildcardCORSWithoutCredentials(t *testing.T) {
	for _, tc := range []struct {
		name, cookie, param string
		token               func(t *testing.T, hubURL string) string
	}{
		{"1.0", mercure.DefaultAccessTokenCookie, "match", func(t *testing.T, hubURL string) string {
			all := []hub.Selector{{Syntax: hub.SyntaxExact, Text: "*"}}
			return grantedToken(t, hubURL, all, all)
		}},
		{"0.x", mercure.DefaultCookieName, "topic", func(t *testing.T, _ string) string {
			tok, err := mercure.NewToken(testKey, mercure.Claims{Subscribe: []string{"*"}, Publish: []string{"*"}}, "", time.Now(), 10*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testWildcardCORS(t, tc.cookie, tc.param, tc.token)
		})
	}
}

func testWildcardCORS(t *testing.T, cookieName, param string, token func(t *testing.T, hubURL string) string) {
	s := newStack(t, "*")
	hubURL := s.HubURL("localhost")
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<!doctype html><title>another site</title><p>nothing to see")
	}))
	t.Cleanup(evil.Close)

	// The visitor is logged in on the hub's site: the cookie may
	// subscribe to the private topic and publish anywhere.
	b := newBrowser(t)
	setHubCookie(t, b, hubURL, cookieName, token(t, hubURL))
	run(t, b, "open the other site's page", chromedp.Navigate(evil.URL))

	const topic = "https://ssehub.local/private/2"
	eval[bool](t, b, `(() => {
		const hub = `+strconv.Quote(hubURL)+`, topic = `+strconv.Quote(topic)+`;
		const url = hub + '?`+param+`=' + encodeURIComponent(topic);
		window.r = {cred: [], credOpen: false, credErrors: 0, anon: [], anonOpen: false, forged: ''};
		const c = new EventSource(url, {withCredentials: true});
		c.onopen = () => { r.credOpen = true; };
		c.onerror = () => { r.credErrors++; };
		c.onmessage = e => r.cred.push(e.data);
		const a = new EventSource(url);
		a.onopen = () => { r.anonOpen = true; };
		a.onmessage = e => r.anon.push(e.data);
		return true;
	})()`)
	waitFor(t, b, "both subscriptions open or fail", `r.anonOpen && (r.credOpen || r.credErrors > 0)`)
	if eval[bool](t, b, `r.credOpen`) {
		t.Fatal("the other site's page opened a credentialed subscription: the hub allowed credentials to any origin")
	}
	// A simple form post needs no preflight, and no-cors sends it with the
	// cookie whatever the answer: only the hub can refuse it.
	eval[bool](t, b, `(() => {
		fetch(`+strconv.Quote(hubURL)+`, {method: 'POST', mode: 'no-cors', credentials: 'include',
			headers: {'Content-Type': 'application/x-www-form-urlencoded'},
			body: 'topic=' + encodeURIComponent(`+strconv.Quote(topic)+`) + '&data=forged'})
			.then(() => { r.forged = 'sent'; }, e => { r.forged = 'failed: ' + e; });
		return true;
	})()`)
	waitFor(t, b, "the forged publish is sent", `r.forged !== ''`)

	publish(t, hubURL, url.Values{"topic": {topic}, "data": {"private data"}, "private": {"on"}})
	publish(t, hubURL, url.Values{"topic": {topic}, "data": {"public data"}})
	waitFor(t, b, "the public update arrives", `r.anon.includes('public data')`)
	// Updates arrive in log order: anything forged or private came first.
	if got := eval[[]string](t, b, `r.anon`); len(got) != 1 {
		t.Errorf("the other site's page read %q, want only the public update (a forged publish was accepted?)", got)
	}
	if eval[bool](t, b, `r.credOpen || r.cred.length > 0`) {
		t.Errorf("the other site's page opened a credentialed subscription and read %q", eval[[]string](t, b, `r.cred`))
	}
}
