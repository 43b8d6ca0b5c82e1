package web_test

import (
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ssehub/ssehub/internal/demo"
)

func TestBrowserDemoPageReceivesUpdates(t *testing.T) {
	s := newStack(t)
	ctx := newBrowser(t)
	run(t, ctx, "open the demo page", chromedp.Navigate(s.URL()+"/"))
	waitFor(t, ctx, "feed open", `document.getElementById('state').textContent === 'open'`)
	// NoteEvery updates make sure a note is among them.
	waitFor(t, ctx, "updates and a note shown",
		`document.querySelectorAll('#updates li[data-seq]').length >= 12 && document.querySelector('#updates li[data-type=note]')`)
	screenshot(t, ctx, "demo")

	if err := contiguous(seqs(t, ctx)); err != nil {
		t.Error(err)
	}
	note := eval[map[string]string](t, ctx, `(() => {
		const li = document.querySelector('#updates li[data-type=note]');
		return {type: li.querySelector('.type').textContent, data: li.querySelector('pre.data').innerText,
		        seq: li.dataset.seq, id: li.querySelector('.id').textContent};
	})()`)
	if note["type"] != demo.NoteType {
		t.Errorf("note shows type %q", note["type"])
	}
	if strings.Count(note["data"], "\n") < 3 || !strings.Contains(note["data"], `"seq": `+note["seq"]) {
		t.Errorf("note data lost its line breaks or seq:\n%s", note["data"])
	}
	if seq, ok := demo.ParseID(note["id"]); !ok || note["seq"] != strconv.FormatUint(seq, 10) {
		t.Errorf("note shows ID %q for seq %s", note["id"], note["seq"])
	}
	first := eval[map[string]string](t, ctx, `(() => {
		const li = document.querySelector('#updates li[data-type=message]');
		return {message: li.querySelector('.message').textContent, value: li.querySelector('.value').textContent,
		        time: li.querySelector('time').dateTime};
	})()`)
	if first["message"] == "" || first["value"] == "" || first["time"] == "" {
		t.Errorf("an update shows message %q, value %q, time %q", first["message"], first["value"], first["time"])
	}
	if got := eval[string](t, ctx, `document.getElementById('gaps').dataset.gaps`); got != "0" {
		t.Errorf("page marks %s gaps", got)
	}
}

func TestBrowserPublishedUpdatesAppear(t *testing.T) {
	s := newStack(t)
	ctx := newBrowser(t)
	const topic = "https://example.com/books/1"
	run(t, ctx, "open the demo page", chromedp.Navigate(s.URL()+"/?match_urlpattern="+url.QueryEscape("https://example.com/books/:id")))
	waitFor(t, ctx, "subscription open", `document.getElementById('sub-state').textContent === 'open'`)

	// Published over HTTP by another publisher.
	id := publish(t, s.HubURL("127.0.0.1"), url.Values{"topic": {topic}, "data": {"first line\nsecond line"}})
	waitFor(t, ctx, "published update shown", `document.querySelector('#sub-events li[data-id="`+id+`"]')`)
	if got := eval[string](t, ctx, `document.querySelector('#sub-events li[data-id="`+id+`"] pre').innerText`); got != "first line\nsecond line" {
		t.Errorf("page shows data %q", got)
	}

	// Published from the page's own form, with a named type.
	run(t, ctx, "publish from the form",
		chromedp.SetValue(chromedp.ID("pub-topic"), topic),
		chromedp.SetValue(chromedp.ID("pub-data"), "from the form\nline two"),
		chromedp.SetValue(chromedp.ID("pub-type"), "greeting"),
		press("#pub-form button[type=submit]"),
	)
	waitFor(t, ctx, "form publish answered", `document.getElementById('pub-result').dataset.id`)
	formID := eval[string](t, ctx, `document.getElementById('pub-result').dataset.id`)
	waitFor(t, ctx, "form update shown", `document.querySelector('#sub-events li[data-id="`+formID+`"][data-type=greeting]')`)
	if got := eval[string](t, ctx, `document.querySelector('#sub-events li[data-id="`+formID+`"] pre').innerText`); got != "from the form\nline two" {
		t.Errorf("page shows data %q", got)
	}
	screenshot(t, ctx, "published")
}

// TestBrowserDemoPageMarksGaps feeds the page demo updates by hand: a
// skipped seq must be marked as a gap, a seq going back as a restart.
func TestBrowserDemoPageMarksGaps(t *testing.T) {
	s := newQuietStack(t)
	hubURL := s.HubURL("127.0.0.1")
	send := func(seq uint64) {
		u := demo.NewUpdate(seq, time.Now(), 1.5)
		publish(t, hubURL, url.Values{"topic": u.Topics, "id": {u.ID}, "type": {u.Type}, "data": {u.Data}})
	}
	ctx := newBrowser(t)
	run(t, ctx, "open the demo page", chromedp.Navigate(s.URL()+"/"))
	waitFor(t, ctx, "feed open", `document.getElementById('state').textContent === 'open'`)
	for _, seq := range []uint64{1, 2, 5, 6} {
		send(seq)
	}
	waitFor(t, ctx, "updates shown", `document.querySelectorAll('#updates li[data-seq]').length === 4`)
	if g := eval[string](t, ctx, `document.getElementById('gaps').dataset.gaps`); g != "1" {
		t.Errorf("page counts %s gaps, want 1", g)
	}
	gap := eval[[]string](t, ctx, `[...document.querySelectorAll('#updates .mark.gap')].map(li => li.textContent)`)
	if len(gap) != 1 || !strings.Contains(gap[0], "#3–#4") {
		t.Errorf("gap marks %q, want one naming #3–#4", gap)
	}
	send(3)
	waitFor(t, ctx, "restart marked", `document.querySelectorAll('#updates .mark.restart').length === 1`)
	screenshot(t, ctx, "gaps")
	if g := eval[string](t, ctx, `document.getElementById('gaps').dataset.gaps`); g != "1" {
		t.Errorf("page counts %s gaps after a restart, want 1", g)
	}
}

// TestBrowserDemoPageShowsClosed opens the page on a hub that refuses
// anonymous subscribers: the browser gives up, and the page says so.
func TestBrowserDemoPageShowsClosed(t *testing.T) {
	s := &stack{t: t, path: filepath.Join(t.TempDir(), "hub.db"), addr: "127.0.0.1:0", noAnon: true}
	s.start()
	t.Cleanup(s.stop)
	ctx := newBrowser(t)
	run(t, ctx, "open the demo page", chromedp.Navigate(s.URL()+"/"))
	waitFor(t, ctx, "feed closed", `document.getElementById('state').textContent === 'closed' && !document.getElementById('feed-closed').hidden`)
	screenshot(t, ctx, "closed")
}
