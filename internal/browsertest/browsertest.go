// Package browsertest starts real headless Chromium for browser tests
// (driven with chromedp), the same way for every package that has them.
//
// Browser tests skip when no Chromium is found and under -short, unless
// SSEHUB_BROWSER_TESTS=1 (set by .ci/run) makes a missing browser a
// failure.
//
// They must not run beside tests that add or remove links or addresses on
// the machine, as internal/netnstest's do: Chromium takes that for a
// network change and drops every connection it has, loopback ones too.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Chromium finds the browser: $SSEHUB_CHROMIUM, then the usual names. It
// skips the test when there is none, or under -short, unless
// SSEHUB_BROWSER_TESTS=1.
func Chromium(t testing.TB) string {
	t.Helper()
	required := os.Getenv("SSEHUB_BROWSER_TESTS") == "1"
	if testing.Short() && !required {
		t.Skip("skipping browser test in -short mode (SSEHUB_BROWSER_TESTS=1 runs it)")
	}
	if p := os.Getenv("SSEHUB_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if required {
		t.Fatal("SSEHUB_BROWSER_TESTS=1 but no Chromium found (install it, e.g. apt-get install chromium, or set SSEHUB_CHROMIUM)")
	}
	t.Skip("skipping browser test: no Chromium found (install it, e.g. apt-get install chromium; set SSEHUB_BROWSER_TESTS=1 to make this a failure)")
	return ""
}

// New starts a headless Chromium with a fresh profile (Profile, unless
// opts set another --user-data-dir) and returns the context of its first
// tab. opts come after the defaults and so override them. Everything ends
// with the test.
func New(t testing.TB, opts ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := Chromium(t)
	all := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		// Tabs of a headless browser count as hidden; their timers must
		// not be throttled or the pages would lag behind the feed.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.UserDataDir(Profile(t)),
		chromedp.WindowSize(1280, 900),
	}, opts...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), all...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Start the browser now, so a failure to launch is reported as such.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium %s: %v", path, err)
	}
	explainNetworkChanges(t, ctx)
	return ctx
}

// explainNetworkChanges logs the requests of the tab at ctx that Chromium
// fails with net::ERR_NETWORK_CHANGED, which the page sees only as
// "Failed to fetch" or an EventSource error. Chromium drops every
// connection when the machine's network changes, even for loopback: a
// link or an address added or removed, as internal/netnstest's veth pair
// does, is one (which is why CI never runs those tests beside these).
func explainNetworkChanges(t testing.TB, ctx context.Context) {
	t.Helper()
	var mu sync.Mutex
	ended := false
	err := chromedp.Listen(ctx, func(ev any) {
		e, ok := ev.(*network.EventLoadingFailed)
		if !ok || e.ErrorText != "net::ERR_NETWORK_CHANGED" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !ended { // logging after the test is over panics
			t.Logf("browsertest: Chromium failed a request (%s) with %s: a link or an address of this machine was added or removed (as by internal/netnstest), and Chromium dropped every connection", e.Type, e.ErrorText)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last in first out: this one before New's, which ends
	// the browser.
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		ended = true
	})
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("enable Chromium's network events: %v", err)
	}
}
