package web_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/ssehub/ssehub/internal/browsertest"
)

// browserWait bounds every wait for the page in the browser tests.
const browserWait = 15 * time.Second

// newBrowser starts a headless Chromium with a fresh profile for the test
// and returns the context of its first tab, with extra options added to the
// usual ones. Everything ends with the test.
func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	return browsertest.New(t, append([]chromedp.ExecAllocatorOption{chromedp.UserDataDir(profile(t))}, extra...)...)
}

// profile makes a fresh user data directory. Its preferences allow
// third-party cookies, which this Chromium blocks by default: the hub's
// cookie must reach it from a page on another site (another loopback
// origin, in the tests), as it does in a browser with default settings.
func profile(t *testing.T) string {
	dir := browsertest.Profile(t)
	prefs := `{"profile": {"cookie_controls_mode": 0, "block_third_party_cookies": false}}`
	if err := os.MkdirAll(filepath.Join(dir, "Default"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Default", "Preferences"), []byte(prefs), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// run runs actions in the tab with the browser-test bound.
func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		path := screenshot(t, ctx, "failed")
		t.Fatalf("%s: %v (screenshot %s)", what, err, path)
	}
}

// press clicks the element sel selects as the page's own script would
// (HTMLElement.click): a submit button submits its form. chromedp.Click
// clicks at the element's coordinates, which a loaded machine can let a
// layout shift (the feed growing) move before the click lands.
func press(sel string) chromedp.Action[chromedp.Void] {
	click := chromedp.Evaluate[bool](`(() => { const e = document.querySelector(` + strconv.Quote(sel) + `); if (!e) return false; e.click(); return true; })()`)
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		ok, err := click(ctx, t)
		if err == nil && !ok {
			err = fmt.Errorf("no element %s", sel)
		}
		return chromedp.Void{}, err
	}
}

// eval evaluates a JavaScript expression in the tab.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it holds, for at most
// browserWait, and fails the test with what the page shows otherwise.
func waitFor(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(browserWait)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		if err != nil {
			t.Fatalf("%s: evaluate %s: %v", what, cond, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			path := screenshot(t, ctx, "timeout")
			t.Fatalf("%s: not true after %v: %s (screenshot %s)", what, browserWait, cond, path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// screenshot writes a full-page PNG into $SSEHUB_SCREENSHOTS, or the test's
// temporary directory, logs its path and returns it.
func screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	dir := os.Getenv("SSEHUB_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Errorf("screenshot: %v", err)
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	file := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + "-" + name + ".png"
	path := filepath.Join(dir, file)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("screenshot: %v", err)
		return ""
	}
	t.Logf("screenshot: %s", path)
	return path
}

// seqs returns the demo seqs the page shows, oldest first.
func seqs(t *testing.T, ctx context.Context) []int {
	return eval[[]int](t, ctx, `[...document.querySelectorAll('#updates li[data-seq]')].map(li => +li.dataset.seq).reverse()`)
}

func contiguous(s []int) error {
	for i := 1; i < len(s); i++ {
		if s[i] != s[i-1]+1 {
			return fmt.Errorf("seq %d follows %d: %v", s[i], s[i-1], s)
		}
	}
	return nil
}

func itoa(n int) string { return fmt.Sprint(n) }

// recordMarks makes the demo page record in window.marks every mark
// (reconnection, gap, restart) added to its feed from now on. The feed
// keeps its newest demoMaxShown entries, marks among them: the demo feed's
// 50 updates a second push a mark out in two seconds, less than a loaded
// machine may take to look. So every mark is recorded as it is added.
func recordMarks(t *testing.T, ctx context.Context) {
	t.Helper()
	eval[bool](t, ctx, `(() => {
		window.marks = [];
		new MutationObserver((records) => {
			for (const r of records) for (const n of r.addedNodes) if (n.classList?.contains('mark')) window.marks.push(n.className);
		}).observe(document.getElementById('updates'), { childList: true });
		return true;
	})()`)
}

// checkReconnected checks the marks recordMarks recorded: a reconnection,
// and no gap and no restart.
func checkReconnected(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	marks := eval[[]string](t, ctx, `window.marks`)
	reconnect := false
	for _, m := range marks {
		if strings.Contains(m, "gap") || strings.Contains(m, "restart") {
			t.Errorf("%s: page marked %q in the feed", what, m)
		}
		reconnect = reconnect || strings.Contains(m, "reconnect")
	}
	if !reconnect {
		t.Errorf("%s: page does not mark the reconnection in the feed (marks added: %q)", what, marks)
	}
}

// recorder records the requests the browser of a tab sends that keep
// selects.
type recorder struct {
	mu   sync.Mutex
	reqs []*network.Request
}

func recordRequests(t *testing.T, ctx context.Context, keep func(*network.Request) bool) *recorder {
	t.Helper()
	rec := &recorder{}
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && keep(e.Request) {
			rec.mu.Lock()
			rec.reqs = append(rec.reqs, e.Request)
			rec.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	return rec
}

// take returns the requests recorded so far and forgets them.
func (rec *recorder) take() []*network.Request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	r := rec.reqs
	rec.reqs = nil
	return r
}

// header returns the value of a request's header name, "" for none.
func header(r *network.Request, name string) string {
	for k, v := range r.Headers {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}
