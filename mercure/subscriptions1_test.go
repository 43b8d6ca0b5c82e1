package mercure

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Mercure 1.0 (draft-dunglas-mercure-08), "Subscription Events" and
// "Subscription API".
func TestSubscriptions1(t *testing.T) {
	e := newEnv1(t, Options{Anonymous: true, Subscriptions: true}, hmacPair(), hmacPair())
	const watch = "/.well-known/mercure/subscriptions/:type/:match/:subscriber"
	watchTok := e.subToken(patternM("/.well-known/mercure/subscriptions{/*}?"))
	watcher := e.mustOpen(e.subscribeReq("match_urlpattern="+url.QueryEscape(watch), watchTok))
	own := watcher.next()
	if own.Type != "mercure" {
		t.Fatalf("the watcher's own subscription event has type %q, want mercure", own.Type)
	}
	// An anonymous watcher sees none: the events are private.
	anon := e.mustOpen(e.subscribeReq("match_urlpattern="+url.QueryEscape(watch)+"&match=end", ""))

	const pattern = "https://example.com/:selector"
	c := e.access(
		map[string]any{"type": AuthorizationDetailType, "actions": []string{"subscribe"}, "topics": []any{exactM("https://example.com/other")}, "payload": map[string]any{"no": 1}},
		map[string]any{"type": AuthorizationDetailType, "actions": []string{"subscribe"}, "topics": []any{patternM("https://example.com/*")}, "payload": map[string]any{"foo": "bar"}},
		map[string]any{"type": AuthorizationDetailType, "actions": []string{"subscribe"}, "topics": []any{exactM("*")}, "payload": map[string]any{"default": true}},
	)
	b := e.mustOpen(e.subscribeReq("match_urlpattern="+url.QueryEscape(pattern)+"&match_urlpattern="+url.QueryEscape(pattern), e.sub.mintAccess(t, c, nil)))
	// The anonymous watcher's subscriptions come first; b's pattern is
	// announced once, though given twice.
	ev := watcher.next()
	var doc map[string]any
	for {
		if err := json.Unmarshal([]byte(ev.Data), &doc); err != nil {
			t.Fatal(err)
		}
		if doc["match"] == pattern {
			break
		}
		ev = watcher.next()
	}
	sub, _ := doc["subscriber"].(string)
	wantID := "/.well-known/mercure/subscriptions/urlpattern/https%3A%2F%2Fexample.com%2F%3Aselector/" + escapeVar(sub)
	want := map[string]any{
		"id": wantID, "type": "subscription", "match_type": "urlpattern", "match": pattern,
		"subscriber": sub, "active": true, "payload": map[string]any{"foo": "bar"},
	}
	if ev.Type != "mercure" || mustJSON(t, doc) != mustJSON(t, want) || !strings.HasPrefix(sub, "urn:uuid:") {
		t.Fatalf("subscription event %q: %s\nwant %s", ev.Type, ev.Data, mustJSON(t, want))
	}

	api := func(path, tok string, header ...string) (*http.Response, string) {
		r, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		return e.do(r)
	}
	resp, body := api("/.well-known/mercure/subscriptions", watchTok)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("collection: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	link := resp.Header.Get("Link")
	if !strings.Contains(link, `<`+e.resource()+`>; rel="mercure"; last-event-id="`) || !strings.Contains(link, `type="mercure"`) || !strings.Contains(link, `content-type="application/json"`) {
		t.Errorf("Link = %q", link)
	}
	var coll struct {
		ID, Type      string
		Subscriptions []map[string]any
	}
	json.Unmarshal([]byte(body), &coll)
	// The watcher's one, the anonymous watcher's two, b's one.
	if coll.ID != "/.well-known/mercure/subscriptions" || coll.Type != "subscriptions" || len(coll.Subscriptions) != 4 {
		t.Errorf("collection: %s", body)
	}
	etag := resp.Header.Get("ETag")
	if resp, _ := api("/.well-known/mercure/subscriptions", watchTok, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match %s: %d, want 304", etag, resp.StatusCode)
	}
	resp, body = api(wantID, watchTok)
	if resp.StatusCode != 200 || body != ev.Data {
		t.Errorf("single: %d %s\nwant the event's document %s", resp.StatusCode, body, ev.Data)
	}
	resp, body = api("/.well-known/mercure/subscriptions/urlpattern/https%3A%2F%2Fexample.com%2F%3Aselector", watchTok)
	if json.Unmarshal([]byte(body), &coll); resp.StatusCode != 200 || len(coll.Subscriptions) != 1 || coll.Type != "subscriptions" {
		t.Errorf("per matcher: %d %s", resp.StatusCode, body)
	}
	for path, status := range map[string]int{
		"/.well-known/mercure/subscriptions/exact/x/urn%3Auuid%3Anope": http.StatusNotFound,
		"/.well-known/mercure/subscriptions/template/x":                http.StatusBadRequest,
		"/.well-known/mercure/subscriptions/exact":                     http.StatusNotFound,
		"/.well-known/mercure/subscriptions/exact/a/b/c":               http.StatusNotFound,
	} {
		if resp, body := api(path, watchTok); resp.StatusCode != status {
			t.Errorf("%s: %d %s, want %d", path, resp.StatusCode, body, status)
		}
	}
	// Without a grant on the path: 403; without a token: 401.
	resp, body = api("/.well-known/mercure/subscriptions", e.subToken(exactM("/.well-known/mercure/subscriptions/exact/a")))
	e.wantChallenge(t, "no grant", resp, body, 403, "insufficient_scope")
	resp, body = api("/.well-known/mercure/subscriptions", "")
	e.wantChallenge(t, "no token", resp, body, 401, "")

	// The subscription ends: an event with active false, and the API
	// forgets it.
	b.close()
	for {
		ev := watcher.next()
		var d subscriptionDoc1
		json.Unmarshal([]byte(ev.Data), &d)
		if d.Subscriber == sub {
			if d.Active || ev.Type != "mercure" {
				t.Errorf("end event: %s", ev.Data)
			}
			break
		}
	}
	if resp, _ := api(wantID, watchTok); resp.StatusCode != http.StatusNotFound {
		t.Errorf("ended subscription: %d, want 404", resp.StatusCode)
	}
	if resp, _ := api("/.well-known/mercure/subscriptions", watchTok, "If-None-Match", etag); resp.StatusCode != 200 {
		t.Errorf("a changed collection answered %d to its old ETag", resp.StatusCode)
	}
	e.publish1("topic=end&data=end")
	if got := anon.next(); got.Data != "end" {
		t.Errorf("the anonymous watcher got %q", got.Data)
	}
}

// A 0.x subscriber's subscription keeps the 0.x shape, beside 1.0 ones.
func TestSubscriptionsBothShapes(t *testing.T) {
	p := hmacPair()
	e := newEnv1(t, Options{Anonymous: true, Subscriptions: true}, p, p)
	w1 := e.mustOpen(e.subscribeReq("match_urlpattern="+url.QueryEscape("/.well-known/mercure/subscriptions/exact/*"), e.subToken(exactM("*"))))
	w0 := e.mustOpen(e.subscribeReq("topic="+url.QueryEscape("/.well-known/mercure/subscriptions/{topic}/{subscriber}"), p.mint(t, subClaims("*"), nil)))
	e.mustOpen(e.subscribeReq("topic=x", ""))
	ev := w0.next()
	for !strings.Contains(ev.Data, `"topic":"x"`) {
		ev = w0.next()
	}
	if ev.Type != "" && ev.Type != "message" || !strings.Contains(ev.Data, `"@context"`) {
		t.Errorf("0.x subscription event: %q %s", ev.Type, ev.Data)
	}
	// And a 1.0 subscriber's in the 1.0 shape, to the 1.0 watcher.
	e.mustOpen(e.subscribeReq("match=y", ""))
	ev = w1.next()
	for !strings.Contains(ev.Data, `"match":"y"`) {
		ev = w1.next()
	}
	if ev.Type != "mercure" || strings.Contains(ev.Data, "@context") {
		t.Errorf("1.0 subscription event: %q %s", ev.Type, ev.Data)
	}
}

// The subscriptions API's validator (Mercure 1.0, "Subscription API":
// clients revalidate the volatile list; RFC 9110, sections 8.8.3 and
// 13.1.2): one ETag for one answer, If-None-Match compared weakly over a
// list, 304 with the ETag and the cursor, and a new ETag when the cursor
// moves though the list stays, as the spec's examples tie the two.
func TestSubscriptionsETag(t *testing.T) {
	e := newEnv1(t, Options{Anonymous: true, Subscriptions: true}, hmacPair(), hmacPair())
	tok := e.subToken(patternM("/.well-known/mercure/subscriptions{/*}?"))
	e.mustOpen(e.subscribeReq("match=a", ""))
	const coll = "/.well-known/mercure/subscriptions"
	get := func(method, inm string) (*http.Response, string) {
		r, _ := http.NewRequest(method, e.srv.URL+coll, nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		if inm != "" {
			r.Header.Set("If-None-Match", inm)
		}
		return e.do(r)
	}
	// The subscription above is listed once its event is out.
	var resp *http.Response
	var body string
	for deadline := time.Now().Add(waitTimeout); ; time.Sleep(time.Millisecond) {
		if resp, body = get("GET", ""); strings.Contains(body, `"match":"a"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the subscription is not listed: %s", body)
		}
	}
	etag, link := resp.Header.Get("ETag"), resp.Header.Get("Link")
	if len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' || strings.ContainsAny(etag[1:len(etag)-1], "\" ") {
		t.Fatalf("ETag %q is not a strong entity-tag", etag)
	}
	if again, _ := get("GET", ""); again.Header.Get("ETag") != etag {
		t.Errorf("the same answer got ETag %q, then %q", etag, again.Header.Get("ETag"))
	}
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		for _, m := range []string{"GET", "HEAD"} {
			resp, body := get(m, inm)
			if resp.StatusCode != http.StatusNotModified || body != "" || resp.Header.Get("ETag") != etag || resp.Header.Get("Link") != link {
				t.Errorf("%s If-None-Match %s: %d ETag %q Link %q %q, want 304 with ETag and Link", m, inm, resp.StatusCode, resp.Header.Get("ETag"), resp.Header.Get("Link"), body)
			}
		}
	}
	if resp, _ := get("GET", `"other"`); resp.StatusCode != 200 {
		t.Errorf("If-None-Match of another tag: %d, want 200", resp.StatusCode)
	}
	// An update moves the cursor and not the list: the tag changes, so a
	// client revalidating learns the new cursor with a 200.
	id := e.publish1("topic=elsewhere&data=x")
	e.waitDispatched()
	resp, body2 := get("GET", etag)
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == etag || !strings.Contains(resp.Header.Get("Link"), `last-event-id="`+id+`"`) {
		t.Errorf("after an update: %d ETag %q Link %q, want 200, a new ETag and the cursor %s", resp.StatusCode, resp.Header.Get("ETag"), resp.Header.Get("Link"), id)
	}
	if resp.StatusCode == 200 && body2 != body {
		t.Errorf("the list changed with an unrelated update:\n%s\n%s", body, body2)
	}
}
