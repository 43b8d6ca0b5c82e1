package hub

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// DefaultMaxSelectors bounds the distinct selectors compiled at once when
// Options.MaxSelectors is zero. A compiled URI template takes a few KiB, so
// this many take a few hundred MiB at most; the fan-out cost of one update
// does not grow with it (BenchmarkDispatchTemplates).
const DefaultMaxSelectors = 100_000

// ErrTooManySelectors is wrapped by Subscribe's error when the subscription
// would take the hub beyond Options.MaxSelectors distinct selectors. The
// subscriber should retry later; transports answer 503.
var ErrTooManySelectors = errors.New("hub: too many distinct topic selectors")

// Matcher is a compiled topic selector, as the fan-out index holds it.
//
// The index files each Matcher under its literal prefix and, for an update,
// evaluates only the Matchers whose prefix the update's topic starts with:
// the cost of an update does not depend on the selectors that cannot match
// it. A Matcher with the prefix "" is evaluated for every update, so a
// syntax should give the longest prefix it can prove.
//
// Another kind of selector (Mercure 1.0's URL patterns, say) plugs in with
// a Compiler named in Options.Syntaxes, and subscriptions name it in
// Subscription.Selectors: the hub compiles each distinct selector once
// while it has subscribers, counts it against Options.MaxSelectors and
// indexes it like the URI templates of Subscription.Topics.
type Matcher interface {
	// Match reports whether topic matches. It is called concurrently.
	Match(topic string) bool
	// LiteralPrefix returns a string every topic Match accepts starts
	// with, and complete = true when Match accepts that string only.
	LiteralPrefix() (prefix string, complete bool)
}

// Compiler compiles the text of one syntax of selector into a Matcher, or
// returns an error saying why the text is not a valid selector.
type Compiler func(text string) (Matcher, error)

// Selector is a topic selector written in a syntax named in
// Options.Syntaxes.
type Selector struct {
	Syntax string `json:"syntax"` // a key of Options.Syntaxes
	Text   string `json:"text"`
}

// selKey identifies a distinct selector in the hub's table; syntax "" is
// Mercure 0.x's (exact topic, "*" or URI template).
type selKey = Selector

// selEntry is one distinct compiled selector. Under h.mu.
type selEntry struct {
	key  selKey
	m    Matcher
	refs int // Subscribers holding it, as a topic or an authorized selector
	// topicRefs of refs hold it as a topic selector: while there are any,
	// it is in the fan-out index.
	topicRefs int
	subs      map[*Subscriber]struct{} // registered subscribers selecting with it
	mark      uint64                   // the last Seq dispatch matched it with
	// grantSeq is the last Seq whose topics granted was computed for
	// this selector as an authorized one, and granted the answer.
	grantSeq uint64
	granted  bool
	node     *node // where the index keeps it, nil if exact
	pos      int   // its position in node.entries
}

// compile0x compiles a Mercure 0.x selector: "*", a URI template, or else
// an exact topic. A template that does not parse is matched as an exact
// topic, as the Mercure reference hub does.
func compile0x(text string) Matcher {
	if text == "*" {
		return anyTopic{}
	}
	if isTemplate(text) {
		if re := compileTemplate(text); re != nil {
			return newTemplateMatcher(text, re)
		}
	}
	return exactTopic(text)
}

// compileSelector compiles k with the syntaxes of h.
func (h *Hub) compileSelector(k selKey) (Matcher, error) {
	if k.Syntax == "" {
		return compile0x(k.Text), nil
	}
	c := h.syntaxes[k.Syntax]
	if c == nil {
		return nil, fmt.Errorf("%w: %w %q", ErrInvalidSubscription, errNoCompiler, k.Syntax)
	}
	m, err := c(k.Text)
	if err != nil {
		return nil, fmt.Errorf("%w: %s selector %q: %w", ErrInvalidSubscription, k.Syntax, k.Text, err)
	}
	return m, nil
}

type anyTopic struct{}

func (anyTopic) Match(string) bool             { return true }
func (anyTopic) LiteralPrefix() (string, bool) { return "", false }

type exactTopic string

func (e exactTopic) Match(t string) bool           { return string(e) == t }
func (e exactTopic) LiteralPrefix() (string, bool) { return string(e), true }

// templateMatcher matches a URI template's topics, and the template's own
// text: Mercure compares a selector literally too.
type templateMatcher struct {
	text, prefix string
	re           *regexp.Regexp // anchored
}

func newTemplateMatcher(text string, re *regexp.Regexp) *templateMatcher {
	// Both the template's expansions and its text start with the prefix.
	p := anchoredPrefix(re.String())
	return &templateMatcher{text: text, re: re, prefix: p[:commonPrefixLen(p, text)]}
}

func (m *templateMatcher) Match(t string) bool {
	return t == m.text || m.re.MatchString(t)
}

func (m *templateMatcher) LiteralPrefix() (string, bool) { return m.prefix, false }

// anchoredPrefix returns the literal text every match of the regular
// expression expr starts with, when expr is anchored at the start of the
// text; "" otherwise. regexp.LiteralPrefix gives up on anchored
// expressions, which is what URI templates compile to, so this reads the
// syntax tree instead.
func anchoredPrefix(expr string) string {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return ""
	}
	re = re.Simplify()
	if re.Op != syntax.OpConcat || len(re.Sub) == 0 || re.Sub[0].Op != syntax.OpBeginText {
		return ""
	}
	var b strings.Builder
	literalPrefix(&b, re.Sub[1:])
	return b.String()
}

// literalPrefix writes the literal text the concatenation subs starts with
// and reports whether all of subs is that literal text.
func literalPrefix(b *strings.Builder, subs []*syntax.Regexp) (whole bool) {
	for _, s := range subs {
		switch s.Op {
		case syntax.OpLiteral:
			if s.Flags&syntax.FoldCase != 0 {
				return false
			}
			b.WriteString(string(s.Rune))
		case syntax.OpEmptyMatch:
		case syntax.OpCapture:
			if !literalPrefix(b, s.Sub) {
				return false
			}
		case syntax.OpConcat:
			if !literalPrefix(b, s.Sub) {
				return false
			}
		default:
			return false
		}
	}
	return true
}
