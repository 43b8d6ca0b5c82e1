package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/ssehub/ssehub/internal/demo"
	"github.com/ssehub/ssehub/mercure"
)

// hubRequests records the requests the browser of ctx sends to the Mercure
// endpoint (not the subscriptions API below it).
type hubRequests struct{ *recorder }

func recordHubRequests(t *testing.T, ctx context.Context) hubRequests {
	t.Helper()
	return hubRequests{recordRequests(t, ctx, func(r *network.Request) bool {
		u, err := url.Parse(r.URL)
		return err == nil && u.Path == mercure.Path && r.Method == "GET"
	})}
}

// take returns the queries of the requests recorded so far and forgets
// them.
func (h hubRequests) take() []url.Values {
	var qs []url.Values
	for _, r := range h.recorder.take() {
		u, _ := url.Parse(r.URL)
		qs = append(qs, u.Query())
	}
	return qs
}

// find returns the recorded query whose name parameter is value.
func find(reqs []url.Values, name, value string) (url.Values, bool) {
	for _, q := range reqs {
		if q.Get(name) == value {
			return q, true
		}
	}
	return nil, false
}

// TestBrowserPagesSubscribeMercure1: the demo page's feed and Subscribe
// panel and the dashboard's topic view subscribe in Mercure 1.0
// (draft-dunglas-mercure-08, "Subscription": match= for an exact topic,
// match_urlpattern= for a URL pattern; "Reconnection, State
// Reconciliation, and Event Sourcing": last_event_id=, the query parameter
// the browser's EventSource needs, as it sends no header on its first
// request), never with 0.x's topic= or lastEventID=, and receive their
// updates; the Subscribe panel still offers 0.x's topic= with a URI
// template on request.
func TestBrowserPagesSubscribeMercure1(t *testing.T) {
	s := newStack(t)
	hubURL := s.HubURL("127.0.0.1")
	ctx := newBrowser(t)
	rec := recordHubRequests(t, ctx)

	const pattern = "https://example.com/books/:id"
	run(t, ctx, "open the demo page with a URL pattern", chromedp.Navigate(s.URL()+"/?match_urlpattern="+url.QueryEscape(pattern)))
	waitFor(t, ctx, "feed and subscription open", `document.getElementById('state').textContent === 'open' &&
		document.getElementById('sub-state').textContent === 'open' && document.querySelector('#updates li[data-seq]')`)
	cursor := eval[string](t, ctx, `document.body.dataset.lastEventId`)
	if kind := eval[string](t, ctx, `document.getElementById('sub-kind').value`); kind != "match_urlpattern" {
		t.Errorf("the Subscribe panel shows kind %q for ?match_urlpattern=", kind)
	}
	id := publish(t, hubURL, url.Values{"topic": {"https://example.com/books/7"}, "data": {"by pattern"}})
	waitFor(t, ctx, "the pattern's update shown", `document.querySelector('#sub-events li[data-id="`+id+`"]')`)
	// The panel's own form: an exact topic.
	run(t, ctx, "subscribe to an exact topic",
		chromedp.SetValue(chromedp.ID("sub-topic"), "https://example.com/exact"),
		chromedp.SetValue(chromedp.ID("sub-kind"), "match"),
		press("#sub-form button[type=submit]"),
	)
	waitFor(t, ctx, "exact subscription open", `document.getElementById('sub-state').textContent === 'open'`)
	id = publish(t, hubURL, url.Values{"topic": {"https://example.com/exact"}, "data": {"exact"}})
	waitFor(t, ctx, "the exact topic's update shown", `document.querySelector('#sub-events li[data-id="`+id+`"]')`)

	run(t, ctx, "open the dashboard", chromedp.Navigate(s.URL()+"/dashboard"))
	waitFor(t, ctx, "the topic view replays the demo feed", `document.getElementById('topic-state').textContent === 'open' &&
		+document.getElementById('topic-count').textContent >= 1`)

	reqs := rec.take()
	for _, q := range reqs {
		if q.Has("topic") || q.Has("lastEventID") || !q.Has("match") && !q.Has("match_urlpattern") {
			t.Errorf("a page subscribed with %s, want Mercure 1.0's match= or match_urlpattern= only", q.Encode())
		}
	}
	if _, ok := find(reqs, "match_urlpattern", pattern); !ok {
		t.Errorf("no request with match_urlpattern=%s among %v", pattern, reqs)
	}
	if _, ok := find(reqs, "match", "https://example.com/exact"); !ok {
		t.Errorf("no request with match=https://example.com/exact among %v", reqs)
	}
	var feed, view bool
	for _, q := range reqs {
		if q.Get("match") == demo.Topic {
			// The feed starts after the page's discovery cursor.
			feed = feed || q.Get("last_event_id") == cursor && cursor != ""
			view = view || q.Get("last_event_id") == "earliest"
		}
	}
	if !feed || !view {
		t.Errorf("the feed (match=%s, last_event_id=%q) subscribed: %v; the topic view (last_event_id=earliest): %v; requests %v", demo.Topic, cursor, feed, view, reqs)
	}

	// Mercure 0.x on request: topic= with a URI template, in a browser of
	// its own.
	ctx = newBrowser(t)
	rec = recordHubRequests(t, ctx)
	const template = "https://example.com/books/{id}"
	run(t, ctx, "open the demo page with a 0.x topic selector", chromedp.Navigate(s.URL()+"/?topic="+url.QueryEscape(template)))
	waitFor(t, ctx, "0.x subscription open", `document.getElementById('sub-state').textContent === 'open'`)
	id = publish(t, hubURL, url.Values{"topic": {"https://example.com/books/8"}, "data": {"by template"}})
	waitFor(t, ctx, "the template's update shown", `document.querySelector('#sub-events li[data-id="`+id+`"]')`)
	if q, ok := find(rec.take(), "topic", template); !ok || q.Has("match") || q.Has("match_urlpattern") {
		t.Errorf("the 0.x subscription sent %v (found %v), want topic= only", q, ok)
	}
	if got := eval[string](t, ctx, `document.getElementById('sub-kind').value`); got != "topic" {
		t.Errorf("the Subscribe panel shows kind %q for ?topic=", got)
	}
	if hint := eval[string](t, ctx, `document.querySelector('#sub-form .hint').textContent`); !strings.Contains(hint, mercure.DefaultAccessTokenCookie) {
		t.Errorf("the Subscribe panel's hint does not name the access token cookie: %q", hint)
	}
	screenshot(t, ctx, "mercure1")
}

