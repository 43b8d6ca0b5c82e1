package hub_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/ssehub/ssehub/hub"
)

// Mercure 1.0 (draft-dunglas-mercure-08), "Matcher Types": the built-in
// syntaxes.
func TestBuiltinSyntaxes(t *testing.T) {
	h := newHub(t, hub.Options{})
	for _, tc := range []struct {
		sel   hub.Selector
		topic string
		want  bool
	}{
		// "Exact Matching": byte for byte, a template is just bytes.
		{hub.Selector{hub.SyntaxExact, "https://example.com/books/{id}"}, "https://example.com/books/1", false},
		{hub.Selector{hub.SyntaxExact, "https://example.com/books/{id}"}, "https://example.com/books/{id}", true},
		{hub.Selector{hub.SyntaxExact, "https://example.com/a"}, "https://EXAMPLE.com/a", false},
		{hub.Selector{hub.SyntaxExact, "/a"}, "https://example.com/a", false},
		// "*" matches every topic whatever the kind.
		{hub.Selector{hub.SyntaxExact, "*"}, "anything", true},
		{hub.Selector{hub.SyntaxURLPattern, "*"}, "anything", true},
		// The 0.x kind still reads templates.
		{hub.Selector{"", "https://example.com/books/{id}"}, "https://example.com/books/1", true},
		// "URL Pattern": one segment per :name, host case-insensitive,
		// search and hash left open, port not.
		{hub.Selector{hub.SyntaxURLPattern, "https://example.com/books/:id"}, "https://example.com/books/1", true},
		{hub.Selector{hub.SyntaxURLPattern, "https://example.com/books/:id"}, "https://example.com/books/1?x=1#f", true},
		{hub.Selector{hub.SyntaxURLPattern, "https://example.com/books/:id"}, "https://EXAMPLE.com/books/1", true},
		{hub.Selector{hub.SyntaxURLPattern, "https://example.com/books/:id"}, "https://example.com/BOOKS/1", false},
		{hub.Selector{hub.SyntaxURLPattern, "https://example.com/books/:id"}, "https://example.com/books/1/2", false},
		{hub.Selector{hub.SyntaxURLPattern, "https://example.com/books/:id"}, "https://example.com:8443/books/1", false},
		{hub.Selector{hub.SyntaxURLPattern, "https://example.com/:type(news|alerts)/:id"}, "https://example.com/news/3", true},
		{hub.Selector{hub.SyntaxURLPattern, "https://example.com/:type(news|alerts)/:id"}, "https://example.com/sports/3", false},
		// Relative patterns and topics resolve against the base URL.
		{hub.Selector{hub.SyntaxURLPattern, "/.well-known/mercure/subscriptions/exact/:t/:s"}, "/.well-known/mercure/subscriptions/exact/a/b", true},
		{hub.Selector{hub.SyntaxURLPattern, "/books/:id"}, "https://real.example/books/1", false},
		// A topic that is not a URL matches no pattern.
		{hub.Selector{hub.SyntaxURLPattern, "https://example.com/:id"}, "not a url", false},
		// A pattern equal to the topic does not match by equality alone.
		{hub.Selector{hub.SyntaxURLPattern, "https://example.com/(a|b"}, "https://example.com/(a|b", false},
	} {
		for round := range 2 { // the second round is answered from the cache
			if got := h.MatchSelector(tc.sel, tc.topic); got != tc.want {
				t.Errorf("round %d: MatchSelector(%q %q, %q) = %v, want %v", round, tc.sel.Syntax, tc.sel.Text, tc.topic, got, tc.want)
			}
		}
	}
}

func TestURLPatternBaseURL(t *testing.T) {
	h := newHub(t, hub.Options{BaseURL: "https://hub.example/.well-known/mercure"})
	if !h.MatchSelector(hub.Selector{Syntax: hub.SyntaxURLPattern, Text: "/books/:id"}, "https://hub.example/books/1") {
		t.Error("a relative pattern must resolve against the configured base URL")
	}
	if !h.MatchSelector(hub.Selector{Syntax: hub.SyntaxURLPattern, Text: "https://hub.example/books/:id"}, "/books/1") {
		t.Error("a relative topic must resolve against the configured base URL")
	}
}

