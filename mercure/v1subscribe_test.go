package mercure

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub"
)

// Mercure 1.0 (draft-dunglas-mercure-08), "Subscription" and "Matcher
// Types": which match parameters are accepted.
func TestSubscribeMatchers(t *testing.T) {
	e := newEnv1(t, Options{Anonymous: true}, hmacPair(), hmacPair())
	long := strings.Repeat("a", maxMatcherLen+1)
	many := url.Values{}
	for i := range DefaultMaxTopics + 1 {
		many.Add("match", "t"+string(rune('a'+i%26))+strings.Repeat("x", i))
	}
	for _, tc := range []struct {
		query string
		field string // the parameter a 400 names; "" for a stream
	}{
		{"match=x", ""},
		{"match_exact=x", ""},
		{"match_urlpattern=" + url.QueryEscape("https://example.com/:id"), ""},
		{"match=*", ""},
		{"match_urlpattern=*", ""},
		{"match=a&match_urlpattern=" + url.QueryEscape("/b/:c") + "&match_exact=d", ""},
		// Names are case-sensitive and the whole match namespace is
		// reserved.
		{"Match=x", "Match"},
		{"MATCH_EXACT=x", "MATCH_EXACT"},
		{"match_=x", "match_"},
		{"match_template=x", "match_template"},
		{"matches=x&match=y", "matches"},
		{"match=", "match"},
		{"match=a%00b", "match"},
		{"match=a%C2%85b", "match"},    // C1
		{"match=a%E2%80%AEb", "match"}, // RLO, format
		{"match_urlpattern=%FF", "match_urlpattern"},
		{"match=" + long, "match"},
		{"match_urlpattern=" + url.QueryEscape("https://example.com/(a"), "match_urlpattern"},
		{"match_urlpattern=" + url.QueryEscape("https://example.com/:x((?=a).)"), "match_urlpattern"},
		{many.Encode(), "match"},
		{"last_event_id=x", "topic"}, // no selector, no token: the 0.x answer, which names both
		{"match=x&topic=y", "topic"},
	} {
		s, resp, body := e.open(e.subscribeReq(tc.query, ""))
		switch {
		case tc.field == "" && s == nil:
			t.Errorf("%.60s: %d %s, want a stream", tc.query, resp.StatusCode, body)
		case tc.field != "" && s != nil:
			t.Errorf("%.60s: a stream, want 400 naming %s", tc.query, tc.field)
			s.close()
		case tc.field != "" && (resp.StatusCode != 400 || !strings.HasPrefix(body, tc.field+":")):
			t.Errorf("%.60s: %d %q, want 400 naming %s", tc.query, resp.StatusCode, body, tc.field)
		case s != nil:
			s.close()
		}
	}
}

