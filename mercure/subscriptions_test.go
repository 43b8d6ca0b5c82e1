package mercure

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub"
)

func TestEscapeVar(t *testing.T) {
	for in, want := range map[string]string{
		"https://example.com/{selector}": "https%3A%2F%2Fexample.com%2F%7Bselector%7D",
		"urn:uuid:bb3de268-05b0":         "urn%3Auuid%3Abb3de268-05b0",
		"a b%2F~._-":                     "a%20b%252F~._-",
		"é":                              "%C3%A9",
	} {
		if got := escapeVar(in); got != want {
			t.Errorf("escapeVar(%q) = %q, want %q", in, got, want)
		}
		if back, err := url.PathUnescape(escapeVar(in)); err != nil || back != in {
			t.Errorf("escapeVar(%q) does not round-trip: %q, %v", in, back, err)
		}
	}
}

func TestSubscriptionEventsAndAPI(t *testing.T) {
	p := hmacPair()
	e := newEnv(t, Options{Anonymous: true, Subscriptions: true}, p, p)
	const watchSel = "/.well-known/mercure/subscriptions/{topic}/{subscriber}"
	watchTok := p.mint(t, subClaims(watchSel, "/.well-known/mercure/subscriptions{/topic}{/subscriber}"), nil)
	// The API's cursor is the newest update; subscription events are not
	// stored (TestSubscriptionEventsKeepHistory).
	before := e.publish(url.Values{"topic": {"https://example.com/before"}, "data": {"x"}})

	watcher := e.mustOpen(e.subscribeReq("topic="+url.QueryEscape(watchSel), watchTok))
	self := decodeSub(t, watcher.next().Data)
	if self.Topic != watchSel || !self.Active {
		t.Fatalf("watcher's own subscription event: %+v", self)
	}
	// Subscription events are private: an anonymous watcher sees none.
	anon := e.mustOpen(e.subscribeReq("topic="+url.QueryEscape(watchSel)+"&topic=end", ""))

	const topic = "https://example.com/{selector}"
	tok := p.mint(t, map[string]any{"subscribe": []string{}, "payload": map[string]any{"foo": "bar"}}, nil)
	b := e.mustOpen(e.subscribeReq("topic="+url.QueryEscape(topic), tok))

	// The anonymous watcher's own subscriptions come first.
	var created subscriptionDoc
	for {
		ev := watcher.next()
		if created = decodeSub(t, ev.Data); created.Topic == topic {
			if ev.ID == "" {
				t.Fatal("subscription event without an ID")
			}
			break
		}
	}
	wantID := "/.well-known/mercure/subscriptions/https%3A%2F%2Fexample.com%2F%7Bselector%7D/" + escapeVar(created.Subscriber)
	if created.Context != "https://mercure.rocks/" || created.ID != wantID || created.Type != "Subscription" ||
		!strings.HasPrefix(created.Subscriber, "urn:uuid:") || !created.Active || string(created.Payload) != `{"foo":"bar"}` {
		t.Fatalf("creation event: %+v, want id %s", created, wantID)
	}

	api := func(path, token string) (*http.Response, string) {
		r, err := http.NewRequest("GET", e.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		return e.do(r)
	}

	// The collection.
	resp, body := api(subscriptionsPath, p.mint(t, subClaims("/.well-known/mercure/subscriptions{/topic}{/subscriber}"), nil))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/ld+json" {
		t.Fatalf("GET collection: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var all collectionDoc
	if err := json.Unmarshal([]byte(body), &all); err != nil {
		t.Fatal(err)
	}
	if all.Context != jsonldContext || all.ID != subscriptionsPath || all.Type != "Subscriptions" || all.LastEventID != before {
		t.Fatalf("collection: %+v", all)
	}
	topics := map[string]bool{}
	for _, s := range all.Subscriptions {
		topics[s.Topic] = true
	}
	if len(all.Subscriptions) != 4 || !topics[watchSel] || !topics[topic] || !topics["end"] {
		t.Fatalf("collection lists %+v", all.Subscriptions)
	}

	// The collection for one selector.
	resp, body = api(subscriptionsPath+"/"+escapeVar(topic), watchTok)
	var one collectionDoc
	if err := json.Unmarshal([]byte(body), &one); resp.StatusCode != http.StatusOK || err != nil ||
		one.ID != subscriptionsPath+"/"+escapeVar(topic) || len(one.Subscriptions) != 1 || one.Subscriptions[0].ID != created.ID {
		t.Fatalf("GET by topic: %d %s", resp.StatusCode, body)
	}

	// One subscription, authorized by an exact selector for its URL.
	resp, body = api(created.ID, p.mint(t, subClaims(created.ID), nil))
	var single subscriptionDoc
	if err := json.Unmarshal([]byte(body), &single); resp.StatusCode != http.StatusOK || err != nil ||
		single.ID != created.ID || single.Context != jsonldContext || single.LastEventID != before || !single.Active || string(single.Payload) != `{"foo":"bar"}` {
		t.Fatalf("GET one: %d %s", resp.StatusCode, body)
	}

	for _, tt := range []struct {
		name, path, token string
		status            int
	}{
		{"no token", subscriptionsPath, "", http.StatusUnauthorized},
		{"bad token", subscriptionsPath, "x.y.z", http.StatusUnauthorized},
		{"token for other topics", subscriptionsPath, p.mint(t, subClaims("https://example.com/{x}"), nil), http.StatusForbidden},
		{"exact token, other URL", subscriptionsPath, p.mint(t, subClaims(created.ID), nil), http.StatusForbidden},
		{"unknown subscriber", subscriptionsPath + "/" + escapeVar(topic) + "/urn%3Auuid%3Anope", watchTok, http.StatusNotFound},
		{"too deep", created.ID + "/more", watchTok, http.StatusNotFound},
	} {
		if resp, body := api(tt.path, tt.token); resp.StatusCode != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, resp.StatusCode, body, tt.status)
		}
	}

	// Ending the subscription announces it and removes it from the API.
	b.close()
	for {
		if d := decodeSub(t, watcher.next().Data); d.Topic == topic {
			if d.Active || d.ID != created.ID || d.Subscriber != created.Subscriber {
				t.Fatalf("termination event: %+v", d)
			}
			break
		}
	}
	if resp, body := api(created.ID, watchTok); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET ended subscription: %d %s", resp.StatusCode, body)
	}

	e.publish(url.Values{"topic": {"end"}, "data": {"end"}})
	if got := anon.until("end"); len(got) != 1 {
		t.Fatalf("anonymous watcher received private subscription events: %q", got)
	}
}

