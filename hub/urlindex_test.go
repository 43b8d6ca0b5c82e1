package hub

import (
	"context"
	"strings"
	"testing"
)

// urlIndexCase is a URL pattern, a topic and whether the pattern matches
// it, under DefaultBaseURL.
type urlIndexCase struct {
	pattern, topic string
	match          bool
}

// urlIndexCases are the spellings URL Pattern matching folds together
// (URL Pattern, "Matching", which parses the input with the URL parser:
// WHATWG URL, "URL parsing"): the index must find each pattern under every
// spelling of a topic it matches, and skip it for topics it cannot match.
var urlIndexCases = []urlIndexCase{
	{"https://example.com/books/:id", "https://example.com/books/1", true},
	// The host parser lowercases the host; the scheme is lowercased too.
	{"https://example.com/books/:id", "HTTPS://EXAMPLE.COM/books/1", true},
	{"https://EXAMPLE.com/books/:id", "https://example.com/books/1", true},
	// Hosts are compared after IDNA (punycode), both ways.
	{"https://exämple.com/books/:id", "https://xn--exmple-cua.com/books/1", true},
	{"https://xn--exmple-cua.com/books/:id", "https://EXÄMPLE.com/books/1", true},
	// A default port is no port; another port is.
	{"https://example.com/books/:id", "https://example.com:443/books/1", true},
	{"https://example.com:443/books/:id", "https://example.com/books/1", true},
	{"https://example.com/books/:id", "https://example.com:8443/books/1", false},
	{"https://example.com:8443/books/:id", "https://example.com:8443/books/1", true},
	// The path is percent-encoded by the parser, and dot segments and
	// backslashes (special schemes) normalised; encoded octets stay as
	// they are, in either case.
	{"https://example.com/bö/:id", "https://example.com/b%C3%B6/1", true},
	{"https://example.com/b%C3%B6/:id", "https://example.com/bö/1", true},
	{"https://example.com/books/:id", "https://example.com/a/../books/1", true},
	{"https://example.com/books/:id", "https://example.com\\books\\1", true},
	{"https://example.com/books/:id", "https://example.com/b%6Foks/1", false},
	// Tabs and newlines are removed, leading and trailing spaces trimmed.
	{"https://example.com/books/:id", " https://exam\tple.com/bo\noks/1 ", true},
	// Relative patterns and topics are resolved against the base.
	{"/books/:id", "/books/1", true},
	{"/books/:id", "http://mercure.invalid/books/1", true},
	{"http://mercure.invalid/books/:id", "books/1", false},
	{"http://mercure.invalid/.well-known/books/:id", "books/1", true},
	{"/books/:id", "https://example.com/books/1", false},
	// A special scheme without "//" is relative to a base of that scheme.
	{"/books/:id", "http:/books/1", true},
	{"/.well-known/books/:id", "http:books/1", true},
	{"http://books/:id", "http:/books/1", false},
	{"https://books/:id", "https:/books/1", true},
	// User info is not part of the key: the pattern decides.
	{"https://example.com/books/:id", "https://u:p@example.com/books/1", true},
	{"https://u:p@example.com/books/:id", "https://example.com/books/1", false},
	// An optional segment's "/" is optional.
	{"https://example.com/books/:id?", "https://example.com/books", true},
	{"https://example.com/books/*?", "https://example.com/books", true},
	{"https://example.com/books{/:id}?", "https://example.com/books", true},
	// Wildcards in the scheme or host end the key there.
	{"http{s}?://example.com/books/:id", "http://example.com/books/1", true},
	{"https://*.example.com/books/:id", "https://a.example.com/books/1", true},
	{"https://:host.com/books/:id", "https://example.com/books/1", true},
	// Not a URL: nothing matches.
	{"https://example.com/*", "https://exa mple.com/1", false},
	// Search and hash are not in the key.
	{"https://example.com/books/:id\\?q=*", "https://example.com/books/1?q=2", true},
}

