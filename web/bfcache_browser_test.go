package web_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// demoPageSubscribers is what the demo page holds at the hub: the feed, the
// plain EventSource on the private topic, and the private HubEventSource.
const demoPageSubscribers = 3

// dashboardSubscribers is what the dashboard holds at the hub: its topic
// view (the figures stream is the web package's, not the hub's).
const dashboardSubscribers = 1

// TestBrowserBackForwardCache goes from the demo page to the dashboard and
// back through history, more times than Chromium's six connections per
// host over HTTP/1.1, with the back/forward cache on (browsertest does not
// turn it off; the test checks every return is a restore from it). A page
// in that cache that kept its streams open would hold them at the hub and
// in the browser's connection pool: the hub would count it as a
// subscriber, and once six connections were held the next navigation
// would wait for a free one forever. The pages close their streams on
// pagehide and reopen them on a persisted pageshow, from their last event
// ID: the hub counts only the page shown, every navigation goes through,
// and the restored feed goes on with no gap.
func TestBrowserBackForwardCache(t *testing.T) {
	s := newStack(t)
	ctx := newBrowser(t)
	var mu sync.Mutex
	var notUsed []string
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*page.EventBackForwardCacheNotUsed); ok {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range e.NotRestoredExplanations {
				notUsed = append(notUsed, string(r.Reason))
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	subscribers := func() int64 { return s.hub.Stats().Subscribers }
	waitSubscribers := func(what string, want int64) {
		t.Helper()
		deadline := time.Now().Add(browserWait)
		for subscribers() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the hub counts %d subscribers, want %d", what, subscribers(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Each round opens a new demo page (a new history entry: the one
	// before it stays in the cache), leaves it for the dashboard and comes
	// back to it.
	const rounds = 8
	for i := 1; i <= rounds; i++ {
		round := fmt.Sprintf("round %d: ", i)
		run(t, ctx, round+"open the demo page", chromedp.Navigate(s.URL()+"/?round="+itoa(i)))
		waitFor(t, ctx, round+"feed and private panel open",
			`document.getElementById('state').textContent === 'open' && document.getElementById('priv-state').textContent === 'open' &&
			 document.querySelectorAll('#updates li[data-seq]').length >= 3`)
		// Only this page's streams: the pages in the cache hold none.
		waitSubscribers(round+"the demo page shown", demoPageSubscribers)
		eval[bool](t, ctx, `(() => {
			window.shows = [];
			addEventListener('pageshow', (e) => window.shows.push(e.persisted));
			return true;
		})()`)
		recordMarks(t, ctx)
		last := seqs(t, ctx)

		run(t, ctx, round+"go to the dashboard", chromedp.Navigate(s.URL()+"/dashboard?round="+itoa(i)))
		waitFor(t, ctx, round+"the dashboard's streams open",
			`document.getElementById('topic-state').textContent === 'open' && document.getElementById('stats-state').textContent === 'open'`)
		waitSubscribers(round+"the dashboard shown, the demo page hidden", dashboardSubscribers)

		back(t, ctx, round+"back to the demo page")
		if !eval[bool](t, ctx, `Array.isArray(window.shows) && window.shows.length === 1 && window.shows[0] === true`) {
			mu.Lock()
			why := append([]string(nil), notUsed...)
			mu.Unlock()
			t.Fatalf("%s the demo page was not restored from the back/forward cache (not restored because: %q)", round, why)
		}
		top := last[len(last)-1]
		waitFor(t, ctx, round+"feed open again and moved on",
			`document.getElementById('state').textContent === 'open' && +document.querySelector('#updates li[data-seq]').dataset.seq >= `+itoa(top+5))
		waitSubscribers(round+"the demo page shown again, the dashboard gone", demoPageSubscribers)
		after := seqs(t, ctx)
		if err := contiguous(after); err != nil {
			t.Errorf("%s after the return: %v", round, err)
		}
		if g := eval[string](t, ctx, `document.getElementById('gaps').dataset.gaps ?? '0'`); g != "0" {
			t.Errorf("%s the page marks %s gaps", round, g)
		}
		// The feed was closed and opened again after its last event, not
		// kept open in the cache.
		checkReconnected(t, ctx, round+"after the return")
	}
}

// back goes back one entry in the tab's history and waits until the
// previous page shows. chromedp.NavigateBack waits for a load event, which
// a page restored from the back/forward cache does not fire.
func back(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	h, err := chromedp.Call(tctx, page.GetNavigationHistory, cdp.Empty{})
	if err != nil || h.CurrentIndex < 1 {
		t.Fatalf("%s: history %v: %v", what, h, err)
	}
	want := h.Entries[h.CurrentIndex-1]
	if _, err := chromedp.Call(tctx, page.NavigateToHistoryEntry, page.NavigateToHistoryEntryParams{EntryID: want.ID}); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for {
		// Evaluating while the page changes can fail: try again.
		url, err := chromedp.Run(tctx, chromedp.Evaluate[string](`document.readyState === 'complete' ? location.href : ''`))
		if err == nil && url == want.URL {
			return
		}
		if tctx.Err() != nil {
			path := screenshot(t, ctx, "timeout")
			t.Fatalf("%s: %s not shown after %v (last: %q, %v; screenshot %s)", what, want.URL, browserWait, url, err, path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
