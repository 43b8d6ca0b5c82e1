package mercure

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Mercure 1.0 URL patterns of the property test, with an oracle written
// from the URL Pattern standard's segment rules, not from the library.
var propPatterns = map[string]*regexp.Regexp{
	"https://example.com/a/:id":  regexp.MustCompile(`^https://example\.com/a/[^/?#]+$`),
	"https://example.com/:k/1":   regexp.MustCompile(`^https://example\.com/[^/?#]+/1$`),
	"https://example.com/b/*":    regexp.MustCompile(`^https://example\.com/b/.*$`),
	"https://EXAMPLE.com/b/:n/c": regexp.MustCompile(`^https://example\.com/b/[^/?#]+/c$`),
}

// sel1 is a Mercure 1.0 matcher of the property test.
type sel1 struct {
	pattern bool
	value   string
}

func (s sel1) matches(topic string) bool {
	switch {
	case s.value == "*":
		return true
	case s.pattern:
		return propPatterns[s.value].MatchString(topic)
	}
	return s.value == topic
}

func anySel1(sels []sel1, topics []string) bool {
	for _, s := range sels {
		for _, t := range topics {
			if s.matches(t) {
				return true
			}
		}
	}
	return false
}

// TestPrivateUpdatesPropertyDialects mixes both dialects at random:
// 0.x and 1.0 subscribers with 0.x or 1.0 tokens or none, live or
// replaying, receiving updates published with 0.x or 1.0 tokens; 1.0
// tokens carry decoy grants (publish, another type's subscribe), 1.0
// requests come as GET or QUERY, with the token in the header or the
// cookie. No update
// reaches a subscriber that its selectors or its grants do not cover, and
// every covered one arrives once, in order (Mercure 1.0, "Subscribers" and
// "Reconnection...").
func TestPrivateUpdatesPropertyDialects(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 14))
	p := hmacPair()
	e := newEnv1(t, Options{Anonymous: true}, p, p)
	tok0 := p.mint(t, pubClaims("*"), nil)

	var sels0 []string
	for s := range propSelectors {
		sels0 = append(sels0, s)
	}
	slices.Sort(sels0)
	sels0 = append(sels0, propTopics...)
	var sels1 []sel1
	for s := range propPatterns {
		sels1 = append(sels1, sel1{pattern: true, value: s})
	}
	slices.SortFunc(sels1, func(a, b sel1) int { return strings.Compare(a.value, b.value) })
	sels1 = append(sels1, sel1{value: "*"})
	for _, tp := range propTopics {
		sels1 = append(sels1, sel1{value: tp})
	}

	const rounds, subscribers, updates = 3, 12, 30
	for round := range rounds {
		type upd struct {
			topics  []string
			private bool
			data    string
		}
		var ups []upd
		publish := func(i int) {
			u := upd{topics: propPick(rng, propTopics, 2, false), private: rng.IntN(2) == 0, data: fmt.Sprintf("r%d-u%d", round, i)}
			form := url.Values{"topic": u.topics, "data": {u.data}}
			if u.private {
				form.Set("private", "on")
			}
			if rng.IntN(2) == 0 {
				e.publish1(form.Encode())
			} else if resp, body := e.do(e.publishReq(form.Encode(), tok0)); resp.StatusCode != 200 {
				t.Fatalf("0.x publish: %d %s", resp.StatusCode, body)
			}
			ups = append(ups, u)
		}
		start := e.publish1(fmt.Sprintf("topic=start&data=r%d-start", round))
		for i := range updates / 2 {
			publish(i)
		}
		// A live subscriber starts where the fan-out is: let it catch up
		// with the log, so that "live" means after the first half.
		e.waitDispatched()
		type sub struct {
			s      *stream
			desc   string
			from   int // the first update it may get: 0 when replaying
			covers func(upd) bool
		}
		subs := make([]sub, subscribers)
		for i := range subs {
			replay := rng.IntN(2) == 0
			anonymous := rng.IntN(4) == 0
			var q url.Values
			var tok string
			s := sub{from: updates / 2}
			if replay {
				s.from = 0
			}
			if rng.IntN(2) == 0 { // 0.x
				topics := propPick(rng, sels0, 3, false)
				q = url.Values{"topic": append(slices.Clone(topics), "end")}
				if replay {
					q.Set("lastEventID", start)
				}
				var auths []string
				if !anonymous {
					auths = propPick(rng, sels0, 3, true)
					tok = p.mint(t, subClaims(auths...), nil)
				}
				s.desc = fmt.Sprintf("0.x topics %q token %q anonymous %v replay %v", topics, auths, anonymous, replay)
				s.covers = func(u upd) bool {
					return oracleAny(topics, u.topics) && (!u.private || oracleAny(auths, u.topics))
				}
			} else { // 1.0
				matchers := propPick(rng, sels1, 3, false)
				q = url.Values{"match": {"end"}}
				for _, m := range matchers {
					name := "match"
					if m.pattern {
						name = "match_urlpattern"
					}
					q.Add(name, m.value)
				}
				if replay {
					q.Set("last_event_id", start)
				}
				var grants []sel1
				if !anonymous {
					grants = propPick(rng, sels1, 3, true)
					var ms []map[string]any
					for _, g := range grants {
						if g.pattern {
							ms = append(ms, patternM(g.value))
						} else {
							ms = append(ms, exactM(g.value))
						}
					}
					details := []map[string]any{}
					if len(ms) > 0 {
						details = append(details, grantJSON([]string{"subscribe"}, ms...))
					}
					// Decoys, which grant no reading ("Authorization
					// Details"): publish on everything, and subscribe
					// in an entry of another type.
					if rng.IntN(2) == 0 {
						details = append(details, grantJSON([]string{"publish"}, exactM("*")))
					}
					if rng.IntN(2) == 0 {
						details = append(details, map[string]any{"type": "https://api.example/read", "actions": []string{"subscribe"}, "topics": []any{exactM("*")}})
					}
					c := e.access(details...)
					tok = p.mintAccess(t, c, nil)
				}
				s.desc = fmt.Sprintf("1.0 matchers %v grants %v anonymous %v replay %v", matchers, grants, anonymous, replay)
				s.covers = func(u upd) bool {
					return anySel1(matchers, u.topics) && (!u.private || anySel1(grants, u.topics))
				}
			}
			r := e.subscribeReq(q.Encode(), tok)
			if _, v1 := q["match"]; v1 {
				// Any presentation of the same request ("Subscription",
				// "Presenting the Access Token"): the parameters in a
				// QUERY body, the token in the access token cookie.
				if rng.IntN(2) == 0 {
					r.Method, r.URL.RawQuery = methodQuery, ""
					r.Body = io.NopCloser(strings.NewReader(q.Encode()))
					r.ContentLength = int64(len(q.Encode()))
					r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				if tok != "" && rng.IntN(2) == 0 {
					r.Header.Del("Authorization")
					r.AddCookie(&http.Cookie{Name: DefaultAccessTokenCookie, Value: tok})
				}
				s.desc += fmt.Sprintf(" %s cookie %v", r.Method, r.Header.Get("Authorization") == "" && tok != "")
			}
			s.s = e.mustOpen(r)
			subs[i] = s
		}
		for i := updates / 2; i < updates; i++ {
			publish(i)
		}
		end := fmt.Sprintf("r%d-end", round)
		e.publish1("topic=end&data=" + end)
		for i, s := range subs {
			var want []string
			for _, u := range ups[s.from:] {
				if s.covers(u) {
					want = append(want, u.data)
				}
			}
			want = append(want, end)
			if got := s.s.until(end); !slices.Equal(got, want) {
				t.Errorf("round %d subscriber %d (%s):\n got %q\nwant %q", round, i, s.desc, got, want)
			}
			s.s.close()
		}
	}
}
