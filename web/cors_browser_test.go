package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/ssehub/ssehub/web"
)

// TestBrowserCrossOriginPrivate serves the page from one loopback origin,
// http://127.0.0.1:P, and the hub from another, http://localhost:Q. The
// page subscribes with withCredentials; the hub reads the
// mercureAuthorization cookie it holds for localhost. A browser without the
// cookie gets the public update and nothing private.
func TestBrowserCrossOriginPrivate(t *testing.T) {
	pages := httptest.NewUnstartedServer(nil)
	pageOrigin := "http://" + pages.Listener.Addr().String()
	s := newStack(t, pageOrigin)
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
	pageURL := pages.URL + "/?topic=" + url.QueryEscape(topic)

	authorized := newBrowser(t)
	cookie := token(t, "subscribe", []string{"https://ssehub.local/private/{id}"})
	u, _ := url.Parse(hubURL)
	port, _ := strconv.ParseInt(u.Port(), 10, 64)
	_, err = chromedp.Call(authorized, network.SetCookie, network.SetCookieParams{
		Name:  "mercureAuthorization",
		Value: cookie,
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
}
