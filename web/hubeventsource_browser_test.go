package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/demo"
	"github.com/ssehub/ssehub/mercure"
)

// feedScript, evaluated in a page of the stack, imports /ssehub.js and
// defines follow(init), which follows the demo feed with a HubEventSource
// and records in sessionStorage (so a reload keeps it) the seq of every
// update received: the test reads window.seen. Each update is recorded in
// the same task as persist saves its ID, so what survives a reload agrees.
const feedScript = `import('/ssehub.js').then((m) => {
	window.ssehub = m;
	window.seen = JSON.parse(sessionStorage.getItem('seen') || '[]');
	window.errors = [];
	window.follow = (init) => {
		const es = new m.HubEventSource('` + mercure.Path + `', { topic: '` + demo.Topic + `', ...init });
		const record = (e) => {
			window.seen.push(+e.lastEventId.slice(e.lastEventId.lastIndexOf(':') + 1));
			sessionStorage.setItem('seen', JSON.stringify(window.seen));
		};
		es.addEventListener('message', record);
		es.addEventListener('note', record);
		es.onerror = (e) => window.errors.push(e.reason + ' ' + e.status);
		window.es = es;
		return true;
	};
	return true;
})`

// clientPage opens a page of the stack with feedScript loaded.
func clientPage(t *testing.T, ctx context.Context, s *stack) {
	t.Helper()
	run(t, ctx, "open a page of the hub", chromedp.Navigate(s.URL()+"/dashboard"))
	loadFeedScript(t, ctx)
}

func loadFeedScript(t *testing.T, ctx context.Context) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	if _, err := chromedp.Run(tctx, chromedp.Evaluate[bool](feedScript, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("import /ssehub.js: %v", err)
	}
}

// seen returns the seqs the page's HubEventSource received, in order.
func seen(t *testing.T, ctx context.Context) []int {
	return eval[[]int](t, ctx, `window.seen`)
}

// exactlyOnce fails unless s is a run of consecutive seqs: no gap, no
// duplicate.
func exactlyOnce(t *testing.T, s []int) {
	t.Helper()
	if len(s) == 0 {
		t.Fatal("no updates received")
	}
	if err := contiguous(s); err != nil {
		t.Errorf("updates not received exactly once: %v", err)
	}
}

// TestBrowserHubEventSourcePrivate: a private update reaches a
// HubEventSource that sends a bearer token, and not a plain EventSource,
// which cannot send one.
func TestBrowserHubEventSourcePrivate(t *testing.T) {
	s := newQuietStack(t)
	ctx := newBrowser(t)
	clientPage(t, ctx, s)
	const topic = "https://ssehub.local/private/1"
	tok := token(t, "subscribe", []string{"https://ssehub.local/private/{id}"})
	eval[bool](t, ctx, `(() => {
		window.got = { hub: [], plain: [] };
		const hes = new ssehub.HubEventSource('`+mercure.Path+`', { topic: '`+topic+`', token: '`+tok+`' });
		hes.onmessage = (e) => window.got.hub.push(e.data);
		const es = new EventSource('`+mercure.Path+`?topic=' + encodeURIComponent('`+topic+`'));
		es.onmessage = (e) => window.got.plain.push(e.data);
		window.sources = [hes, es];
		return true;
	})()`)
	waitFor(t, ctx, "both open", `window.sources.every((s) => s.readyState === 1)`)
	hubURL := s.HubURL("127.0.0.1")
	publish(t, hubURL, url.Values{"topic": {topic}, "data": {"private data"}, "private": {"on"}})
	publish(t, hubURL, url.Values{"topic": {topic}, "data": {"public data"}})
	// Updates arrive in log order: the public one after the private one.
	waitFor(t, ctx, "HubEventSource gets both", `window.got.hub.length === 2`)
	waitFor(t, ctx, "EventSource gets the public one", `window.got.plain.length >= 1`)
	got := eval[map[string][]string](t, ctx, `window.got`)
	if want := []string{"private data", "public data"}; strings.Join(got["hub"], "|") != strings.Join(want, "|") {
		t.Errorf("HubEventSource got %q, want %q", got["hub"], want)
	}
	if want := []string{"public data"}; strings.Join(got["plain"], "|") != strings.Join(want, "|") {
		t.Errorf("EventSource got %q, want %q", got["plain"], want)
	}
}