func decodeSub(t *testing.T, data string) subscriptionDoc {
	t.Helper()
	var d subscriptionDoc
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		t.Fatalf("event data %q: %v", data, err)
	}
	return d
}

// TestSubscriptionEventsKeepHistory is issue 19 item 6: subscription events
// must not push updates out of the bounded history. One client opening and
// closing connections with many selectors used to write two events per
// selector into the log; now they are announced, not stored, so the
// updates stay resumable. Resuming from a subscription event's ID replays
// the updates published after it, not the whole history.
func TestSubscriptionEventsKeepHistory(t *testing.T) {
	p := hmacPair()
	e := newEnv(t, Options{Anonymous: true, Subscriptions: true}, p, p)
	var ids []string
	for i := range 5 {
		ids = append(ids, e.publish(url.Values{"topic": {"https://example.com/book"}, "data": {fmt.Sprint(i)}}))
	}
	watchSel := "/.well-known/mercure/subscriptions{/topic}{/subscriber}"
	watcher := e.mustOpen(e.subscribeReq("topic="+url.QueryEscape(watchSel), p.mint(t, subClaims(watchSel), nil)))
	// Its own subscription's event first: each subscription is announced
	// in the background, so the next ones could otherwise come before it.
	ev := watcher.next()
	if d := decodeSub(t, ev.Data); !d.Active || d.Topic != watchSel {
		t.Fatalf("first subscription event: %+v", d)
	}
	var sels []string
	for j := range DefaultMaxTopics {
		sels = append(sels, "topic="+url.QueryEscape(fmt.Sprintf("https://example.com/{x}/%d", j)))
	}
	for range 3 {
		e.mustOpen(e.subscribeReq(strings.Join(sels, "&"), "")).close()
	}
	// The watcher saw them live.
	for range 2 * 3 * DefaultMaxTopics {
		ev = watcher.next()
	}
	if d := decodeSub(t, ev.Data); d.Active {
		t.Fatalf("last subscription event: %+v, want an end", d)
	}
	if n, _ := e.log.Len(context.Background()); n != len(ids) {
		t.Fatalf("the history holds %d entries after 600 subscription events, want the %d updates alone", n, len(ids))
	}
	// Resuming from it gets the updates published since, and only those.
	after := e.publish(url.Values{"topic": {"https://example.com/book"}, "data": {"after"}})
	r := e.subscribeReq("topic="+url.QueryEscape("https://example.com/book"), "")
	r.Header.Set("Last-Event-ID", ev.ID)
	s := e.mustOpen(r)
	if got := s.next(); got.ID != after {
		t.Fatalf("resumed from a subscription event: got %q, want %q", got.ID, after)
	}
	r = e.subscribeReq("topic="+url.QueryEscape("https://example.com/book"), "")
	r.Header.Set("Last-Event-ID", ids[0])
	s = e.mustOpen(r)
	if got := s.next(); got.ID != ids[1] {
		t.Fatalf("resumed from the first update: got %q, want %q", got.ID, ids[1])
	}
}