// TestURLPatternKey checks urlIndexCases against the library's matcher,
// that the index key of a pattern is a prefix of the key of every topic it
// matches, and that the hub's fan-out delivers exactly to the matching
// patterns, beside 100 patterns of other hosts and paths that the index
// must skip.
func TestURLPatternKey(t *testing.T) {
	h, err := New(Options{QueueSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	for i := range 100 {
		text := "https://example.com/authors/" + strings.Repeat("x", i) + "/:id"
		if _, err := h.Subscribe(t.Context(), Subscription{Selectors: []Selector{{Syntax: SyntaxURLPattern, Text: text}}}); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range urlIndexCases {
		m, err := compileURLPattern(c.pattern, DefaultBaseURL)
		if err != nil {
			t.Fatalf("%q: %v", c.pattern, err)
		}
		if got := m.Match(c.topic); got != c.match {
			t.Errorf("%q matches %q: %v, want %v", c.pattern, c.topic, got, c.match)
			continue
		}
		key := m.(urlPatternMatcher).key
		tk, ok := urlKey(c.topic, DefaultBaseURL)
		if c.match && (!ok || !strings.HasPrefix(tk, key)) {
			t.Errorf("%q matches %q, but its key %q is not a prefix of the topic's %q", c.pattern, c.topic, key, tk)
		}
		s, err := h.Subscribe(t.Context(), Subscription{Selectors: []Selector{{Syntax: SyntaxURLPattern, Text: c.pattern}}})
		if err != nil {
			t.Fatal(err)
		}
		h.dispatch(&Update{ID: "x", Seq: h.pos + 1, Topics: []string{c.topic}})
		s.mu.Lock()
		got := len(s.q) > 0
		s.mu.Unlock()
		s.Close()
		if got != c.match {
			t.Errorf("case %d: an update on %q reached a subscriber to %q: %v, want %v", i, c.topic, c.pattern, got, c.match)
		}
	}
}

// TestURLPatternKeyLength checks that the index narrows: the key of a
// pattern with a fixed scheme, host and leading path holds them all.
func TestURLPatternKeyLength(t *testing.T) {
	for _, c := range []struct{ pattern, key string }{
		{"https://example.com/books/:id", "https\x00example.com\x00\x00/books"},
		{"https://EXAMPLE.com:443/books/*", "https\x00example.com\x00\x00/books"},
		{"https://example.com:8443/b/c", "https\x00example.com\x008443\x00/b/c"},
		{"/books/:id", "http\x00mercure.invalid\x00\x00/books"},
		{"https://*.example.com/books", "https\x00"},
		{"http{s}?://example.com/books", "http"},
	} {
		m, err := compileURLPattern(c.pattern, DefaultBaseURL)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.(urlPatternMatcher).key; got != c.key {
			t.Errorf("%q: key %q, want %q", c.pattern, got, c.key)
		}
	}
}

// FuzzURLPatternPrefix checks the soundness of the URL-pattern index: for
// any pattern and topic, if the pattern matches the topic, the topic's key
// starts with the pattern's key, so the fan-out never skips a pattern
// that matches; and Match, which skips the base when it cannot change the
// topic, agrees with the library. Under bases of several schemes, one with
// a port and a path, and one that does not parse.
func FuzzURLPatternPrefix(f *testing.F) {
	for _, c := range urlIndexCases {
		f.Add(c.pattern, c.topic, uint8(0))
	}
	for i, c := range planCases {
		f.Add(c.pattern, planTopics[i%len(planTopics)], uint8(i))
	}
	bases := []string{
		DefaultBaseURL,
		"https://Hub.EXAMPLE:8443/a/b/.well-known/mercure?x#y",
		"file:///srv/hub/",
		"not a URL",
	}
	f.Fuzz(func(t *testing.T, pattern, topic string, b uint8) {
		if len(pattern) > 1024 || len(topic) > 1024 {
			return
		}
		base := bases[int(b)%len(bases)]
		m, err := compileURLPattern(pattern, base)
		if err != nil {
			return
		}
		um := m.(urlPatternMatcher)
		// Match skips the base for topics it cannot change.
		if got, want := um.Match(topic), um.p.Test(topic, base); got != want {
			t.Fatalf("%q vs %q under %q: Match %v, the library %v", pattern, topic, base, got, want)
		}
		if !um.Match(topic) {
			return
		}
		tk, ok := urlKey(topic, base)
		if !ok || !strings.HasPrefix(tk, um.key) {
			t.Fatalf("%q matches %q under %q, but its key %q is not a prefix of the topic's %q (parsed: %v)", pattern, topic, base, um.key, tk, ok)
		}
	})
}
