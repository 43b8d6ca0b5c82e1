package web_test

import (
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/demo"
	"github.com/ssehub/ssehub/web"
)

func TestBrowserDashboardFiguresMove(t *testing.T) {
	s := newStack(t)
	ctx := newBrowser(t)
	run(t, ctx, "open the dashboard", chromedp.Navigate(s.URL()+"/dashboard"))
	// The page's own topic view is a subscriber.
	waitFor(t, ctx, "figures shown", `document.getElementById('stats-state').textContent === 'open' &&
		+document.getElementById('fig-subscribers').textContent >= 1 &&
		parseFloat(document.getElementById('fig-published-rate').textContent) > 0`)
	base := eval[int](t, ctx, `+document.getElementById('fig-subscribers').textContent`)

	const n = 3
	var stops []func()
	for range n {
		stops = append(stops, subscribe(t, s.HubURL("127.0.0.1"), demo.Topic))
	}
	waitFor(t, ctx, "subscribers counted", `+document.getElementById('fig-subscribers').textContent === `+itoa(base+n)+
		` && parseFloat(document.getElementById('fig-delivered-rate').textContent) > 0`)
	waitFor(t, ctx, "topic view and charts filled", `+document.getElementById('topic-count').textContent >= 3 &&
		document.querySelectorAll('#topic-events li').length >= 3 &&
		document.getElementById('fig-history').textContent !== '–'`)
	screenshot(t, ctx, "dashboard")

	for _, stop := range stops {
		stop()
	}
	waitFor(t, ctx, "subscribers gone", `+document.getElementById('fig-subscribers').textContent === `+itoa(base))
}

// TestBrowserDashboardTopicView checks the topic view: the history the hub
// keeps for a topic, cut to the last N, then the live tail.
func TestBrowserDashboardTopicView(t *testing.T) {
	s := newStack(t)
	hubURL := s.HubURL("127.0.0.1")
	const topic = "https://example.com/history"
	var ids []string
	for i := range 30 {
		ids = append(ids, publish(t, hubURL, url.Values{"topic": {topic}, "data": {"update " + itoa(i)}}))
	}
	ctx := newBrowser(t)
	run(t, ctx, "show the topic",
		chromedp.Navigate(s.URL()+"/dashboard"),
		chromedp.SetValue(chromedp.ID("topic-input"), topic),
		chromedp.SetValue(chromedp.ID("topic-keep"), "5"),
		press("#topic-form button[type=submit]"),
	)
	shown := `[...document.querySelectorAll('#topic-events li')].map(li => li.dataset.id)`
	waitFor(t, ctx, "history replayed", `+document.getElementById('topic-count').textContent === 30 && `+shown+`.length === 5`)
	if got, want := eval[[]string](t, ctx, shown), reversed(ids[25:]); !slices.Equal(got, want) {
		t.Errorf("topic view shows %v, want the last five, newest first: %v", got, want)
	}
	live := publish(t, hubURL, url.Values{"topic": {topic}, "data": {"live"}})
	waitFor(t, ctx, "live update", `+document.getElementById('topic-count').textContent === 31 && `+shown+`[0] === "`+live+`"`)
	if n := eval[int](t, ctx, shown+`.length`); n != 5 {
		t.Errorf("topic view shows %d updates, want 5", n)
	}
	screenshot(t, ctx, "topic")
}

func reversed(s []string) []string {
	s = slices.Clone(s)
	slices.Reverse(s)
	return s
}

// TestBrowserDashboardStatsAccessToken: off the development defaults the
// dashboard's figures need a token; a Mercure 1.0 access token given in
// the page's fragment (/dashboard#token=…) goes in an Authorization header,
// never in a URL (draft-dunglas-mercure-08, "Presenting the Access Token":
// no token in the query string, RFC 9700), and its subscribe grant on
// /dashboard/events opens the stream. Without a token the stream is
// refused and the page shows it closed.
func TestBrowserDashboardStatsAccessToken(t *testing.T) {
	s := &stack{t: t, path: filepath.Join(t.TempDir(), "hub.db"), addr: "127.0.0.1:0", noDemo: true, authorizeStats: true}
	s.start()
	t.Cleanup(s.stop)
	ctx := newBrowser(t)
	rec := recordRequests(t, ctx, func(r *network.Request) bool { return strings.Contains(r.URL, web.StatsPath) })
	run(t, ctx, "open the dashboard without a token", chromedp.Navigate(s.URL()+"/dashboard"))
	waitFor(t, ctx, "figures refused, and the page says what they need", `document.getElementById('stats-state').textContent === 'closed' &&
		!document.getElementById('stats-closed').hidden && document.getElementById('stats-closed').textContent.includes('#token=')`)

	tok := grantedToken(t, s.HubURL("127.0.0.1"), nil, []hub.Selector{{Syntax: hub.SyntaxExact, Text: web.StatsPath}})
	// A fragment alone would not load the page again.
	run(t, ctx, "open the dashboard with a token", chromedp.Navigate("about:blank"), chromedp.Navigate(s.URL()+"/dashboard#token="+tok))
	waitFor(t, ctx, "figures shown", `document.getElementById('stats-state').textContent === 'open' &&
		document.getElementById('fig-goroutines').textContent !== '–'`)
	screenshot(t, ctx, "stats-token")
	if !eval[bool](t, ctx, `document.getElementById('stats-closed').hidden`) {
		t.Error("the page shows the figures and the notice that they were refused")
	}

	reqs := rec.take()
	bearer := false
	for _, r := range reqs {
		if strings.Contains(r.URL, tok) {
			t.Errorf("the token went in a URL: %s", r.URL)
		}
		bearer = bearer || header(r, "Authorization") == "Bearer "+tok
	}
	if !bearer {
		t.Errorf("no request for the figures sent the token in an Authorization header (%d requests)", len(reqs))
	}
}
