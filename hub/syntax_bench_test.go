package hub

import (
	"context"
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkDispatchSyntaxes measures the fan-out of one update to 10,000
// subscribers sharing one selector, a URI template (Mercure 0.x) or a URL
// pattern (Mercure 1.0), beside as many distinct selectors of the same
// syntax that do not match it: each distinct selector is compiled once and
// evaluated at most once per update, whatever the number of subscribers
// sharing it. URI templates are filed under their literal prefix, URL
// patterns under the prefix of the parsed topics they match, so the
// non-matching ones here cost nothing (BenchmarkDispatchTemplates has the
// 30,000 of issue 19).
func BenchmarkDispatchSyntaxes(b *testing.B) {
	const subscribers = 10_000
	for _, tc := range []struct {
		name  string
		sel   func(i int) (Subscription, string) // the i-th distinct selector, and a topic it matches
		other func(i int) Subscription
	}{
		{"template", func(int) (Subscription, string) {
			return Subscription{Topics: []string{"https://example.com/books/{id}"}}, "https://example.com/books/1"
		}, func(i int) Subscription {
			return Subscription{Topics: []string{fmt.Sprintf("https://example.com/authors/%d/{id}", i)}}
		}},
		{"urlpattern", func(int) (Subscription, string) {
			return Subscription{Selectors: []Selector{{Syntax: SyntaxURLPattern, Text: "https://example.com/books/:id"}}}, "https://example.com/books/1"
		}, func(i int) Subscription {
			return Subscription{Selectors: []Selector{{Syntax: SyntaxURLPattern, Text: fmt.Sprintf("https://example.com/authors/%d/:id", i)}}}
		}},
	} {
		for _, distinct := range []int{0, 100} {
			b.Run(fmt.Sprintf("%s/others=%d", tc.name, distinct), func(b *testing.B) {
				h, err := New(Options{QueueSize: 1 << 20})
				if err != nil {
					b.Fatal(err)
				}
				defer h.Close(context.Background())
				ctx := context.Background()
				sub, topic := tc.sel(0)
				subs := make([]*Subscriber, subscribers)
				for i := range subs {
					if subs[i], err = h.Subscribe(ctx, sub); err != nil {
						b.Fatal(err)
					}
				}
				for i := range distinct {
					if _, err := h.Subscribe(ctx, tc.other(i)); err != nil {
						b.Fatal(err)
					}
				}
				u := &Update{ID: "x", Data: "hello", Topics: []string{topic}}
				seq := h.pos
				runtime.GC()
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					seq++
					u.Seq = seq
					h.dispatch(u)
					if i%256 == 255 {
						b.StopTimer()
						for _, s := range subs {
							s.mu.Lock()
							s.q = s.q[:0]
							s.mu.Unlock()
						}
						b.StartTimer()
					}
				}
				b.StopTimer()
				if n := len(subs[0].q); n == 0 && b.N%256 != 0 {
					b.Fatal("the subscribers got nothing: the benchmark does not measure delivery")
				}
			})
		}
	}
}

// BenchmarkSelectorMatch evaluates one compiled selector against a topic,
// as the fan-out does once per distinct selector and update: a URI
// template (a regexp) beside a URL pattern (a URL parse, then string
// comparisons per component for the shapes urlPlan reads, else the
// library's regexp per component).
func BenchmarkSelectorMatch(b *testing.B) {
	h, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close(context.Background())
	const topic = "https://example.com/books/12345"
	for _, sel := range []Selector{
		{Text: "https://example.com/books/{id}"},
		{Syntax: SyntaxURLPattern, Text: "https://example.com/books/:id"},
		{Syntax: SyntaxExact, Text: topic},
	} {
		m, err := h.compileSelector(sel)
		if err != nil {
			b.Fatal(err)
		}
		name := sel.Syntax
		if name == "" {
			name = "template"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if !m.Match(topic) {
					b.Fatal("no match")
				}
			}
		})
	}
}