func TestCheckSelector(t *testing.T) {
	h := newHub(t, hub.Options{})
	for _, tc := range []struct {
		sel hub.Selector
		ok  bool
	}{
		{hub.Selector{Syntax: hub.SyntaxURLPattern, Text: "https://example.com/books/:id"}, true},
		{hub.Selector{Syntax: hub.SyntaxURLPattern, Text: "*"}, true},
		{hub.Selector{Syntax: hub.SyntaxURLPattern, Text: "https://example.com/(a|b"}, false},
		// RE2 has no lookahead: such a pattern is refused, never slow.
		{hub.Selector{Syntax: hub.SyntaxURLPattern, Text: "https://example.com/:id((?=a)a)"}, false},
		{hub.Selector{Syntax: hub.SyntaxExact, Text: "https://example.com/(a|b"}, true},
		{hub.Selector{Syntax: hub.SyntaxExact, Text: ""}, false},
		{hub.Selector{Syntax: "nope", Text: "x"}, false},
	} {
		err := h.CheckSelector(tc.sel)
		if (err == nil) != tc.ok {
			t.Errorf("CheckSelector(%q %q) = %v, want ok=%v", tc.sel.Syntax, tc.sel.Text, err, tc.ok)
		}
		if err != nil && !errors.Is(err, hub.ErrInvalidSubscription) {
			t.Errorf("CheckSelector error %v does not wrap ErrInvalidSubscription", err)
		}
	}
	_, err := h.Subscribe(t.Context(), hub.Subscription{Selectors: []hub.Selector{{Syntax: hub.SyntaxURLPattern, Text: "https://example.com/(a"}}})
	if !errors.Is(err, hub.ErrInvalidSubscription) {
		t.Errorf("Subscribe with a broken pattern: %v, want ErrInvalidSubscription", err)
	}
	_, err = h.Subscribe(t.Context(), hub.Subscription{Topics: []string{"x"}, Grants: []hub.Selector{{Syntax: hub.SyntaxURLPattern, Text: "(("}}})
	if !errors.Is(err, hub.ErrInvalidSubscription) {
		t.Errorf("Subscribe with a broken grant: %v, want ErrInvalidSubscription", err)
	}
}

// Typed selectors and grants take part in live delivery and replay like
// 0.x ones (Mercure 1.0, "Subscribers" and "Reconnection...": replayed
// private updates are checked against the grants like live ones).
func TestTypedSelectorsDelivery(t *testing.T) {
	l := newLog(t, hub.MemoryLogOptions{})
	h := newHub(t, hub.Options{Log: l})
	first := publish(t, h, &hub.Update{Topics: []string{"https://example.com/0"}})
	waitDispatched(t, h, l)
	type subCase struct {
		name   string
		sub    hub.Subscription
		want   []string
		replay bool
	}
	cases := []subCase{
		{"exact with braces", hub.Subscription{Selectors: []hub.Selector{{Syntax: hub.SyntaxExact, Text: "https://example.com/{id}"}}},
			[]string{"https://example.com/{id}"}, false},
		{"pattern granted by a pattern", hub.Subscription{
			Selectors: []hub.Selector{{Syntax: hub.SyntaxURLPattern, Text: "https://example.com/:id"}},
			Grants:    []hub.Selector{{Syntax: hub.SyntaxURLPattern, Text: "https://example.com/:id"}}},
			// {id} is one path segment, %7Bid%7D, to a URL pattern.
			[]string{"https://example.com/1", "https://example.com/2", "https://example.com/3", "https://example.com/{id}"}, false},
		{"wildcard granted one topic", hub.Subscription{
			Selectors: []hub.Selector{{Syntax: hub.SyntaxExact, Text: "*"}},
			Grants:    []hub.Selector{{Syntax: hub.SyntaxExact, Text: "https://example.com/2"}}},
			[]string{"https://example.com/1", "https://example.com/2", "https://example.com/{id}"}, false},
	}
	for _, c := range cases[1:] {
		c.name += ", replayed"
		c.sub.LastEventID = first
		c.replay = true
		cases = append(cases, c)
	}
	recs := make([]*recorder, len(cases))
	for i, c := range cases {
		recs[i] = newRecorder()
		startRun(t, subscribe(t, h, c.sub), recs[i])
	}
	publish(t, h, &hub.Update{Topics: []string{"https://example.com/1"}, ID: "https://example.com/1"})
	publish(t, h, &hub.Update{Topics: []string{"https://example.com/2"}, ID: "https://example.com/2", Private: true})
	publish(t, h, &hub.Update{Topics: []string{"https://example.com/3"}, ID: "https://example.com/3", Private: true})
	publish(t, h, &hub.Update{Topics: []string{"https://example.com/{id}"}, ID: "https://example.com/{id}"})
	// A last public update every case receives marks the end.
	publish(t, h, &hub.Update{Topics: []string{"https://example.com/{id}", "https://example.com/9"}, ID: "end"})
	for i, c := range cases {
		want := append(append([]string(nil), c.want...), "end")
		got := recs[i].waitFor(t, len(want))
		ids := make([]string, len(got))
		for j, e := range got {
			ids[j] = e.id
		}
		if !slices.Equal(ids, want) {
			t.Errorf("%s: got %q, want %q", c.name, ids, want)
		}
	}
}