// What each matcher receives, and private delivery by grant: the routing
// matchers never widen what a token may read (Mercure 1.0, "Subscribers",
// and "Reconnection...": replayed updates are checked like live ones).
func TestSubscribeDelivery(t *testing.T) {
	e := newEnv1(t, Options{Anonymous: true}, hmacPair(), hmacPair())
	first := e.publish1("topic=start")
	e.waitDispatched()
	const books = "https://example.com/books/:id"
	subs := []struct {
		name  string
		query string
		token string
		want  []string
	}{
		{"exact", "match=" + url.QueryEscape("https://example.com/books/1"), "", []string{"pub1"}},
		{"exact braces", "match=" + url.QueryEscape("https://example.com/books/{id}"), "", []string{"braces"}},
		{"pattern", "match_urlpattern=" + url.QueryEscape(books), "", []string{"pub1", "pub2", "braces"}},
		{"wildcard anonymous", "match=*", "", []string{"pub1", "pub2", "braces", "other", "urn", "relative"}},
		// "Matcher Types": * is every topic in either type, whatever its
		// URL (a URL pattern "*" would be a relative one).
		{"pattern wildcard", "match_urlpattern=*", "", []string{"pub1", "pub2", "braces", "other", "urn", "relative"}},
		{"pattern, granted book 1", "match_urlpattern=" + url.QueryEscape(books), e.subToken(exactM("https://example.com/books/1")),
			[]string{"pub1", "priv1", "pub2", "braces"}},
		{"wildcard, granted by pattern", "match=*", e.subToken(patternM(books)),
			[]string{"pub1", "priv1", "pub2", "priv2", "braces", "other", "urn", "relative"}},
		// The alternate topic carries the grant (Mercure 1.0 example).
		{"pattern, granted own namespace", "match_urlpattern=" + url.QueryEscape(books), e.subToken(patternM("https://example.com/users/42/*")),
			[]string{"pub1", "pub2", "priv2", "braces"}},
		{"granted *, exact match", "match=" + url.QueryEscape("https://example.com/books/2"), e.subToken(exactM("*")),
			[]string{"pub2", "priv2"}},
	}
	type opened struct {
		live, replay *stream
	}
	streams := make([]opened, len(subs))
	for i, s := range subs {
		streams[i].live = e.mustOpen(e.subscribeReq(s.query, s.token))
		streams[i].replay = e.mustOpen(e.subscribeReq(s.query+"&last_event_id="+url.QueryEscape(first), s.token))
	}
	for _, f := range []string{
		"topic=https://example.com/books/1&data=pub1",
		"topic=https://example.com/books/1&data=priv1&private=on",
		"topic=https://example.com/books/2&data=pub2",
		"topic=https://example.com/books/2&topic=https://example.com/users/42/books/2&data=priv2&private=on",
		"topic=https://example.com/books/%7Bid%7D&data=braces",
		"topic=https://example.com/other&data=other",
		"topic=urn:example:1&data=urn",
		"topic=relative/1&data=relative",
		"topic=end&topic=https://example.com/books/1&topic=https://example.com/books/2&topic=https://example.com/books/%7Bid%7D&data=end",
	} {
		e.publish1(f)
	}
	for i, s := range subs {
		want := strings.Join(append(s.want, "end"), ",")
		if got := strings.Join(streams[i].live.until("end"), ","); got != want {
			t.Errorf("%s, live: %s, want %s", s.name, got, want)
		}
		if got := strings.Join(streams[i].replay.until("end"), ","); got != want {
			t.Errorf("%s, replayed: %s, want %s", s.name, got, want)
		}
	}
}

// Mercure 1.0 "Reconnection": last_event_id, the Last-Event-ID header
// winning, and the Mercure-Last-Event-ID answer.
func TestLastEventID1(t *testing.T) {
	e := newEnv1(t, Options{Anonymous: true}, hmacPair(), hmacPair())
	a := e.publish1("topic=t&data=a")
	b := e.publish1("topic=t&data=b")
	e.waitDispatched()
	for _, tc := range []struct {
		name    string
		query   string
		header  string
		hasHead bool
		want    string // Mercure-Last-Event-ID; "-" for none
		first   string // the first event's data
	}{
		{"query", "last_event_id=" + url.QueryEscape(a), "", false, a, "b"},
		{"header wins", "last_event_id=" + url.QueryEscape(b), a, true, a, "b"},
		{"earliest", "last_event_id=earliest", "", false, "earliest", "a"},
		{"unknown", "last_event_id=nope", "", false, "earliest", "a"},
		{"empty", "last_event_id=", "", false, b, "marker"},
		{"none", "", "", false, "-", "marker"},
	} {
		r := e.subscribeReq("match=t&"+tc.query, "")
		if tc.hasHead {
			r.Header.Set("Last-Event-ID", tc.header)
		}
		s := e.mustOpen(r)
		got, ok := s.resp.Header["Mercure-Last-Event-Id"]
		switch {
		case tc.want == "-" && ok:
			t.Errorf("%s: Mercure-Last-Event-ID = %q, want none", tc.name, got)
		case tc.want != "-" && (!ok || got[0] != tc.want):
			t.Errorf("%s: Mercure-Last-Event-ID = %q, want %q", tc.name, got, tc.want)
		}
		if s.resp.Header.Get("Last-Event-ID") != "" {
			t.Errorf("%s: a 1.0 answer carries the 0.x Last-Event-ID header", tc.name)
		}
		// RFC 9110, section 9.3.2: HEAD gets the header fields GET does,
		// the resume field included.
		head := r.Clone(r.Context())
		head.Method = http.MethodHead
		hresp, _ := e.do(head)
		hgot, hok := hresp.Header["Mercure-Last-Event-Id"]
		if hresp.StatusCode != 200 || hok != ok || ok && hgot[0] != got[0] {
			t.Errorf("%s: HEAD: %d, Mercure-Last-Event-ID %q, want 200 and GET's %q", tc.name, hresp.StatusCode, hgot, got)
		}
		for _, f := range []string{"Content-Type", "Cache-Control", "X-Accel-Buffering"} {
			if hresp.Header.Get(f) != s.resp.Header.Get(f) {
				t.Errorf("%s: HEAD: %s %q, GET's %q", tc.name, f, hresp.Header.Get(f), s.resp.Header.Get(f))
			}
		}
		if tc.first == "marker" {
			e.publish1("topic=t&data=marker")
		}
		if ev := s.next(); ev.Data != tc.first {
			t.Errorf("%s: first event %q, want %q", tc.name, ev.Data, tc.first)
		}
		s.close()
	}
}

