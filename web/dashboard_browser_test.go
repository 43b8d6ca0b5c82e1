package web_test

import (
	"net/url"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/ssehub/ssehub/internal/demo"
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
		chromedp.Click(chromedp.CSS("#topic-form button[type=submit]")),
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
