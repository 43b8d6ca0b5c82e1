package mercure

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"regexp"
	"slices"
	"testing"
	"time"
)

// The universe of the property test: topics, and selectors with an
// independent oracle for each (a regular expression written from RFC
// 6570's expansion rules, not the hub's matcher).
var (
	propTopics = []string{
		"https://example.com/a/1", "https://example.com/a/2", "https://example.com/a/x",
		"https://example.com/b/1", "https://example.com/b/2", "https://example.com/b/1/c",
		"urn:x:1", "urn:x:2",
	}
	propSelectors = map[string]*regexp.Regexp{
		"*":                          regexp.MustCompile(`.`),
		"https://example.com/a/{id}": regexp.MustCompile(`^https://example\.com/a/[A-Za-z0-9._~%-]+$`),
		"https://example.com/{k}/1":  regexp.MustCompile(`^https://example\.com/[A-Za-z0-9._~%-]+/1$`),
		"https://example.com/{+p}":   regexp.MustCompile(`^https://example\.com/.+$`),
		"https://example.com/b/{n}":  regexp.MustCompile(`^https://example\.com/b/[A-Za-z0-9._~%-]+$`),
		"urn:x:{n}":                  regexp.MustCompile(`^urn:x:[A-Za-z0-9._~%-]+$`),
	}
)

// oracleMatch reports whether sel matches topic by the test's own rules.
func oracleMatch(sel, topic string) bool {
	if re, ok := propSelectors[sel]; ok {
		return re.MatchString(topic)
	}
	return sel == topic // an exact topic
}

func oracleAny(sels, topics []string) bool {
	for _, s := range sels {
		for _, t := range topics {
			if oracleMatch(s, t) {
				return true
			}
		}
	}
	return false
}

// propPick returns 1 to max distinct random elements of from (0 to max when
// zeroOK).
func propPick[T any](rng *rand.Rand, from []T, max int, zeroOK bool) []T {
	lo := 1
	if zeroOK {
		lo = 0
	}
	n := lo + rng.IntN(max-lo+1)
	perm := rng.Perm(len(from))
	out := make([]T, 0, n)
	for _, i := range perm[:min(n, len(from))] {
		out = append(out, from[i])
	}
	return out
}

// TestPrivateUpdatesProperty subscribes random subscribers with random
// tokens (exact, template and * selectors) and publishes random public and
// private updates over HTTP: no subscriber ever receives an update its
// subscription or its token does not cover, and every one they do cover
// arrives, once, in order.
func TestPrivateUpdatesProperty(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	p := hmacPair()
	e := newEnv(t, Options{Anonymous: true}, p, p)
	var selectors []string
	for s := range propSelectors {
		selectors = append(selectors, s)
	}
	slices.Sort(selectors)
	selectors = append(selectors, propTopics...) // exact ones
	const rounds, subscribers, updates = 4, 12, 40
	for round := range rounds {
		type sub struct {
			s             *stream
			topics, auths []string
			anonymous     bool
		}
		subs := make([]sub, subscribers)
		for i := range subs {
			topics := propPick(rng, selectors, 3, false)
			s := sub{topics: topics, anonymous: rng.IntN(4) == 0}
			q := url.Values{"topic": append(slices.Clone(topics), "end")}.Encode()
			tok := ""
			if !s.anonymous {
				s.auths = propPick(rng, selectors, 3, true)
				tok = p.mint(t, subClaims(s.auths...), nil)
			}
			s.s = e.mustOpen(e.subscribeReq(q, tok))
			subs[i] = s
		}
		type upd struct {
			topics  []string
			private bool
			data    string
		}
		ups := make([]upd, updates)
		for i := range ups {
			ups[i] = upd{topics: propPick(rng, propTopics, 2, false), private: rng.IntN(2) == 0, data: fmt.Sprintf("r%d-u%d", round, i)}
			form := url.Values{"topic": ups[i].topics, "data": {ups[i].data}}
			if ups[i].private {
				form.Set("private", "on")
			}
			e.publish(form)
		}
		end := fmt.Sprintf("r%d-end", round)
		e.publish(url.Values{"topic": {"end"}, "data": {end}})
		for i, s := range subs {
			var want []string
			for _, u := range ups {
				if oracleAny(s.topics, u.topics) && (!u.private || oracleAny(s.auths, u.topics)) {
					want = append(want, u.data)
				}
			}
			want = append(want, end)
			if got := s.s.until(end); !slices.Equal(got, want) {
				t.Errorf("round %d subscriber %d (topics %q, token %q, anonymous %v):\n got %q\nwant %q",
					round, i, s.topics, s.auths, s.anonymous, got, want)
			}
			s.s.close()
		}
	}
}

// TestWideningSelectorGetsNoMorePrivate subscribes with selectors wider
// than the token's (a template, "*", a reserved expansion): the
// subscription is accepted, as the protocol wants, but it brings public
// updates only beyond what the token covers.
func TestWideningSelectorGetsNoMorePrivate(t *testing.T) {
	p := hmacPair()
	e := newEnv(t, Options{}, p, p)
	tok := p.mint(t, subClaims("https://example.com/books/1"), nil)
	for _, sel := range []string{"https://example.com/books/{id}", "*", "https://example.com/{+any}", "{+any}"} {
		s := e.mustOpen(e.subscribeReq("topic="+url.QueryEscape(sel)+"&topic=end", tok))
		e.publish(url.Values{"topic": {"https://example.com/books/2"}, "data": {"other private"}, "private": {"on"}})
		e.publish(url.Values{"topic": {"https://example.com/books/1"}, "data": {"mine"}, "private": {"on"}})
		e.publish(url.Values{"topic": {"https://example.com/books/2"}, "data": {"public"}})
		// A template in the token does not help a topic list crafted to
		// look like one.
		e.publish(url.Values{"topic": {"https://example.com/books/{id}"}, "data": {"template-named private"}, "private": {"on"}})
		e.publish(url.Values{"topic": {"end"}, "data": {"end"}})
		want := []string{"mine", "public", "end"}
		if got := s.until("end"); !slices.Equal(got, want) {
			t.Errorf("selector %s: got %q, want %q", sel, got, want)
		}
		s.close()
	}
}