// Mercure 1.0 "Subscription": the QUERY method carries the parameters in a
// form body, unioned with the query string; GET, HEAD and QUERY only.
func TestSubscribeQueryMethod(t *testing.T) {
	e := newEnv1(t, Options{Anonymous: true, MaxBodyBytes: 1 << 10}, hmacPair(), hmacPair())
	a := e.publish1("topic=q1&data=a")
	e.publish1("topic=q2&data=b")
	query := func(q, body string) *http.Request {
		r, err := http.NewRequest(methodQuery, e.srv.URL+Path+"?"+q, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}
	// Matchers from both; last_event_id of the query beats the body's.
	s := e.mustOpen(query("match=q1&last_event_id=earliest", "match=q2&last_event_id="+url.QueryEscape(a)))
	if got := strings.Join([]string{s.next().Data, s.next().Data}, ","); got != "a,b" {
		t.Errorf("QUERY with both: %s, want a,b", got)
	}
	s.close()
	s = e.mustOpen(query("", "match=q2&last_event_id="+url.QueryEscape(a)))
	if got := s.next().Data; got != "b" {
		t.Errorf("QUERY with the body only: %s, want b", got)
	}
	if h := s.resp.Header.Get("Mercure-Last-Event-ID"); h != a {
		t.Errorf("QUERY: Mercure-Last-Event-ID %q, want %q", h, a)
	}
	s.close()
	s = e.mustOpen(query("match=q2&last_event_id=earliest", ""))
	if got := s.next().Data; got != "b" {
		t.Errorf("QUERY without a body: %s, want b", got)
	}
	s.close()
	for _, tc := range []struct {
		name   string
		r      *http.Request
		status int
	}{
		{"body too large", query("", "match="+strings.Repeat("x", 2<<10)), http.StatusRequestEntityTooLarge},
		{"body not a form", func() *http.Request { r := query("", "{}"); r.Header.Set("Content-Type", "application/json"); return r }(), 400},
		{"bad matcher in the body", query("", "Match=x"), 400},
	} {
		resp, body := e.do(tc.r)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.status)
		}
	}
	// HEAD answers what a GET would start with, and ends.
	r, _ := http.NewRequest(http.MethodHead, e.srv.URL+Path+"?match=x", nil)
	resp, _ := e.do(r)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("HEAD: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	r, _ = http.NewRequest(http.MethodHead, e.srv.URL+Path+"?Match=x", nil)
	if resp, _ = e.do(r); resp.StatusCode != 400 {
		t.Errorf("HEAD with a bad matcher: %d, want 400", resp.StatusCode)
	}
	for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch} {
		r, _ := http.NewRequest(m, e.srv.URL+Path+"?match=x", nil)
		resp, _ := e.do(r)
		if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), "QUERY") {
			t.Errorf("%s: %d Allow %q, want 405 allowing QUERY", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}

// Both dialects on one endpoint, chosen per request; mixing them is a 400.
func TestDialects(t *testing.T) {
	pub := hmacPair()
	e := newEnv1(t, Options{Anonymous: true}, pub, hmacPair())
	v0 := pub.mint(t, map[string]any{"publish": []string{"*"}, "subscribe": []string{"*"}}, nil)
	v1 := e.subToken(exactM("*"))

	// A 0.x subscriber and a 1.0 one receive a 0.x publisher's private
	// update and a 1.0 publisher's.
	s0 := e.mustOpen(e.subscribeReq("topic=d", v0))
	s1 := e.mustOpen(e.subscribeReq("match=d", v1))
	if resp, body := e.do(e.publishReq("topic=d&data=from0&private=on", v0)); resp.StatusCode != 200 {
		t.Fatalf("0.x publish: %d %s", resp.StatusCode, body)
	}
	e.publish1("topic=d&data=from1&private=on")
	for name, s := range map[string]*stream{"0.x": s0, "1.0": s1} {
		if got := strings.Join(s.until("from1"), ","); got != "from0,from1" {
			t.Errorf("%s subscriber: %s", name, got)
		}
	}
	for _, tc := range []struct {
		name  string
		query string
		token string
		code  string
	}{
		{"topic with an access token", "topic=d", v1, "invalid_request"},
		{"match with a 0.x token", "match=d", v0, "invalid_request"},
	} {
		resp, body := e.do(e.subscribeReq(tc.query, tc.token))
		if resp.StatusCode != 400 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), tc.code) {
			t.Errorf("%s: %d %q %s, want 400 %s", tc.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body, tc.code)
		}
	}
	// Without selectors, an access token makes the answer 1.0's.
	resp, body := e.do(e.subscribeReq("", v1))
	if resp.StatusCode != 400 || !strings.HasPrefix(body, "match:") {
		t.Errorf("no selector, 1.0 token: %d %s, want 400 naming match", resp.StatusCode, body)
	}
	resp, body = e.do(e.subscribeReq("", ""))
	if resp.StatusCode != 400 || !strings.HasPrefix(body, "topic:") {
		t.Errorf("no selector, no token: %d %s, want 400 naming topic", resp.StatusCode, body)
	}
	// 0.x answers keep their 0.x header.
	s := e.mustOpen(e.subscribeReq("topic=d&lastEventID=earliest", ""))
	if s.resp.Header.Get("Last-Event-ID") != "earliest" || s.resp.Header.Get("Mercure-Last-Event-ID") != "" {
		t.Errorf("0.x resume headers: %v", s.resp.Header)
	}
	// And so does a 0.x HEAD (RFC 9110, section 9.3.2).
	head := e.subscribeReq("topic=d&lastEventID=earliest", "")
	head.Method = http.MethodHead
	if resp, _ := e.do(head); resp.Header.Get("Last-Event-ID") != "earliest" || resp.Header.Get("Mercure-Last-Event-ID") != "" {
		t.Errorf("0.x HEAD resume headers: %v", resp.Header)
	}
}

