package hub

import (
	"regexp"
	"strings"
	"sync"

	"github.com/yosida95/uritemplate/v3"
)

// Cache bounds. A hub sees few distinct selectors but possibly many topics,
// hence the larger result cache.
const (
	templateCacheSize = 4096
	resultCacheSize   = 65536
	// maxCachedPair is the longest selector plus topic whose result is
	// cached: the caches are bounded in entries, so entries must be
	// bounded in size too.
	maxCachedPair = 2048
)

// matcher decides whether a topic selector matches a topic, following the
// Mercure protocol: the selector is "*", or equals the topic, or is an
// RFC 6570 URI template that matches it. Templates are compiled once and
// results are cached, both in bounded caches. It serves Hub.Match, for
// selectors that come and go (a publisher's token); the fan-out holds the
// subscribers' selectors compiled instead (see Matcher). The zero value is
// not usable; call newMatcher.
type matcher struct {
	mu        sync.Mutex
	templates boundedMap[string, Matcher]
	results   boundedMap[selTopic, bool]
	// typed caches the selectors of other syntaxes, compiled by compile,
	// for Hub.MatchSelector and Hub.CheckSelector.
	typed   boundedMap[Selector, compiledSel]
	compile func(Selector) (Matcher, error)
}

type selTopic struct{ selector, topic string }

// compiledSel is a selector's compilation: its Matcher, or why it has none.
type compiledSel struct {
	m   Matcher
	err error
}

func newMatcher(compile func(Selector) (Matcher, error)) *matcher {
	return newSizedMatcher(compile, templateCacheSize, resultCacheSize)
}

func newSizedMatcher(compile func(Selector) (Matcher, error), templates, results int) *matcher {
	return &matcher{
		templates: newBoundedMap[string, Matcher](templates),
		results:   newBoundedMap[selTopic, bool](results),
		typed:     newBoundedMap[Selector, compiledSel](templates),
		compile:   compile,
	}
}

// compiled returns sel compiled, from the cache when it can. It compiles
// under the lock: the selectors it serves are a publisher's grants, few
// and reused, not the fan-out's.
func (m *matcher) compiled(sel Selector) (Matcher, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, found := m.typed.get(sel)
	if !found {
		c.m, c.err = m.compile(sel)
		m.typed.put(sel, c)
	}
	return c.m, c.err
}

// match reports whether selector matches topic.
func (m *matcher) match(selector, topic string) bool {
	if selector == "*" || selector == topic {
		return true
	}
	if !isTemplate(selector) {
		return false
	}
	key := selTopic{selector, topic}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ok, found := m.results.get(key); found {
		return ok
	}
	c, found := m.templates.get(selector)
	if !found {
		c = compile0x(selector)
		m.templates.put(selector, c)
	}
	ok := c.Match(topic)
	if len(selector)+len(topic) <= maxCachedPair {
		m.results.put(key, ok)
	}
	return ok
}

// isTemplate reports whether s may be a URI template with expressions; any
// other selector can only match by equality.
func isTemplate(s string) bool {
	return strings.IndexByte(s, '{') >= 0
}

// compileTemplate returns the anchored regular expression of the URI
// template s, or nil if s is not a valid template.
func compileTemplate(s string) (re *regexp.Regexp) {
	// Template.Regexp compiles with regexp.MustCompile; a template the
	// parser accepts but whose regexp does not compile must not bring the
	// hub down, it just matches nothing.
	defer func() {
		if recover() != nil {
			re = nil
		}
	}()
	t, err := uritemplate.New(s)
	if err != nil {
		return nil
	}
	return t.Regexp()
}

// boundedMap is a cache of at most size entries. It keeps two generations:
// when the current one is full it becomes the old one and the previous old
// one is dropped; a hit in the old generation moves the entry forward. This
// approximates LRU with two map operations per access and no per-entry
// bookkeeping.
type boundedMap[K comparable, V any] struct {
	cur, old map[K]V
	half     int
}

func newBoundedMap[K comparable, V any](size int) boundedMap[K, V] {
	half := max(size/2, 1)
	return boundedMap[K, V]{cur: make(map[K]V), half: half}
}

func (b *boundedMap[K, V]) get(k K) (V, bool) {
	if v, ok := b.cur[k]; ok {
		return v, true
	}
	v, ok := b.old[k]
	if ok {
		b.put(k, v)
	}
	return v, ok
}

func (b *boundedMap[K, V]) put(k K, v V) {
	if len(b.cur) >= b.half {
		b.old, b.cur = b.cur, make(map[K]V, b.half)
	}
	b.cur[k] = v
}

func (b *boundedMap[K, V]) len() int { return len(b.cur) + len(b.old) }
