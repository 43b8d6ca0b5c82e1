package hub

import (
	"fmt"
	"strings"
	"testing"

	whatwg "github.com/nlnwa/whatwg-url/url"
)

// planCases are URL patterns with whether urlPlan evaluates them (the
// shapes of URL Pattern's "generate a regular expression and name list"
// it reads: "*", fixed text, fixed text then "*", and "/"-separated
// segments fixed or ":name" in a special scheme's pathname), and topics to
// match them with.
var planCases = []struct {
	pattern string
	planned bool
}{
	{"https://example.com/books/:id", true},
	{"https://example.com/books/:id/reviews/:r", true},
	{"https://example.com/books/:id/*", true},
	{"https://example.com/books/*", true},
	{"https://example.com/books*", true},
	{"https://example.com/*", true},
	{"https://example.com/books/1", true},
	{"https://example.com/a//:id", true},
	{"https://example.com/:id", true},
	{"https://example.com:8443/:id", true},
	{"https://u:p@example.com/:id", false}, // ":p" names a group in the username
	{"https://u@example.com/:id", true},
	{"https://example.com/books/:id\\?q=*", true}, // the search "q=*"
	{"https://example.com/books/:id?q=1", false},  // ":id?" is optional
	{"https://example.com/books/:id#top", true},
	{"/books/:id", true},
	{"*", true},
	{"https://example.com/:id.json", false},     // a name inside a segment
	{"https://example.com/books-:id", false},    // a name inside a segment
	{"https://example.com/:id(\\d+)", false},    // a regexp
	{"https://example.com/books/:id?", false},   // a modifier
	{"https://example.com/books/:id*", false},   // a modifier
	{"https://example.com/books{/:id}?", false}, // a group
	{"https://example.com/*/x", false},          // a wildcard inside
	{"https://*.example.com/:id", false},        // a wildcard inside the host
	{"http{s}?://example.com/:id", false},       // a group in the protocol
	{"urn\\:x\\:*", false},                      // escapes
	{"file:///srv/:name", false},                // file is no special scheme of the library
	{"foo://example.com/:id", false},            // nor foo: ":id" may hold "/"
	{"https://example.com/:éè", false},          // a name of non-ASCII letters
	{"https://example.com/:a_1/:b", true},
}

var planTopics = []string{
	"https://example.com/books/1", "https://example.com/books/1/", "https://example.com/books/1/2",
	"https://example.com/books/", "https://example.com/books", "https://example.com/booksx",
	"https://example.com/books//", "https://example.com/books/1/reviews/2", "https://example.com/books/1/reviews/",
	"https://EXAMPLE.com/books/1", "https://example.com:443/books/1", "https://example.com:8443/books/1",
	"https://u:p@example.com/books/1", "https://u@example.com/books/1", "https://example.com/books/1?q=2", "https://example.com/books/1?q=1", "https://example.com/books/1#top",
	"https://example.com/books/%2F", "https://example.com/a//1", "https://example.com/a/1",
	"https://example.com/1.json", "https://example.com/books-1", "https://example.com/123",
	"https://example.com/", "https://example.com", "/books/1", "books/1", "http://mercure.invalid/books/1",
	"https://example.com/\u00e9", "https://example.com/a/../books/1", "https://example.com\\books\\1",
	"foo://example.com/a/b", "file:///srv/x", "urn:x:y", "https://a.example.com/1", "https://exa mple.com/1",
	" https://exam\tple.com/bo\noks/1 ", "https://example.com/books/1\n", "https://example.com/_/x",
}

// TestURLPlan checks which patterns urlPlan evaluates, and that it agrees
// with the library on every topic of planTopics.
func TestURLPlan(t *testing.T) {
	for _, c := range planCases {
		m, err := compileURLPattern(c.pattern, DefaultBaseURL)
		if err != nil {
			t.Fatalf("%q: %v", c.pattern, err)
		}
		um := m.(urlPatternMatcher)
		if got := um.plan != nil; got != c.planned {
			t.Errorf("%q: planned %v, want %v (pathname %q)", c.pattern, got, c.planned, um.p.Pathname())
		}
		for _, topic := range planTopics {
			want := um.p.Test(topic, DefaultBaseURL)
			if got := um.Match(topic); got != want {
				t.Errorf("%q vs %q: Match %v, the library %v", c.pattern, topic, got, want)
			}
			if tu, ok := parseTopicURL(topic, DefaultBaseURL); ok {
				if got := um.matchURL(&tu); got != want {
					t.Errorf("%q vs %q: matchURL %v, the library %v", c.pattern, topic, got, want)
				}
			} else if want {
				t.Errorf("%q vs %q: the topic does not parse, but the library matches", c.pattern, topic)
			}
		}
	}
}