// TestBrowserHubEventSourceRestart stops the hub mid-stream and starts it
// again on the same file and port: the HubEventSource reconnects with
// Last-Event-ID and receives every update once.
func TestBrowserHubEventSourceRestart(t *testing.T) {
	s := newStack(t)
	ctx := newBrowser(t)
	clientPage(t, ctx, s)
	eval[bool](t, ctx, `follow({ retry: 200 })`)
	waitFor(t, ctx, "updates", `window.seen.length >= 5`)
	s.stop()
	waitFor(t, ctx, "the source sees the hub go", `window.es.readyState === 0`)
	before := seen(t, ctx)
	time.Sleep(3 * demoInterval)
	s.start()
	last := before[len(before)-1]
	waitFor(t, ctx, "the source resumed and moved on", `window.es.readyState === 1 && window.seen.at(-1) >= `+itoa(last+5))
	exactlyOnce(t, seen(t, ctx))
	if errs := eval[[]string](t, ctx, `window.errors`); len(errs) == 0 {
		t.Error("no error event for the lost connection")
	}
}

// TestBrowserHubEventSourceTokenRefresh subscribes with a token that
// expires in two seconds. The hub ends the stream at its expiry and answers
// the reconnection 401 invalid_token; the token callback gives a fresh
// token and the stream continues after its last ID.
func TestBrowserHubEventSourceTokenRefresh(t *testing.T) {
	s := newStack(t)
	ctx := newBrowser(t)
	clientPage(t, ctx, s)
	claims := mercure.Claims{Subscribe: []string{demo.Topic}}
	short, err := mercure.NewToken(testKey, claims, "", time.Now(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := mercure.NewToken(testKey, claims, "", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tokens, _ := json.Marshal([]string{short, fresh})
	eval[bool](t, ctx, `(() => {
		const tokens = `+string(tokens)+`;
		window.calls = [];
		return follow({ retry: 100, token: async (why) => { window.calls.push(why); return tokens.shift(); } });
	})()`)
	waitFor(t, ctx, "token refreshed and the stream continued",
		`window.calls.length === 2 && window.es.readyState === 1 && window.seen.length >= 30`)
	if calls := eval[[]string](t, ctx, `window.calls`); strings.Join(calls, ",") != "initial,invalid_token" {
		t.Errorf("token callback called for %q, want initial then invalid_token", calls)
	}
	exactlyOnce(t, seen(t, ctx))
}

// TestBrowserHubEventSourcePersistReload reloads the page: with persist,
// the new page's HubEventSource resumes after the last ID the old one
// received.
func TestBrowserHubEventSourcePersistReload(t *testing.T) {
	s := newStack(t)
	ctx := newBrowser(t)
	clientPage(t, ctx, s)
	eval[bool](t, ctx, `follow({ persist: true })`)
	waitFor(t, ctx, "updates", `window.seen.length >= 5`)
	eval[bool](t, ctx, `window.oldPage = true`)
	run(t, ctx, "reload", chromedp.Reload())
	waitFor(t, ctx, "the new page", `!window.oldPage && document.readyState === 'complete'`)
	loadFeedScript(t, ctx)
	before := len(seen(t, ctx)) // kept in sessionStorage
	if before < 5 {
		t.Fatalf("the page kept %d seqs over the reload", before)
	}
	// Away long enough that the feed moved on.
	time.Sleep(3 * demoInterval)
	eval[bool](t, ctx, `follow({ persist: true })`)
	waitFor(t, ctx, "resumed", `window.seen.length >= `+itoa(before+5))
	if req := eval[string](t, ctx, `sessionStorage.getItem(Object.keys(sessionStorage).find((k) => k.startsWith('ssehub:')))`); req == "" {
		t.Error("no last event ID persisted")
	}
	exactlyOnce(t, seen(t, ctx))
}

// TestBrowserHubEventSourceClose: after close(), the page makes no request
// to the hub, though the hub goes away and comes back.
func TestBrowserHubEventSourceClose(t *testing.T) {
	s := newStack(t)
	ctx := newBrowser(t)
	clientPage(t, ctx, s)
	subscribers := func() int64 { return s.hub.Stats().Subscribers }
	waitFor(t, ctx, "the dashboard open", `document.getElementById('topic-state').textContent === 'open'`)
	others := subscribers() // the dashboard's own
	eval[bool](t, ctx, `follow({ retry: 50 })`)
	waitFor(t, ctx, "updates", `window.seen.length >= 3`)
	if n := subscribers(); n != others+1 {
		t.Fatalf("%d subscribers with the page's, want %d", n, others+1)
	}
	eval[bool](t, ctx, `(window.es.close(), true)`)
	deadline := time.Now().Add(browserWait)
	for subscribers() != others {
		if time.Now().After(deadline) {
			t.Fatal("close() did not end the request")
		}
		time.Sleep(10 * time.Millisecond)
	}
	n := len(seen(t, ctx))
	s.stop()
	s.start()
	time.Sleep(500 * time.Millisecond)
	waitFor(t, ctx, "the dashboard back", `document.getElementById('topic-state').textContent === 'open'`)
	time.Sleep(300 * time.Millisecond)
	if got := subscribers(); got != others {
		t.Errorf("%d subscribers after close() and a restart, want the dashboard's %d", got, others)
	}
	if got := len(seen(t, ctx)); got != n {
		t.Errorf("%d updates after close()", got-n)
	}
	if st := eval[int](t, ctx, `window.es.readyState`); st != 2 {
		t.Errorf("readyState %d after close()", st)
	}
}

// TestBrowserDemoPrivatePanel: the demo page's private panel receives a
// private update through HubEventSource with the token the page fetched;
// the plain EventSource beside it, on the same topic, receives only the
// public update published after it. The panel speaks Mercure 1.0: every
// request it sends for the private topic has match= and no topic=, and
// its bearer token is an access token (typ at+jwt, RFC 9068 section 2.1)
// with a subscribe grant for the topic (Mercure 1.0, "Authorization
// Details").
func TestBrowserDemoPrivatePanel(t *testing.T) {
	s := newStack(t)
	ctx := newBrowser(t)
	// The requests for the private topic.
	rec := recordRequests(t, ctx, func(r *network.Request) bool { return strings.Contains(r.URL, url.QueryEscape(demo.PrivateTopic)) })
	run(t, ctx, "open the demo page", chromedp.Navigate(s.URL()+"/"))
	waitFor(t, ctx, "private panel open", `document.getElementById('priv-state').textContent === 'open'`)
	run(t, ctx, "publish a private update", press("#priv-publish"))
	waitFor(t, ctx, "private update published", `document.getElementById('priv-result').dataset.id`)
	id := eval[string](t, ctx, `document.getElementById('priv-result').dataset.id`)
	waitFor(t, ctx, "private update shown", `document.querySelector('#priv-events li[data-id="`+id+`"]')`)
	publish(t, s.HubURL("127.0.0.1"), url.Values{"topic": {demo.PrivateTopic}, "data": {`{"message":"public"}`}})
	waitFor(t, ctx, "public update reaches both", `document.getElementById('priv-received').textContent === '2' && document.getElementById('priv-plain').textContent === '1'`)
	screenshot(t, ctx, "private-panel")
	if got := eval[string](t, ctx, `document.getElementById('priv-about').textContent`); !strings.Contains(got, "onprogress") {
		t.Errorf("the panel does not say what HubEventSource is: %q", got)
	}

	reqs := rec.take()
	bearer := 0
	for _, r := range reqs {
		u, err := url.Parse(r.URL)
		if err != nil {
			t.Fatal(err)
		}
		if q := u.Query(); q.Get("match") != demo.PrivateTopic || q.Has("topic") {
			t.Errorf("the panel subscribed with %s, want match= only", u.RawQuery)
		}
		auth := header(r, "Authorization")
		if auth == "" {
			continue // the plain EventSource
		}
		bearer++
		var cl jwt.MapClaims
		tok, err := jwt.NewParser().ParseWithClaims(strings.TrimPrefix(auth, "Bearer "), &cl, func(*jwt.Token) (any, error) { return testKey, nil })
		if err != nil || tok.Header["typ"] != "at+jwt" ||
			!strings.Contains(fmt.Sprint(cl["authorization_details"]), "actions:[subscribe] topics:[map[match:"+demo.PrivateTopic) {
			t.Errorf("the panel's token: %v, header %v, claims %v", err, tok.Header, cl)
		}
	}
	if bearer == 0 {
		t.Errorf("no request of the panel sent a bearer token (requests: %d)", len(reqs))
	}
}

// TestBrowserDashboardPrivateTopic: with a token, the dashboard's topic view
// subscribes through HubEventSource and shows private updates; without,
// only the public ones.
func TestBrowserDashboardPrivateTopic(t *testing.T) {
	s := newQuietStack(t)
	hubURL := s.HubURL("127.0.0.1")
	const topic = "https://example.com/private/dashboard"
	private := publish(t, hubURL, url.Values{"topic": {topic}, "data": {"private"}, "private": {"on"}})
	public := publish(t, hubURL, url.Values{"topic": {topic}, "data": {"public"}})
	ctx := newBrowser(t)
	run(t, ctx, "open the dashboard", chromedp.Navigate(s.URL()+"/dashboard"))
	shown := `[...document.querySelectorAll('#topic-events li')].map(li => li.dataset.id).join(' ')`
	for _, tc := range []struct {
		token string
		want  string // newest first
	}{
		{"", public},
		// A Mercure 1.0 access token: the view subscribes with match=.
		{accessToken(t, hubURL, 10*time.Minute, topic), public + " " + private},
	} {
		waitFor(t, ctx, "the form", `document.getElementById('topic-token')`)
		eval[bool](t, ctx, `(() => {
			document.getElementById('topic-input').value = '`+topic+`';
			document.getElementById('topic-token').value = '`+tc.token+`';
			return true;
		})()`)
		run(t, ctx, "show the topic", press("#topic-form button[type=submit]"))
		waitFor(t, ctx, "history shown", `document.getElementById('topic-state').textContent === 'open' && `+shown+` === "`+tc.want+`"`)
	}
	screenshot(t, ctx, "private-topic")
	live := publish(t, hubURL, url.Values{"topic": {topic}, "data": {"live private"}, "private": {"on"}})
	waitFor(t, ctx, "live private update", `document.querySelector('#topic-events li').dataset.id === "`+live+`"`)
}

// TestBrowserHubEventSourcesHTTP2 opens 12 HubEventSources from one page to
// a hub serving HTTPS. A browser opens at most 6 HTTP/1.1 connections to
// one host, so 12 streams open at once only over HTTP/2, which carries them
// all on one connection.
func TestBrowserHubEventSourcesHTTP2(t *testing.T) {
	s := &stack{t: t, path: filepath.Join(t.TempDir(), "hub.db"), addr: "127.0.0.1:0", noDemo: true, tls: true}
	s.start()
	t.Cleanup(s.stop)
	ctx := newBrowser(t, chromedp.Flag("ignore-certificate-errors", true))
	clientPage(t, ctx, s)
	if p := eval[string](t, ctx, `performance.getEntriesByType('navigation')[0].nextHopProtocol`); p != "h2" {
		t.Fatalf("page loaded over %q, want h2", p)
	}
	waitFor(t, ctx, "the dashboard's topic view open", `document.getElementById('topic-state').textContent === 'open'`)
	others := s.hub.Stats().Subscribers
	const n = 12
	const topic = "https://example.com/h2"
	eval[bool](t, ctx, `(() => {
		window.h2 = [];
		for (let i = 0; i < `+itoa(n)+`; i++) {
			const es = new ssehub.HubEventSource('`+mercure.Path+`', { topic: '`+topic+`', token: '`+token(t, "subscribe", []string{topic})+`' });
			const got = [];
			es.onmessage = (e) => got.push(e.data);
			window.h2.push({ es, got });
		}
		return true;
	})()`)
	waitFor(t, ctx, "all open", `window.h2.every((x) => x.es.readyState === 1)`)
	deadline := time.Now().Add(browserWait)
	for s.hub.Stats().Subscribers != others+n {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers, want %d", s.hub.Stats().Subscribers, others+n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Private: it reaches the twelve through their tokens.
	if _, err := s.hub.Publish(t.Context(), &hub.Update{Topics: []string{topic}, Data: "to all twelve", Private: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "every source got the update", `window.h2.every((x) => x.got.join() === 'to all twelve')`)
}

// TestBrowserHubEventSourceMercure1 speaks Mercure 1.0 to the hub: a GET
// with match= and an access token that expires after two seconds (the hub
// ends the stream then, answers the reconnection 401 invalid_token, and the
// token callback's fresh token continues it after its last ID), a QUERY
// with match_urlpattern= in its form body, and a plain EventSource with
// match=, which cannot send the token.
func TestBrowserHubEventSourceMercure1(t *testing.T) {
	s := newQuietStack(t)
	hubURL := s.HubURL("127.0.0.1")
	ctx := newBrowser(t)
	clientPage(t, ctx, s)
	const topic = "https://example.com/v1/1"
	tokens, _ := json.Marshal([]string{accessToken(t, hubURL, 2*time.Second, topic), accessToken(t, hubURL, time.Hour, topic)})
	eval[bool](t, ctx, `(() => {
		const tokens = `+string(tokens)+`;
		window.v1 = { calls: [], get: [], query: [], plain: [] };
		const get = new ssehub.HubEventSource('`+mercure.Path+`', { match: '`+topic+`', retry: 100,
			token: (why) => { window.v1.calls.push(why); return tokens.shift(); } });
		get.onmessage = (e) => window.v1.get.push(e.data);
		const query = new ssehub.HubEventSource('`+mercure.Path+`', { method: 'QUERY', matchURLPattern: 'https://example.com/v1/:id', retry: 100 });
		query.onmessage = (e) => window.v1.query.push(e.data);
		const plain = new EventSource('`+mercure.Path+`?match=' + encodeURIComponent('`+topic+`'));
		plain.onmessage = (e) => window.v1.plain.push(e.data);
		window.v1.sources = [get, query, plain];
		return true;
	})()`)
	waitFor(t, ctx, "all open", `window.v1.sources.every((s) => s.readyState === 1)`)
	publish(t, hubURL, url.Values{"topic": {topic}, "data": {"private 1"}, "private": {"on"}})
	publish(t, hubURL, url.Values{"topic": {topic}, "data": {"public 1"}})
	waitFor(t, ctx, "first updates", `window.v1.get.length === 2 && window.v1.query.length === 1 && window.v1.plain.length === 1`)
	// The hub ends the stream when the token expires.
	waitFor(t, ctx, "token refreshed", `window.v1.calls.length === 2 && window.v1.sources[0].readyState === 1`)
	publish(t, hubURL, url.Values{"topic": {topic}, "data": {"private 2"}, "private": {"on"}})
	publish(t, hubURL, url.Values{"topic": {topic}, "data": {"public 2"}})
	waitFor(t, ctx, "second updates", `window.v1.get.length >= 4 && window.v1.query.length >= 2 && window.v1.plain.length >= 2`)
	got := eval[map[string][]string](t, ctx, `(({ calls, get, query, plain }) => ({ calls, get, query, plain }))(window.v1)`)
	for name, want := range map[string]string{
		"calls": "initial,invalid_token",
		"get":   "private 1,public 1,private 2,public 2",
		"query": "public 1,public 2",
		"plain": "public 1,public 2",
	} {
		if g := strings.Join(got[name], ","); g != want {
			t.Errorf("%s: %s, want %s", name, g, want)
		}
	}
}

// TestBrowserHubEventSourceRetryAfter: a hub at its subscription bound
// answers 503 with Retry-After: 1; the HubEventSource waits that second
// before it asks again, though its own reconnection time is 50 ms.
func TestBrowserHubEventSourceRetryAfter(t *testing.T) {
	// The first source holds the one subscription the hub allows. The
	// page is one that subscribes to nothing itself: a 404.
	s := &stack{t: t, path: filepath.Join(t.TempDir(), "hub.db"), addr: "127.0.0.1:0", noDemo: true, maxSubs: 1}
	s.start()
	t.Cleanup(s.stop)
	ctx := newBrowser(t)
	run(t, ctx, "open a page of the hub", chromedp.Navigate(s.URL()+"/no-such-page"))
	loadFeedScript(t, ctx)
	eval[bool](t, ctx, `(() => {
		const a = new ssehub.HubEventSource('`+mercure.Path+`', { topic: 'https://example.com/a', retry: 50 });
		window.ra = { a, log: [] };
		a.onopen = () => {
			const b = new ssehub.HubEventSource('`+mercure.Path+`', { topic: 'https://example.com/b', retry: 50 });
			window.ra.b = b;
			b.onerror = (e) => {
				window.ra.log.push({ what: 'error', status: e.status, at: performance.now() });
				a.close(); // room for b now; it must still wait
			};
			b.onopen = () => window.ra.log.push({ what: 'open', status: 200, at: performance.now() });
		};
		return true;
	})()`)
	waitFor(t, ctx, "the second source open", `window.ra.log.some((e) => e.what === 'open')`)
	type entry struct {
		What   string
		Status int
		At     float64
	}
	log := eval[[]entry](t, ctx, `window.ra.log`)
	if len(log) != 2 || log[0].What != "error" || log[0].Status != 503 || log[1].What != "open" {
		t.Fatalf("second source: %+v, want a 503 then an open", log)
	}
	if wait := log[1].At - log[0].At; wait < 990 {
		t.Errorf("reconnected %.0f ms after the 503, before the Retry-After second", wait)
	}
}