// gatedLog is a log whose appends wait until open is closed: the store
// of a cluster's announcements, unreachable for a while.
type gatedLog struct {
	*hub.MemoryLog
	open chan struct{}
}

func (l *gatedLog) Append(ctx context.Context, u *hub.Update) error {
	select {
	case <-l.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return l.MemoryLog.Append(ctx, u)
}

// TestSubscriptionEventsDoNotHoldStreams: on a cluster, announcing a
// subscription is a round trip to the store per selector. A subscriber's
// stream does not wait for it: while the store holds the announcements,
// the subscriber gets its updates, and once it answers the subscription's
// events come out start first, end second.
func TestSubscriptionEventsDoNotHoldStreams(t *testing.T) {
	p := hmacPair()
	ann := &gatedLog{MemoryLog: hub.NewMemoryLog(hub.MemoryLogOptions{}), open: make(chan struct{})}
	t.Cleanup(func() { ann.Close() })
	e := newEnvHub(t, Options{Anonymous: true, Subscriptions: true}, p, p, hub.MemoryLogOptions{}, hub.Options{Announcements: ann})
	const watchSel = "/.well-known/mercure/subscriptions/{topic}/{subscriber}"
	watcher := e.mustOpen(e.subscribeReq("topic="+url.QueryEscape(watchSel), p.mint(t, subClaims(watchSel), nil)))
	const topic = "https://example.com/held"
	b := e.mustOpen(e.subscribeReq("topic="+url.QueryEscape(topic), ""))
	e.publish(url.Values{"topic": {topic}, "data": {"while held"}})
	if ev := b.next(); ev.Data != "while held" {
		t.Fatalf("the subscriber got %q, want the update", ev.Data)
	}
	b.close()
	close(ann.open)
	var got []bool
	for len(got) < 2 {
		if d := decodeSub(t, watcher.next().Data); d.Topic == topic {
			got = append(got, d.Active)
		}
	}
	if got[0] != true || got[1] != false {
		t.Fatalf("the subscription's events came as active %v, want [true false]", got)
	}
}
