package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ssehub/ssehub/internal/browsertest"
)

// The page of TestBrowserTwelveEventSources opens this many EventSources,
// one per topic: twice the browser's HTTP/1.1 connections per origin.
const browserSources = 12

// browserDelivery bounds how long each EventSource may take to get its
// update, as the issue states it.
const browserDelivery = 2 * time.Second

// openSources opens the page's EventSources on the hub's origin and
// records, per source, when it opened and when it got a message.
const openSources = `(() => {
	window.opened = {}; window.got = {};
	for (let i = 0; i < %d; i++) {
		const es = new EventSource('/.well-known/mercure?topic=' + encodeURIComponent('https://example.com/tab/' + i));
		es.onopen = () => { opened[i] = performance.now(); };
		es.onmessage = () => { got[i] = performance.now(); };
	}
	return true;
})()`

// TestBrowserTwelveEventSources opens 12 EventSources from one page in
// real Chromium. Over HTTPS the page speaks HTTP/2 and every source gets
// its update within 2 s; over HTTP/1.1 the browser opens 6 connections
// per origin and no more, so the seventh source stalls: what HTTP/2
// lifts. (HTML Living Standard, 9.2 Server-sent events, authoring notes:
// "Clients that support HTTP's per-server connection limitation might run
// into trouble when opening multiple pages from a site".)
func TestBrowserTwelveEventSources(t *testing.T) {
	browsertest.Chromium(t) // skip early, before starting hubs
	for _, tc := range []struct {
		name, proto string
		args        []string
	}{
		{"https-h2", "h2", []string{"--tls-self-signed"}},
		{"http1.1", "http/1.1", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			r := startRun(t, append([]string{"--data", dir, "--jwt-key", testKey, "--anonymous"}, tc.args...)...)
			publisher := newClient(t)
			var opts []chromedp.ExecAllocatorOption
			if tc.proto == "h2" {
				leaf := selfSignedLeaf(t, dir)
				publisher = tlsClient(t, "h2", leaf)
				// Trust the hub's key the way its start-up message says.
				opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", spkiHash(leaf)))
			}
			ctx := browsertest.New(t, opts...)
			do(t, ctx, "open the hub's origin", chromedp.Navigate(r.base+"/healthz"))
			if got := evalIn[string](t, ctx, `performance.getEntriesByType('navigation')[0].nextHopProtocol`); got != tc.proto {
				t.Fatalf("the page was loaded over %q, want %q", got, tc.proto)
			}
			evalIn[bool](t, ctx, fmt.Sprintf(openSources, browserSources))

			want := browserSources
			if tc.proto == "http/1.1" {
				want = 6
			}
			waitIn(t, ctx, fmt.Sprintf("%d sources open", want), fmt.Sprintf(`Object.keys(opened).length >= %d`, want))
			time.Sleep(300 * time.Millisecond) // room for a wrongly opened seventh to show
			if n := evalIn[int](t, ctx, `Object.keys(opened).length`); n != want {
				t.Fatalf("%d sources open, want %d", n, want)
			}

			// Each update's delivery is timed from its own publication, on
			// the page's clock: publishing the twelve one after another
			// takes a while on a loaded machine, which is not delivery.
			sent := make([]float64, browserSources)
			tok := token(t, testKey, []string{"*"}, nil, time.Minute)
			for i := range browserSources {
				sent[i] = evalIn[float64](t, ctx, `performance.now()`)
				mustPublish(t, publisher, r.base, tok, url.Values{"topic": {fmt.Sprintf("https://example.com/tab/%d", i)}, "data": {"hello"}})
			}
			deadline := time.Now().Add(browserDelivery)
			for time.Now().Before(deadline) && evalIn[int](t, ctx, `Object.keys(got).length`) < want {
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(time.Until(deadline))
			got := evalIn[map[string]float64](t, ctx, `got`)
			for i := range browserSources {
				at, ok := got[fmt.Sprint(i)]
				switch {
				case i < want && !ok:
					t.Errorf("source %d got no update within %v", i+1, browserDelivery)
				case i < want && at-sent[i] > float64(browserDelivery/time.Millisecond):
					t.Errorf("source %d got its update %.0f ms after it was published", i+1, at-sent[i])
				case i >= want && ok:
					t.Errorf("source %d got its update over HTTP/1.1: the browser's per-origin limit did not apply", i+1)
				}
			}
			if tc.proto == "http/1.1" && !t.Failed() {
				if _, ok := got["6"]; ok {
					t.Error("the seventh source did not stall")
				}
			}
			_, text := get(t, publisher, r.base+"/metrics")
			label := map[string]string{"h2": "HTTP/2", "http/1.1": "HTTP/1.1"}[tc.proto]
			if n := metric(t, text, `ssehub_subscribers_by_protocol{protocol="`+label+`"}`); n != float64(want) {
				t.Errorf("hub counts %v %s subscribers, want %d", n, label, want)
			}
		})
	}
}

// do runs chromedp actions with the test's wait bound.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, waitLong)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// evalIn evaluates a JavaScript expression in the tab.
func evalIn[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, waitLong)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", strings.TrimSpace(expr), err)
	}
	return v
}

// waitIn polls a JavaScript condition until it holds.
func waitIn(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	for deadline := time.Now().Add(waitLong); !evalIn[bool](t, ctx, "!!("+cond+")"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v: %s", what, waitLong, cond)
		}
	}
}
