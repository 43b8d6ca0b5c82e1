package hub

import (
	"strings"

	urlpattern "github.com/dunglas/go-urlpattern"
	whatwg "github.com/nlnwa/whatwg-url/url"
)

// The components of a URL, in the order URLPattern.Exec compares them.
const (
	compProtocol = iota
	compUsername
	compPassword
	compHostname
	compPort
	compPathname
	compSearch
	compHash
	numComps
)

// topicURL is a topic parsed as URLPattern.Exec parses it, resolved against
// a base: the component strings the pattern's regular expressions run on.
// The fan-out parses each topic of an update once and matches every
// candidate pattern against the parse (BenchmarkDispatchSyntaxes).
type topicURL struct {
	text, base string // the topic as published, and the base it was parsed against
	c          [numComps]string
}

// parseTopicURL parses topic against base as URLPattern.Test(topic, base)
// does; ok is false when it does not parse, or when it needs the base and
// the base does not parse, in which cases no pattern matches it.
func parseTopicURL(topic, base string) (t topicURL, ok bool) {
	t.text, t.base = topic, base
	if t.c, ok = parseCanonical(topic); ok {
		return t, true
	}
	// The base is parsed per call, as the library does: the parser may
	// change the base it is given (a relative path shortens base.path).
	var b *whatwg.Url
	if !baseFree(topic) {
		var err error
		if b, err = whatwg.Parse(base); err != nil {
			return t, false
		}
	}
	u, err := urlParser.BasicParser(topic, b, nil, whatwg.NoState)
	if err != nil {
		return t, false
	}
	t.c = [numComps]string{u.Scheme(), u.Username(), u.Password(), u.Hostname(), u.Port(), u.Pathname(), u.Query(), u.Fragment()}
	return t, true
}

// key is the topic's urlKey.
func (t *topicURL) key() string {
	return t.c[compProtocol] + urlKeySep + t.c[compHostname] + urlKeySep + t.c[compPort] + urlKeySep + t.c[compPathname]
}

// urlPlan evaluates a URL pattern whose every component is of a shape
// decided by comparing strings: the full wildcard "*", fixed text, fixed
// text then "*", or, for the pathname, "/"-separated segments each fixed
// or a whole-segment named group (":id"), the last one maybe "*". That is
// what the library's regular expressions for those shapes match (URL
// Pattern, "generate a regular expression and name list"), without its
// parse of the topic per pattern, its eight regular expression runs and
// its match result: most Mercure patterns have those shapes
// (https://example.com/books/:id). Other patterns are left to the library.
// FuzzURLPatternPrefix checks the two agree.
type urlPlan [numComps]compPlan

// compKind is the shape of a component pattern.
type compKind uint8

const (
	compAny      compKind = iota // "*": any value
	compEqual                    // fixed text: that value
	compPrefix                   // fixed text then "*": values starting with it
	compSegments                 // pathname segments (see urlPlan)
)

// compPlan evaluates one component.
type compPlan struct {
	kind compKind
	lit  string
	// segs are the pathname's segments after their "/" for compSegments:
	// the fixed text, or ":" for a named group, or "*" last for the full
	// wildcard.
	segs []string
}

// specialSchemes are the schemes for which the library compiles the
// pathname with "/" as the segment delimiter, so that a named group stops
// at a "/" ("protocol component matches a special scheme"; the library's
// list leaves out file).
var specialSchemes = [...]string{"ftp", "http", "https", "ws", "wss"}

// newURLPlan returns the plan of p, or nil if a component has another
// shape.
func newURLPlan(p *urlpattern.URLPattern) *urlPlan {
	var plan urlPlan
	for i, s := range [numComps]string{p.Protocol(), p.Username(), p.Password(), p.Hostname(), p.Port(), p.Pathname(), p.Search(), p.Hash()} {
		c, ok := planComponent(s)
		if !ok && i == compPathname && segmentedPathname(&plan[compProtocol]) {
			c, ok = planSegments(s)
		}
		if !ok {
			return nil
		}
		plan[i] = c
	}
	return &plan
}

// segmentedPathname reports whether the pathname of a pattern with the
// protocol plan proto is compiled with "/" as its segment delimiter: the
// protocol matches a special scheme, as "*" does.
func segmentedPathname(proto *compPlan) bool {
	switch proto.kind {
	case compAny:
		return true
	case compEqual:
		for _, s := range specialSchemes {
			if proto.lit == s {
				return true
			}
		}
	}
	return false
}

// planComponent plans the component pattern string s if it is "*", fixed
// text, or fixed text then "*".
func planComponent(s string) (compPlan, bool) {
	if s == "*" {
		return compPlan{kind: compAny}, true
	}
	i := strings.IndexAny(s, patternSyntax)
	switch {
	case i < 0:
		return compPlan{kind: compEqual, lit: s}, true
	case i == len(s)-1 && s[i] == '*':
		return compPlan{kind: compPrefix, lit: s[:i]}, true
	}
	return compPlan{}, false
}

// planSegments plans a pathname pattern of "/"-separated segments, each
// fixed text or ":name", the last one maybe "*".
func planSegments(s string) (compPlan, bool) {
	if !strings.HasPrefix(s, "/") {
		return compPlan{}, false
	}
	segs := strings.Split(s[1:], "/")
	for i, seg := range segs {
		switch {
		case seg == "*" && i == len(segs)-1:
		case strings.HasPrefix(seg, ":") && isGroupName(seg[1:]):
			segs[i] = ":"
		case strings.IndexAny(seg, patternSyntax) < 0:
		default:
			return compPlan{}, false
		}
	}
	return compPlan{kind: compSegments, segs: segs}, true
}