// TestBrowserDemoFeedStartsAtDiscovery: an update published after the hub
// made the demo page, and before the page's feed connected, reaches the
// feed. The page's discovery Link names the newest update as its
// last-event-id (Mercure 1.0, "Hub Discovery"), and the feed passes it as
// last_event_id ("Reconnection, State Reconciliation, and Event
// Sourcing": so that updates dispatched between the resource generation
// and the connection to the hub are not lost). The browser holds the
// feed's request until the update is published.
func TestBrowserDemoFeedStartsAtDiscovery(t *testing.T) {
	s := newQuietStack(t)
	hubURL := s.HubURL("127.0.0.1")
	send := func(seq uint64) string {
		u := demo.NewUpdate(seq, time.Now(), 1.5)
		return publish(t, hubURL, url.Values{"topic": u.Topics, "id": {u.ID}, "type": {u.Type}, "data": {u.Data}})
	}
	first := send(1)
	for deadline := time.Now().Add(browserWait); s.hub.Stats().Position < 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the hub did not fan out the first update")
		}
	}
	ctx := newBrowser(t)
	paused := make(chan *fetch.EventRequestPaused, 8)
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*fetch.EventRequestPaused); ok {
			select {
			case paused <- e:
			default: // a reconnection's, left held
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*last_event_id=*"}}}); err != nil {
		t.Fatal(err)
	}
	// page.Navigate does not wait for the load, which a held request
	// might delay.
	if _, err := chromedp.Call(ctx, page.Navigate, page.NavigateParams{URL: s.URL() + "/"}); err != nil {
		t.Fatal(err)
	}
	var held *fetch.EventRequestPaused
	select {
	case held = <-paused:
	case <-time.After(browserWait):
		t.Fatal("the feed sent no request with last_event_id=")
	}
	u, err := url.Parse(held.Request.URL)
	if err != nil {
		t.Fatal(err)
	}
	if q := u.Query(); q.Get("match") != demo.Topic || q.Get("last_event_id") != first {
		t.Errorf("the feed subscribed with %s, want match=%s and last_event_id=%s", u.RawQuery, demo.Topic, first)
	}
	second := send(2)
	if _, err := chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: held.RequestID}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the update published in between shown", `document.querySelector('#updates li[data-id="`+second+`"]')`)
	if got := seqs(t, ctx); len(got) != 1 || got[0] != 2 {
		t.Errorf("the feed shows seqs %v, want [2]: only what came after the page was made", got)
	}
}
