package hub

import (
	"cmp"
	"errors"
	"fmt"
	"strings"

	urlpattern "github.com/dunglas/go-urlpattern"
	whatwg "github.com/nlnwa/whatwg-url/url"
)

// The selector syntaxes of Mercure 1.0 (draft-dunglas-mercure-08, "Matcher
// Types"), built into every Hub under their match_type names; Options.
// Syntaxes may add others. In both, the value "*" matches every topic.
const (
	// SyntaxExact matches the one topic equal to the text, byte for byte,
	// with no resolution or normalisation ("Exact Matching").
	SyntaxExact = "exact"
	// SyntaxURLPattern matches the topics a WHATWG URL Pattern matches,
	// relative patterns and topics resolved against Options.BaseURL, case
	// sensitive except for the host ("URL Pattern").
	SyntaxURLPattern = "urlpattern"
)

// DefaultBaseURL is the base URL relative URL patterns and topics are
// resolved against when Options.BaseURL is empty. The .invalid TLD (RFC
// 6761) is no real host, so a relative pattern never matches an absolute
// topic of a real host; relative against relative still works, which is
// what the hub's own topics (subscription events) need.
const DefaultBaseURL = "http://mercure.invalid/.well-known/mercure"

// Wildcard is the selector text that matches every topic, whatever the
// syntax.
const Wildcard = "*"

// builtinSyntaxes returns the built-in compilers for base.
func builtinSyntaxes(base string) map[string]Compiler {
	base = cmp.Or(base, DefaultBaseURL)
	return map[string]Compiler{
		SyntaxExact: func(text string) (Matcher, error) {
			if text == Wildcard {
				return anyTopic{}, nil
			}
			return exactTopic(text), nil
		},
		SyntaxURLPattern: func(text string) (Matcher, error) {
			if text == Wildcard {
				return anyTopic{}, nil
			}
			return compileURLPattern(text, base)
		},
	}
}

// urlPatternMatcher is a compiled URL pattern.
type urlPatternMatcher struct {
	p    *urlpattern.URLPattern
	base string
	// baseOK is whether base parses: Test matches nothing otherwise.
	baseOK bool
	// key is a prefix of the urlKey of every topic p matches: the index
	// files the pattern under it (see Hub.urlIndex).
	key string
	// plan evaluates p on a parsed topic without the library, nil for
	// the patterns it cannot (see urlPlan).
	plan *urlPlan
}

// Match resolves a relative topic against the base; a topic that does not
// parse as a URL does not match ("URL Pattern"). A planned pattern is
// evaluated on the topic's parse (parseTopicURL); the others go to the
// library, which parses the base on every call, and the parser may change
// a base it is given, so a parsed base cannot be shared: a topic the base
// cannot change is matched without one.
func (m urlPatternMatcher) Match(topic string) bool {
	if m.plan != nil {
		t, ok := parseTopicURL(topic, m.base)
		return ok && m.plan.match(&t)
	}
	if baseFree(topic) {
		return m.baseOK && m.p.Test(topic, "")
	}
	return m.p.Test(topic, m.base)
}

// matchURL is Match for the parsed topic t.
func (m urlPatternMatcher) matchURL(t *topicURL) bool {
	if m.plan != nil && t.base == m.base {
		return m.plan.match(t)
	}
	return m.Match(t.text)
}

// baseFree reports whether topic parses to the same URL whatever the
// base (WHATWG URL, "URL parsing"): it starts with a scheme and "://",
// with no space, tab or newline before, and the scheme is not "file",
// whose host state reads the base. A special scheme followed by fewer
// than two slashes ("https:/x") is relative to a base of the same scheme.
func baseFree(topic string) bool {
	i := 0
	for ; i < len(topic); i++ {
		c := topic[i]
		if 'a' <= c|0x20 && c|0x20 <= 'z' || i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			continue
		}
		break
	}
	return i > 0 && strings.HasPrefix(topic[i:], "://") && !strings.EqualFold(topic[:i], "file")
}

// LiteralPrefix is "": a pattern matches topics under several spellings (a
// relative reference, the host in any case, an explicit default port,
// dot segments), so no text is common to all of them. The hub indexes
// URL patterns by the prefix of the parsed topic instead (urlKey).
func (urlPatternMatcher) LiteralPrefix() (string, bool) { return "", false }