// isGroupName reports whether s is a name the pattern string writes after
// ":" with nothing to delimit it but the "/" that follows: ASCII
// identifier characters only, so that no other character can have ended
// the name inside the segment (":id.json" is a name and fixed text).
func isGroupName(s string) bool {
	if s == "" || '0' <= s[0] && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '$') {
			return false
		}
	}
	return true
}

// match reports whether the parsed topic t matches.
func (p *urlPlan) match(t *topicURL) bool {
	for i := range p {
		if !p[i].match(t.c[i]) {
			return false
		}
	}
	return true
}

// match reports whether the component value v matches: "*" is the regular
// expression ".*", which stops at a line feed (the URL parser leaves none).
func (c *compPlan) match(v string) bool {
	switch c.kind {
	case compAny:
		return strings.IndexByte(v, '\n') < 0
	case compEqual:
		return v == c.lit
	case compPrefix:
		return strings.HasPrefix(v, c.lit) && strings.IndexByte(v[len(c.lit):], '\n') < 0
	}
	// compSegments: each segment after a "/"; a named group is "[^/]+?",
	// at least one character up to the next "/"; a last "*" is "/.*".
	for _, seg := range c.segs {
		if v == "" || v[0] != '/' {
			return false
		}
		v = v[1:]
		if seg == "*" {
			return strings.IndexByte(v, '\n') < 0
		}
		j := strings.IndexByte(v, '/')
		if j < 0 {
			j = len(v)
		}
		if cur := v[:j]; seg == ":" && cur == "" || seg != ":" && cur != seg {
			return false
		}
		v = v[j:]
	}
	return v == ""
}

// parseCanonical splits topic into its components when it is an absolute
// URL of a special scheme already written the way the URL parser writes
// it: a lowercase scheme, "://", a lowercase DNS name (no IP address, no
// punycode, nothing IDNA would map), no user info, a port without leading
// zeros and not the scheme's default, a path without dot segments, and
// path, query and fragment of characters the parser keeps as they are
// (unreserved, sub-delims but "'", ":", "@", and percent-encodings).
// Such a URL parses to exactly these parts, which the parser takes 40
// allocations to find (BenchmarkURLPlan/parse): most topics are of this
// form, and the fan-out parses every topic of every update. ok is false for anything else,
// which is left to the parser. FuzzParseCanonical checks that both agree.
func parseCanonical(topic string) (c [numComps]string, ok bool) {
	i := strings.Index(topic, "://")
	if i < 0 {
		return c, false
	}
	scheme, rest := topic[:i], topic[i+3:]
	var defaultPort string
	switch scheme {
	case "http", "ws":
		defaultPort = "80"
	case "https", "wss":
		defaultPort = "443"
	case "ftp":
		defaultPort = "21"
	default:
		return c, false
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	host, port := rest[:end], ""
	if j := strings.IndexByte(host, ':'); j >= 0 {
		host, port = host[:j], host[j+1:]
		if !canonicalPort(port) {
			return c, false
		}
		if port == defaultPort {
			port = ""
		}
	}
	if !canonicalHost(host) {
		return c, false
	}
	rest = rest[end:]
	path, query, fragment := rest, "", ""
	if j := strings.IndexByte(rest, '#'); j >= 0 {
		path, fragment = rest[:j], rest[j+1:]
		if !keptAsIs(fragment, "/?") {
			return c, false
		}
	}
	if j := strings.IndexByte(path, '?'); j >= 0 {
		path, query = path[:j], path[j+1:]
		if !keptAsIs(query, "/?") {
			return c, false
		}
	}
	if path == "" {
		path = "/" // a special scheme's path is never empty
	}
	for seg := range strings.SplitSeq(path[1:], "/") {
		// Dot segments ("." and "..", percent-encoded or not) are
		// resolved by the parser; any segment starting like one is left
		// to it.
		if strings.HasPrefix(seg, ".") || strings.HasPrefix(seg, "%2e") || strings.HasPrefix(seg, "%2E") || !keptAsIs(seg, "") {
			return c, false
		}
	}
	c[compProtocol], c[compHostname], c[compPort] = scheme, host, port
	c[compPathname], c[compSearch], c[compHash] = path, query, fragment
	return c, true
}

// canonicalHost reports whether h is a DNS name the host parser returns as
// it is: lowercase ASCII labels of letters, digits and inner hyphens, none
// empty, no "--" (where IDNA looks for punycode), the last one starting
// with a letter (a name ending in a number is parsed as an IPv4 address).
func canonicalHost(h string) bool {
	if h == "" || strings.Contains(h, "--") {
		return false
	}
	last := 0
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '-':
			if i == last || i+1 == len(h) || h[i+1] == '.' {
				return false
			}
		case c == '.':
			if i == last || i+1 == len(h) {
				return false
			}
			last = i + 1
		default:
			return false
		}
	}
	return 'a' <= h[last] && h[last] <= 'z'
}

// canonicalPort reports whether p is a port the parser returns as it is:
// digits without a leading zero, at most 65535.
func canonicalPort(p string) bool {
	if p == "" || len(p) > 5 || p[0] == '0' {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}

// keptAsIs reports whether s holds only characters the URL parser keeps as
// they are in a special URL's path, query and fragment (unreserved
// characters, sub-delims but "'", ":", "@", valid percent-encodings), or
// in extra.
func keptAsIs(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~!$&()*+,;=:@", c) >= 0, strings.IndexByte(extra, c) >= 0:
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
		default:
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'f'
}