// BenchmarkURLPlan is the match of one planned pattern, with the topic
// parsed once (the fan-out) or per match (Match), beside the library.
func BenchmarkURLPlan(b *testing.B) {
	const topic = "https://example.com/books/12345"
	m, err := compileURLPattern("https://example.com/books/:id", DefaultBaseURL)
	if err != nil {
		b.Fatal(err)
	}
	um := m.(urlPatternMatcher)
	tu, _ := parseTopicURL(topic, DefaultBaseURL)
	for name, f := range map[string]func() bool{
		"parsed":  func() bool { return um.matchURL(&tu) },
		"match":   func() bool { return um.Match(topic) },
		"library": func() bool { return um.p.Test(topic, "") },
		"parse":   func() bool { _, ok := parseTopicURL(topic, DefaultBaseURL); return ok },
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if !f() {
					b.Fatal(fmt.Sprint("no match: ", name))
				}
			}
		})
	}
}

// FuzzParseCanonical checks the shortcut of parseTopicURL against the URL
// parser (WHATWG URL, "URL parsing"): a topic it splits parses, to the
// same components.
func FuzzParseCanonical(f *testing.F) {
	for _, s := range []string{
		"https://example.com/books/1", "https://example.com", "https://example.com?x", "https://example.com:443/a",
		"https://example.com:8443/a?b=c/d?e#f/g?h", "http://a.b.c/%41%zz", "https://example.com/./a", "https://example.com/a/%2E%2e/b",
		"https://1.2.3.4/", "https://example.123/", "https://a.0x7f/", "https://xn--exmple-cua.com/", "https://a-.b/", "https://a..b/",
		"https://example.com:080/", "https://example.com:65536/", "https://example.com:/", "wss://h:0/x", "ftp://h:21/", "https://h/a'b?c'd#e'f",
		"HTTPS://example.com/", "https://Example.com/", "https://example.com/a b", "https://example.com/\\a", "https://u@h/",
		"https://h/#a#b", "https://h/?a?b", "https://h/a%", "https://h/.hidden", "file://h/x", "urn://h/x",
		// No DNS length limits (WHATWG URL's domain to ASCII is not strict).
		"https://" + strings.Repeat("a", 64) + ".com/x", "https://" + strings.Repeat("abcdefghi.", 40) + "com/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		c, ok := parseCanonical(topic)
		if !ok {
			return
		}
		u, err := urlParser.BasicParser(topic, nil, nil, whatwg.NoState)
		if err != nil {
			t.Fatalf("%q: split, but the parser fails: %v", topic, err)
		}
		want := [numComps]string{u.Scheme(), u.Username(), u.Password(), u.Hostname(), u.Port(), u.Pathname(), u.Query(), u.Fragment()}
		if c != want {
			t.Fatalf("%q: split to %q, the parser gives %q", topic, c, want)
		}
	})
}

// TestURLPatternsShared: subscribers of one URL pattern share its compiled
// entry, as a topic selector or as a grant, so that the fan-out evaluates
// it once per update whatever their number (issue 14: "compiled patterns
// are cached and shared like today's URI templates"); it is released
// with its last holder.
func TestURLPatternsShared(t *testing.T) {
	h, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(t.Context())
	pat := Selector{Syntax: SyntaxURLPattern, Text: "https://example.com/books/:id"}
	var subs []*Subscriber
	for range 3 {
		s, err := h.Subscribe(t.Context(), Subscription{Selectors: []Selector{pat}})
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	g, err := h.Subscribe(t.Context(), Subscription{Topics: []string{"x"}, Grants: []Selector{pat}})
	if err != nil {
		t.Fatal(err)
	}
	subs = append(subs, g)
	h.mu.Lock()
	shared := subs[0].sels[0] == subs[1].sels[0] && subs[1].sels[0] == subs[2].sels[0] && g.auth[0] == subs[0].sels[0]
	n, indexed := len(h.sels), h.urlIndex.size()
	h.mu.Unlock()
	if !shared || n != 2 || indexed != 1 {
		t.Fatalf("four holders of one pattern: shared %v, %d entries (want 2 with x), %d indexed (want 1)", shared, n, indexed)
	}
	for _, s := range subs {
		s.Close()
	}
	h.mu.Lock()
	n, indexed = len(h.sels), h.urlIndex.size()
	h.mu.Unlock()
	if n != 0 || indexed != 0 {
		t.Fatalf("after the last holder: %d entries, %d indexed; want none", n, indexed)
	}
}

// FuzzURLPlan checks urlPlan against the library it shortcuts (WHATWG URL
// Pattern, "test"): for any pattern it plans and any topic, the planned
// match and the library's agree.
func FuzzURLPlan(f *testing.F) {
	for i, c := range planCases {
		f.Add(c.pattern, planTopics[i%len(planTopics)])
	}
	f.Fuzz(func(t *testing.T, pattern, topic string) {
		if len(pattern) > 1024 || len(topic) > 1024 {
			return
		}
		m, err := compileURLPattern(pattern, DefaultBaseURL)
		if err != nil {
			return
		}
		um, ok := m.(urlPatternMatcher)
		if !ok || um.plan == nil {
			return
		}
		want := um.p.Test(topic, DefaultBaseURL)
		if got := um.Match(topic); got != want {
			t.Fatalf("%q vs %q: planned match %v, the library %v", pattern, topic, got, want)
		}
	})
}