// Options.Protocol 1: 0.x requests get a 1.0 hub's answers.
func TestOnly1(t *testing.T) {
	pub := hmacPair()
	e := newEnv1(t, Options{Anonymous: true, Protocol: 1}, pub, hmacPair())
	v0 := pub.mint(t, map[string]any{"publish": []string{"*"}, "subscribe": []string{"*"}}, nil)
	resp, body := e.do(e.subscribeReq("topic=x", ""))
	if resp.StatusCode != 400 || !strings.HasPrefix(body, "match:") || !strings.Contains(body, "0.x") {
		t.Errorf("topic= on a 1.0-only hub: %d %s, want 400 naming match", resp.StatusCode, body)
	}
	resp, body = e.do(e.subscribeReq("match=x", v0))
	e.wantChallenge(t, "0.x token to subscribe", resp, body, 401, "invalid_token")
	resp, body = e.do(e.publishReq("topic=x", v0))
	e.wantChallenge(t, "0.x token to publish", resp, body, 401, "invalid_token")
	resp, body = e.do(e.publishReq("topic=x", pub.mintAccess(t, e.access(grantJSON([]string{"publish"}, exactM("*"))), map[string]any{"typ": "JWT"})))
	e.wantChallenge(t, "typ JWT", resp, body, 401, "invalid_token")
	r := e.publishReq("topic=x", "")
	r.URL.RawQuery = "authorization=" + v0
	resp, body = e.do(r)
	e.wantChallenge(t, "0.x query token", resp, body, 400, "invalid_request")
	if _, err := New(Options{Hub: e.hub, PublisherKey: testHMACKey, Protocol: 2}); err == nil {
		t.Error("Protocol 2 accepted")
	}
}

