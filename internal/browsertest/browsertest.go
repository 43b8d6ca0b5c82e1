// Package browsertest starts real headless Chromium for browser tests
// (driven with chromedp), the same way for every package that has them.
//
// Browser tests skip when no Chromium is found and under -short, unless
// SSEHUB_BROWSER_TESTS=1 (set by .ci/run) makes a missing browser a
// failure.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"

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

// New starts a headless Chromium with a fresh profile (a temporary
// --user-data-dir) and returns the context of its first tab. opts come
// after the defaults and so override them. Everything ends with the test.
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
		chromedp.UserDataDir(t.TempDir()),
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
	return ctx
}
