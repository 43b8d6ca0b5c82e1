//go:build unix

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/cmd/ssehub/ssehubtest"
	"github.com/ssehub/ssehub/mercure"
)

// subEvent is what a test reads of a subscription event: its SSE ID and
// type, and of its document the selector (0.x topic or 1.0 match), the
// subscriber and whether it is active.
type subEvent struct {
	id, typ  string
	selector string
	active   bool
}

// readSubEvents reads w's events until it has seen the end (active
// false) of a subscription with each selector in ends, and returns, in
// order, those whose selector is in keep.
func readSubEvents(t *testing.T, w *sub, ends []string, keep ...string) []subEvent {
	t.Helper()
	var out []subEvent
	seen := map[string]bool{}
	for len(seen) < len(ends) {
		ev := w.next()
		var doc struct {
			Topic, Match string
			Active       bool
		}
		if json.Unmarshal([]byte(ev.Data), &doc) != nil {
			continue
		}
		e := subEvent{id: ev.ID, typ: ev.Type, selector: doc.Topic + doc.Match, active: doc.Active}
		if slices.Contains(keep, e.selector) {
			out = append(out, e)
		}
		if !e.active && slices.Contains(ends, e.selector) {
			seen[e.selector] = true
		}
	}
	return out
}

// TestBinaryClusterSubscriptionEvents runs three hubs sharing a store with
// --subscriptions. A subscriber of the subscription events on hub B or C
// gets the events of the subscribers coming and going on hub A, Mercure
// 0.x's and 1.0's, each once and all in one order, with the same IDs on
// every hub; B's subscriptions API lists A's 1.0 subscriber as well as its
// 0.x one (Mercure 1.0, "Subscription Events" and "Subscription API": the
// hub publishes an update whenever a subscription is created or
// terminated; Mercure 0.x, "Active Subscriptions"). When A is killed, the
// end of its last subscription reaches both other hubs' watchers, once.
func TestBinaryClusterSubscriptionEvents(t *testing.T) {
	for _, store := range []string{"redis", "nats"} {
		t.Run(store, func(t *testing.T) {
			storeArgs := sharedStore(t, store)
			const iss, res = "https://issuer.test", "http://hub.test/.well-known/mercure"
			start := func() (*ssehubtest.Proc, string) {
				addr := ssehubtest.FreeAddr(t)
				args := append([]string{"--addr", addr, "--data", t.TempDir(), "--jwt-key", testKey, "--jwt-issuer", iss,
					"--resource-identifier", res, "--anonymous", "--demo=false", "--subscriptions", "--presence-ttl", "2s"}, storeArgs...)
				return ssehubtest.Start(t, nil, args...), "http://" + addr
			}
			a, baseA := start()
			_, baseB := start()
			_, baseC := start()
			tok0 := token(t, testKey, nil, []string{"*"}, time.Minute)
			tok1, err := mintAccessToken([]byte(testKey), iss, res, nil, []string{"*"}, time.Minute, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			match := func(base, tok string, sel string) *sub {
				return subscribeTo(t, newClient(t), base+mercure.Path+"?"+url.Values{"match": {sel}}.Encode(), tok, "")
			}
			watchers := []struct {
				name string
				w    *sub
			}{
				{"B 0.x", subscribe(t, newClient(t), baseB, tok0, "", "*")},
				{"C 0.x", subscribe(t, newClient(t), baseC, tok0, "", "*")},
				{"B 1.0", match(baseB, tok1, "*")},
			}

			sel0, sel1, sel2, sel3 := "https://example.com/c/0", "https://example.com/c/1", "https://example.com/c/2", "https://example.com/c/3"
			s0 := subscribe(t, newClient(t), baseA, "", "", sel0)
			s1 := match(baseA, tok1, sel1)
			// B lists both of A's subscribers, each in its dialect's API.
			api := func(tok, path string) (int, string) {
				req, _ := http.NewRequest(http.MethodGet, baseB+path, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := newClient(t).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			deadline := time.Now().Add(waitLong)
			for {
				code0, body0 := api(tok0, "/.well-known/mercure/subscriptions")
				code1, body1 := api(tok1, "/.well-known/mercure/subscriptions/exact/"+url.PathEscape(sel1))
				if code0 == http.StatusOK && strings.Contains(body0, `"topic":"`+sel0+`"`) &&
					code1 == http.StatusOK && strings.Contains(body1, `"match":"`+sel1+`"`) && strings.Contains(body1, `"match_type":"exact"`) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("B's subscriptions APIs do not list A's subscribers:\n0.x %d %s\n1.0 %d %s", code0, body0, code1, body1)
				}
				time.Sleep(50 * time.Millisecond)
			}
			s0.cancel()
			s1.cancel()
			// Once every watcher has seen both ends, a marker subscriber
			// comes and goes: its events follow in the one order, so a
			// repeat of the others' would come before its end.
			got := make([][]subEvent, len(watchers))
			for i, w := range watchers {
				got[i] = readSubEvents(t, w.w, []string{sel0, sel1}, sel0, sel1)
			}
			subscribe(t, newClient(t), baseA, "", "", sel2).cancel()
			for i, w := range watchers {
				got[i] = append(got[i], readSubEvents(t, w.w, []string{sel2}, sel0, sel1, sel2)...)
			}
			// Then A's 1.0 subscriber sel3 outlives A: killed, it removes
			// nothing, and B or C reaps it.
			s3 := match(baseA, tok1, sel3)
			defer s3.cancel()
			deadline = time.Now().Add(waitLong)
			for {
				_, body := api(tok1, "/.well-known/mercure/subscriptions")
				if strings.Contains(body, `"match":"`+sel3+`"`) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("B's subscriptions API does not list A's subscriber %s: %s", sel3, body)
				}
				time.Sleep(50 * time.Millisecond)
			}
			a.Kill()
			for i, w := range watchers {
				got[i] = append(got[i], readSubEvents(t, w.w, []string{sel3}, sel0, sel1, sel2, sel3)...)
			}
			// A marker from B: a repeat of sel3's end would come before.
			subscribe(t, newClient(t), baseB, "", "", sel2).cancel()
			for i, w := range watchers {
				got[i] = append(got[i], readSubEvents(t, w.w, []string{sel2}, sel3)...)
			}

			// The 1.0 events have the reserved type; the 0.x ones none, which
			// an EventSource reads as "message".
			for i, w := range watchers {
				var want []string
				for _, sel := range []string{sel0, sel1, sel2, sel3} {
					want = append(want, sel+" true", sel+" false")
				}
				var have []string
				for _, e := range got[i] {
					have = append(have, fmt.Sprintf("%s %v", e.selector, e.active))
					if wantType := map[bool]string{true: "mercure", false: "message"}[e.selector == sel1 || e.selector == sel3]; e.typ != wantType {
						t.Errorf("%s: the event of %s has type %q, want %q", w.name, e.selector, e.typ, wantType)
					}
				}
				slices.Sort(want)
				sorted := slices.Sorted(slices.Values(have))
				if !slices.Equal(sorted, want) {
					t.Errorf("%s got the subscription events %q, want each of %q once", w.name, have, want)
				}
				if i > 0 && !slices.EqualFunc(got[i], got[0], func(x, y subEvent) bool { return x.id == y.id && x.selector == y.selector && x.active == y.active }) {
					t.Errorf("%s got the events in another order or with other IDs than %s:\n%v\n%v", w.name, watchers[0].name, got[i], got[0])
				}
			}
		})
	}
}
