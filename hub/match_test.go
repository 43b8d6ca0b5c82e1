package hub

import (
	"fmt"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		selector, topic string
		want            bool
	}{
		{"*", "https://example.com/books/1", true},
		{"*", "", true},
		{"https://example.com/books/1", "https://example.com/books/1", true},
		{"https://example.com/books/1", "https://example.com/books/2", false},
		{"https://example.com/books/{id}", "https://example.com/books/1", true},
		{"https://example.com/books/{id}", "https://example.com/books/1/reviews", false},
		{"https://example.com/books/{id}", "https://example.com/authors/1", false},
		{"https://example.com/books/{+rest}", "https://example.com/books/1/reviews/2", true},
		{"https://example.com/{type}/{id}", "https://example.com/books/1", true},
		{"https://example.com/books{?page}", "https://example.com/books?page=2", true},
		{"urn:books:{id}", "urn:books:42", true},
		// A selector is also compared literally, template or not.
		{"https://example.com/books/{id}", "https://example.com/books/{id}", true},
		// Invalid templates match nothing but themselves.
		{"https://example.com/books/{id", "https://example.com/books/1", false},
		{"https://example.com/books/{id", "https://example.com/books/{id", true},
		{"{}", "x", false},
		{"{", "{", true},
		{"books", "https://example.com/books", false},
	} {
		m := newMatcher(nil)
		for round := range 2 { // the second round is answered from the cache
			if got := m.match(tc.selector, tc.topic); got != tc.want {
				t.Errorf("round %d: match(%q, %q) = %v, want %v", round, tc.selector, tc.topic, got, tc.want)
			}
		}
	}
}

func TestMatchCacheBounded(t *testing.T) {
	const templateCacheSize, resultCacheSize = 64, 512
	m := newSizedMatcher(nil, templateCacheSize, resultCacheSize)
	const sel = "https://example.com/books/{id}"
	for i := range 3 * resultCacheSize {
		if !m.match(sel, fmt.Sprintf("https://example.com/books/%d", i)) {
			t.Fatalf("book %d did not match", i)
		}
	}
	if n := m.results.len(); n > resultCacheSize {
		t.Fatalf("result cache holds %d entries, bound is %d", n, resultCacheSize)
	}
	for i := range 2 * templateCacheSize {
		m.match(fmt.Sprintf("https://example.com/t%d/{id}", i), "https://example.com/t0/1")
	}
	if n := m.templates.len(); n > templateCacheSize {
		t.Fatalf("template cache holds %d entries, bound is %d", n, templateCacheSize)
	}
	if !m.match("https://example.com/t0/{id}", "https://example.com/t0/1") {
		t.Fatal("evicted template no longer matches")
	}
}

func TestBoundedMapKeepsRecent(t *testing.T) {
	b := newBoundedMap[int, int](4)
	for i := range 10 {
		b.put(i, i*i)
		// The entry just put and the one before it survive any put.
		if v, ok := b.get(i); !ok || v != i*i {
			t.Fatalf("get(%d) = %d, %v right after put", i, v, ok)
		}
		if i > 0 {
			if v, ok := b.get(i - 1); !ok || v != (i-1)*(i-1) {
				t.Fatalf("get(%d) = %d, %v: the previous entry was evicted", i-1, v, ok)
			}
		}
		if b.len() > 4 {
			t.Fatalf("len = %d > 4", b.len())
		}
	}
	if _, ok := b.get(0); ok {
		t.Fatal("get(0) found an entry that should have been evicted")
	}
}

// FuzzMatch checks that no selector or topic makes matching panic or hang,
// that the cached answer equals the uncached one, and the rules that need no
// template engine: "*" and equality always match.
func FuzzMatch(f *testing.F) {
	f.Add("https://example.com/books/{id}", "https://example.com/books/1")
	f.Add("*", "anything")
	f.Add("{+a}{#b}{.c}{/d}{;e}{?f}{&g}", "x/y.z;e=1?f=2&g=3")
	f.Add("{a:3}", "abc")
	f.Add("{a*}", "1,2,3")
	f.Add("https://example.com/{", "https://example.com/{")
	m := newMatcher(nil)
	f.Fuzz(func(t *testing.T, selector, topic string) {
		got := m.match(selector, topic)
		if again := m.match(selector, topic); again != got {
			t.Fatalf("cached match(%q, %q) = %v, first answer %v", selector, topic, again, got)
		}
		if fresh := newMatcher(nil).match(selector, topic); fresh != got {
			t.Fatalf("match(%q, %q) = %v with a fresh cache, %v with a used one", selector, topic, fresh, got)
		}
		if (selector == "*" || selector == topic) && !got {
			t.Fatalf("match(%q, %q) = false", selector, topic)
		}
		if !isTemplate(selector) && selector != "*" && got != (selector == topic) {
			t.Fatalf("match(%q, %q) = %v for a plain selector", selector, topic, got)
		}
		// The fan-out index relies on the literal prefix: a topic that
		// does not start with it is never evaluated.
		c := compile0x(selector)
		if c.Match(topic) != got {
			t.Fatalf("compiled %q: Match(%q) = %v, match says %v", selector, topic, !got, got)
		}
		prefix, complete := c.LiteralPrefix()
		if got && (!strings.HasPrefix(topic, prefix) || complete && topic != prefix) {
			t.Fatalf("%q matches %q, outside its literal prefix %q (complete: %v)", selector, topic, prefix, complete)
		}
	})
}

func TestMatchLongPairsNotCached(t *testing.T) {
	m := newMatcher(nil)
	long := "https://example.com/books/" + strings.Repeat("x", maxCachedPair)
	if !m.match("https://example.com/books/{id}", long) {
		t.Fatal("a long topic did not match")
	}
	if n := m.results.len(); n != 0 {
		t.Fatalf("result cache holds %d entries after a match longer than %d bytes", n, maxCachedPair)
	}
}