// FuzzURLPattern compiles arbitrary URL patterns and matches them against
// arbitrary topics (Mercure 1.0, "URL Pattern"): never a panic, and the
// same answer from the fan-out index, MatchSelector's cache and a fresh
// hub.
func FuzzURLPattern(f *testing.F) {
	for _, s := range [][2]string{
		{"https://example.com/books/:id", "https://example.com/books/1"},
		{"/books/:id", "/books/2"},
		{"https://example.com/:x(a+)+b", "https://example.com/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
		{"https://example.com/:x((?=a).)", "https://example.com/a"},
		{"https://*.example.com/*", "https://a.example.com/x?y#z"},
		{"{https://example.com}?/:a", "x"},
		{"(", ")"},
		{"https://example.com/:id(\\d+)", "https://example.com/123"},
	} {
		f.Add(s[0], s[1])
	}
	// A short history keeps each replay short.
	h := newHub(f, hub.Options{Log: newLog(f, hub.MemoryLogOptions{MaxLen: 2})})
	f.Fuzz(func(t *testing.T, pattern, topic string) {
		if len(pattern) > 4096 || len(topic) > 4096 {
			return
		}
		sel := hub.Selector{Syntax: hub.SyntaxURLPattern, Text: pattern}
		err := h.CheckSelector(sel)
		got := h.MatchSelector(sel, topic)
		if err != nil && got {
			t.Fatalf("a pattern that does not compile matched: %q", pattern)
		}
		if again := h.MatchSelector(sel, topic); again != got {
			t.Fatalf("%q vs %q: %v then %v", pattern, topic, got, again)
		}
		if err != nil || pattern == "" || (&hub.Update{Topics: []string{topic}}).Validate() != nil {
			return
		}
		// The fan-out agrees.
		s, err := h.Subscribe(t.Context(), hub.Subscription{Selectors: []hub.Selector{sel}, LastEventID: hub.EarliestID})
		if err != nil {
			t.Fatalf("Subscribe(%q): %v", pattern, err)
		}
		defer s.Close()
		id, err := h.Publish(t.Context(), &hub.Update{Topics: []string{topic}})
		if err != nil {
			t.Fatal(err)
		}
		rec := newRecorder()
		done := make(chan error, 1)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { done <- s.Replay(ctx, rec) }()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if slices.Contains(rec.ids(), id) != got {
			t.Fatalf("%q vs %q: MatchSelector %v, the fan-out disagrees", pattern, topic, got)
		}
	})
}
