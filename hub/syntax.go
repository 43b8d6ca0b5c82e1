package hub

import (
	"cmp"
	"errors"
	"fmt"

	urlpattern "github.com/dunglas/go-urlpattern"
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
}

// Match resolves a relative topic against the base; a topic that does not
// parse as a URL does not match ("URL Pattern").
func (m urlPatternMatcher) Match(topic string) bool { return m.p.Test(topic, m.base) }

// LiteralPrefix is "": a pattern matches topics under several spellings (a
// relative reference, the host in any case, an explicit default port), so
// no text is common to all of them, and the index evaluates each distinct
// pattern once per update.
func (urlPatternMatcher) LiteralPrefix() (string, bool) { return "", false }

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
	return urlPatternMatcher{p: p, base: base}, nil
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