// Mercure 1.0 "Publication": the reserved namespace and the reserved type,
// refused in both dialects whatever the token.
func TestPublishReserved(t *testing.T) {
	pub := hmacPair()
	e := newEnv1(t, Options{}, pub, hmacPair())
	v0 := pub.mint(t, pubClaims("*"), nil)
	for _, tc := range []struct {
		topic, typ string
		field      string // "" accepted
	}{
		{"/.well-known/mercure", "", "topic"},
		{"/.well-known/mercure/subscriptions/exact/a/b", "", "topic"},
		{"https://elsewhere.example/.well-known/mercure/subscriptions/x", "", "topic"},
		{"/.well-known/%6Dercure/subscriptions/x", "", "topic"},
		{"/.well-known/mercure/../mercure/x", "", "topic"},
		{"/a/%2e%2e/.well-known/mercure/x", "", "topic"},
		{"mercure/x", "", "topic"}, // relative to the hub's URL
		{"/.well-known/mercurex", "", ""},
		{"/.well-known/%2Fmercure", "", ""},
		{"urn:.well-known:mercure", "", ""},
		{"*", "", "topic"},
		{"x", "mercure", "type"},
		{"x", "Mercure", ""},
	} {
		form := url.Values{"topic": {"ok", tc.topic}}
		if tc.typ != "" {
			form.Set("type", tc.typ)
		}
		for name, tok := range map[string]string{"1.0": e.pubToken("*"), "0.x": v0} {
			resp, body := e.do(e.publishReq(form.Encode(), tok))
			switch {
			case tc.field == "" && resp.StatusCode != 200:
				t.Errorf("%s %q type %q: %d %s, want 200", name, tc.topic, tc.typ, resp.StatusCode, body)
			case tc.field != "" && (resp.StatusCode != 400 || !strings.HasPrefix(body, tc.field+":")):
				t.Errorf("%s %q type %q: %d %s, want 400 naming %s", name, tc.topic, tc.typ, resp.StatusCode, body, tc.field)
			}
		}
	}
}

// RFC 9728 metadata, with the members Mercure 1.0 lists.
func TestMetadata(t *testing.T) {
	e := newEnv1(t, Options{Subscriptions: true}, hmacPair(), hmacPair())
	r, _ := http.NewRequest("GET", e.srv.URL+MetadataPath, nil)
	resp, body := e.do(r)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("metadata: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var md map[string]any
	if err := json.Unmarshal([]byte(body), &md); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"resource":                              e.resource(),
		"bearer_methods_supported":              []any{"header"},
		"authorization_details_types_supported": []any{AuthorizationDetailType},
		"mercure_cookie":                        DefaultAccessTokenCookie,
		"mercure_subscriptions":                 true,
	}
	for k, v := range want {
		if got, _ := json.Marshal(md[k]); string(got) != mustJSON(t, v) {
			t.Errorf("metadata %s = %s, want %s", k, got, mustJSON(t, v))
		}
	}
	r, _ = http.NewRequest("POST", e.srv.URL+MetadataPath, nil)
	if resp, _ := e.do(r); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST metadata: %d", resp.StatusCode)
	}
	e2 := newEnv1(t, Options{ResourceIdentifier: "https://hub.example/.well-known/mercure"}, hmacPair(), hmacPair())
	r, _ = http.NewRequest("GET", e2.srv.URL+MetadataPath, nil)
	_, body = e2.do(r)
	if !strings.Contains(body, `"resource":"https://hub.example/.well-known/mercure"`) || strings.Contains(body, "mercure_subscriptions") {
		t.Errorf("pinned metadata: %s", body)
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Mercure 1.0, "Reconnection, State Reconciliation, and Event Sourcing":
// publishing a reused ID is accepted; a Last-Event-ID (header or
// last_event_id) that several updates share resolves to the earliest
// copy, and every later update is sent, later copies included ("including
// any later update carrying the same, reused ID"). Within the default
// duplicate window too: only a retry (same ID and content, here the second
// "copy") is stored once (see hub.Log.Append).
func TestReusedIDs1(t *testing.T) {
	e := newEnv1Log(t, Options{Anonymous: true}, hmacPair(), hmacPair(), hub.MemoryLogOptions{})
	for _, f := range []string{
		"topic=b&id=dup&data=first",
		"topic=b&id=mid&data=mid",
		"topic=b&id=dup&data=copy",
		"topic=b&id=dup&data=copy",
		"topic=a&id=dup&data=elsewhere",
	} {
		if id := e.publish1(f); id != "dup" && id != "mid" {
			t.Fatalf("publish %s: id %q", f, id)
		}
	}
	e.waitDispatched()
	for name, r := range map[string]*http.Request{
		"last_event_id": e.subscribeReq("match=b&match=end&last_event_id=dup", ""),
		"Last-Event-ID": func() *http.Request {
			r := e.subscribeReq("match=b&match=end", "")
			r.Header.Set("Last-Event-ID", "dup")
			return r
		}(),
	} {
		s := e.mustOpen(r)
		if h := s.resp.Header.Get("Mercure-Last-Event-ID"); h != "dup" {
			t.Errorf("%s: Mercure-Last-Event-ID %q, want dup", name, h)
		}
		e.publish1("topic=end&data=end")
		if got := strings.Join(s.until("end"), ","); got != "mid,copy,end" {
			t.Errorf("%s: resumed from the reused ID: %s, want mid,copy,end", name, got)
		}
		s.close()
	}
}