// urlKeySep separates the components of a urlKey. No scheme, host or port
// the URL parser returns contains it (NUL is a forbidden host code point),
// so a key's components never run into each other.
const urlKeySep = "\x00"

// urlKey returns the text the hub's URL-pattern index walks for topic:
// the scheme, hostname, port and pathname the URL parser gives for topic
// resolved against base, the very strings URLPattern.Test compares with
// the pattern's components, so a pattern whose components have fixed
// literal prefixes matches only topics whose key has them (urlPatternKey).
// ok is false when topic does not parse, which no pattern matches.
func urlKey(topic, base string) (key string, ok bool) {
	t, ok := parseTopicURL(topic, base)
	if !ok {
		return "", false
	}
	return t.key(), true
}

// urlParser parses topics as go-urlpattern's Exec does (a default parser).
var urlParser = whatwg.NewParser()

// urlPatternKey returns a prefix of urlKey(t) for every topic t that p
// matches: the fixed protocol, hostname and port, then the fixed start of
// the pathname, as far as each is fixed. It reads the components' pattern
// strings, from which the library compiles each component's regexp: a
// string without syntax characters compiles to that text alone (the hub
// compiles patterns case-sensitively), and the fixed text before the first
// syntax character starts every match, except for a trailing "/" that may
// be the optional prefix of the part that follows ("/books/:id?" matches
// "/books"). FuzzURLPatternPrefix checks that matches imply the prefix.
func urlPatternKey(p *urlpattern.URLPattern) string {
	var b strings.Builder
	for _, c := range []string{p.Protocol(), p.Hostname(), p.Port()} {
		lit, fixed := patternLiteral(c)
		b.WriteString(lit)
		if !fixed {
			return b.String()
		}
		b.WriteString(urlKeySep)
	}
	lit, fixed := patternLiteral(p.Pathname())
	if !fixed {
		lit = strings.TrimSuffix(lit, "/")
	}
	b.WriteString(lit)
	return b.String()
}

// patternLiteral returns the text of the URL pattern component string s
// before its first syntax character, and whether s is that text alone.
// An escaped character ends the text too: conservative, and rare in topics.
func patternLiteral(s string) (lit string, fixed bool) {
	if i := strings.IndexAny(s, patternSyntax); i >= 0 {
		return s[:i], false
	}
	return s, true
}

// patternSyntax are the characters with a meaning in a URL pattern
// component string (URL Pattern, "Tokenizing").
const patternSyntax = `:*(){}?+\`

// compileURLPattern compiles the URL pattern text with relative patterns
// resolved against base. The library compiles each component to a Go
// regexp (RE2), so matching is linear in the topic's length whatever the
// pattern; what RE2 cannot express (lookaround, backreferences) does not
// compile.
func compileURLPattern(text, base string) (m Matcher, err error) {
	defer func() {
		// The library must not bring the hub down on a pattern it
		// mishandles: such a pattern is refused.
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("not a valid URL pattern: %v", r)
		}
	}()
	p, err := urlpattern.New(text, base, nil)
	if err != nil {
		return nil, fmt.Errorf("not a valid URL pattern: %w", err)
	}
	_, berr := whatwg.Parse(base)
	return urlPatternMatcher{p: p, base: base, baseOK: berr == nil, key: urlPatternKey(p), plan: newURLPlan(p)}, nil
}

// CheckSelector reports whether sel can be compiled: whether Subscribe
// would accept it, and whether MatchSelector can evaluate it. The error
// wraps ErrInvalidSubscription.
func (h *Hub) CheckSelector(sel Selector) error {
	if sel.Text == "" {
		return fmt.Errorf("%w: empty selector", ErrInvalidSubscription)
	}
	_, err := h.matcher.compiled(sel)
	return err
}

// MatchSelector reports whether sel matches topic. Like Match it serves
// selectors that come and go, such as a token's grants: compiled selectors
// are cached, in a bounded cache. A selector that does not compile matches
// nothing.
func (h *Hub) MatchSelector(sel Selector, topic string) bool {
	if sel.Syntax == "" {
		return h.matcher.match(sel.Text, topic)
	}
	m, err := h.matcher.compiled(sel)
	return err == nil && m.Match(topic)
}

// errNoCompiler is what compiled answers for a syntax the hub lacks.
var errNoCompiler = errors.New("unknown selector syntax")
