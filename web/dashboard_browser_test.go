package web_test

import (
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
