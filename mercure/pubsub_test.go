package mercure

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPublishAndReceive(t *testing.T) {
	e := newEnv(t, Options{Anonymous: true}, hmacPair(), hmacPair())
	s := e.mustOpen(e.subscribeReq("topic="+url.QueryEscape("https://example.com/books/1"), ""))
	if ct := s.resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}

	resp, body := e.do(e.publishReq(url.Values{
		"topic": {"https://example.com/books/1"},
		"data":  {"line 1\nline 2"},
		"id":    {"urn:uuid:book-1-v2"},
		"type":  {"book.updated"},
		"retry": {"3000"},
	}.Encode(), e.pub.mint(t, pubClaims("https://example.com/books/{id}"), nil)))
	if resp.StatusCode != http.StatusOK || body != "urn:uuid:book-1-v2" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("publish: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	ev := s.next()
	if ev.ID != "urn:uuid:book-1-v2" || ev.Type != "book.updated" || ev.Data != "line 1\nline 2" {
		t.Fatalf("event = %+v", ev)
	}

	// Without an id the hub assigns one, and says which.
	id := e.publish(url.Values{"topic": {"https://example.com/books/1"}, "data": {"x"}})
	if id == "" {
		t.Fatal("no ID assigned")
	}
	if ev := s.next(); ev.ID != id || ev.Data != "x" || ev.Type != "message" {
		t.Fatalf("event = %+v, want ID %q", ev, id)
	}
}

func TestSelectorKinds(t *testing.T) {
	e := newEnv(t, Options{Anonymous: true}, hmacPair(), hmacPair())
	subs := map[string]*stream{}
	for _, sel := range []string{"https://example.com/books/1", "*", "https://example.com/books/{id}", "https://example.com/{+path}"} {
		subs[sel] = e.mustOpen(e.subscribeReq("topic="+url.QueryEscape(sel)+"&topic=end", ""))
	}
	e.publish(url.Values{"topic": {"https://example.com/books/1"}, "data": {"book1"}})
	e.publish(url.Values{"topic": {"https://example.com/books/2"}, "data": {"book2"}})
	e.publish(url.Values{"topic": {"https://example.com/authors/1/books"}, "data": {"nested"}})
	e.publish(url.Values{"topic": {"https://other.example/books/1"}, "data": {"other"}})
	// An update reaches a subscriber through any of its topics.
	e.publish(url.Values{"topic": {"urn:book:3", "https://example.com/books/3"}, "data": {"alternate"}})
	e.publish(url.Values{"topic": {"end"}, "data": {"end"}})
	want := map[string][]string{
		"https://example.com/books/1":    {"book1", "end"},
		"*":                              {"book1", "book2", "nested", "other", "alternate", "end"},
		"https://example.com/books/{id}": {"book1", "book2", "alternate", "end"},
		"https://example.com/{+path}":    {"book1", "book2", "nested", "alternate", "end"},
	}
	for sel, s := range subs {
		if got := s.until("end"); !slices.Equal(got, want[sel]) {
			t.Errorf("selector %s got %q, want %q", sel, got, want[sel])
		}
	}
}

func TestPrivateUpdatesNeverLeak(t *testing.T) {
	for _, p := range []keyPair{hmacPair(), rsaPair(t)} {
		t.Run(p.alg, func(t *testing.T) {
			e := newEnv(t, Options{Anonymous: true}, hmacPair(), p)
			q := "topic=" + url.QueryEscape("https://example.com/books/{id}") + "&topic=end"
			anon := e.mustOpen(e.subscribeReq(q, ""))
			other := e.mustOpen(e.subscribeReq(q, p.mint(t, subClaims("https://example.com/books/2", "https://example.com/authors/{id}"), nil)))
			exact := e.mustOpen(e.subscribeReq(q, p.mint(t, subClaims("https://example.com/books/1"), nil)))
			tmpl := e.mustOpen(e.subscribeReq(q, p.mint(t, subClaims("https://example.com/books/{id}"), nil)))
			all := e.mustOpen(e.subscribeReq(q, p.mint(t, subClaims("*"), nil)))
			// A cookie carries the same authority as a header.
			cr := e.subscribeReq(q, "")
			cr.AddCookie(&http.Cookie{Name: DefaultCookieName, Value: p.mint(t, subClaims("https://example.com/books/1"), nil)})
			cookie := e.mustOpen(cr)

			e.publish(url.Values{"topic": {"https://example.com/books/1"}, "data": {"secret"}, "private": {"on"}})
			// Presence alone makes an update private, whatever the value.
			e.publish(url.Values{"topic": {"https://example.com/books/1"}, "data": {"secret2"}, "private": {""}})
			e.publish(url.Values{"topic": {"https://example.com/books/1"}, "data": {"public"}})
			e.publish(url.Values{"topic": {"end"}, "data": {"end"}})

			for name, c := range map[string]struct {
				s    *stream
				want []string
			}{
				"anonymous":       {anon, []string{"public", "end"}},
				"other topics":    {other, []string{"public", "end"}},
				"exact selector":  {exact, []string{"secret", "secret2", "public", "end"}},
				"template":        {tmpl, []string{"secret", "secret2", "public", "end"}},
				"wildcard":        {all, []string{"secret", "secret2", "public", "end"}},
				"cookie selector": {cookie, []string{"secret", "secret2", "public", "end"}},
			} {
				if got := c.s.until("end"); !slices.Equal(got, c.want) {
					t.Errorf("%s got %q, want %q", name, got, c.want)
				}
			}
		})
	}
}

func TestLastEventID(t *testing.T) {
	e := newEnv(t, Options{Anonymous: true}, hmacPair(), hmacPair())
	for _, id := range []string{"a", "b", "c"} {
		e.publish(url.Values{"topic": {"t"}, "id": {id}, "data": {id}})
	}
	tests := []struct {
		name, header, query string
		wantHeader          string
		want                []string
	}{
		{"header", "a", "", "a", []string{"b", "c", "end"}},
		{"query", "", "b", "b", []string{"c", "end"}},
		{"header wins over query", "b", "a", "b", []string{"c", "end"}},
		{"legacy query parameter", "", "", "a", []string{"b", "c", "end"}},
		{"earliest", "", "earliest", "earliest", []string{"a", "b", "c", "end"}},
		{"unknown ID replays all", "nope", "", "earliest", []string{"a", "b", "c", "end"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t)
			q := "topic=t&topic=" + url.QueryEscape(tt.name)
			if tt.query != "" {
				q += "&lastEventID=" + url.QueryEscape(tt.query)
			}
			if tt.name == "legacy query parameter" {
				q += "&Last-Event-ID=a"
			}
			r := e.subscribeReq(q, "")
			if tt.header != "" {
				r.Header.Set("Last-Event-ID", tt.header)
			}
			s := e.mustOpen(r)
			if got := s.resp.Header.Get("Last-Event-ID"); got != tt.wantHeader {
				t.Errorf("Last-Event-ID response header = %q, want %q", got, tt.wantHeader)
			}
			e.publish(url.Values{"topic": {tt.name}, "data": {"end"}})
			if got := s.until("end"); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSubscriberTokenExpiryEndsStream(t *testing.T) {
	p := hmacPair()
	e := newEnv(t, Options{}, hmacPair(), p)
	tok := p.mint(t, subClaims("*"), map[string]any{"exp": time.Now().Add(1500 * time.Millisecond).Unix()})
	s := e.mustOpen(e.subscribeReq("topic=t", tok))
	deadline := time.After(waitTimeout)
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("stream outlived its token")
		}
	}
}

// TestLastEventIDHeaderHidesPrivateUpdates is issue 19, item 9, over HTTP:
// the Last-Event-ID response header of a live-only subscription names the
// newest update the subscriber may see, never a private update's ID, on
// whatever topic, unless its token allows it.
func TestLastEventIDHeaderHidesPrivateUpdates(t *testing.T) {
	p := hmacPair()
	e := newEnv(t, Options{Anonymous: true}, p, p)
	e.publish(url.Values{"topic": {"https://example.com/public"}, "id": {"public-1"}, "data": {"x"}})
	e.publish(url.Values{"topic": {"https://example.com/users/alice"}, "id": {"order-42-for-alice"}, "data": {"x"}, "private": {"on"}})
	// A subscriber that sees everything is live once it has the private
	// update: the hub has fanned it out.
	all := e.mustOpen(e.subscribeReq("topic=*&lastEventID=earliest", p.mint(t, subClaims("*"), nil)))
	for all.next().ID != "order-42-for-alice" {
	}
	for _, tc := range []struct{ name, token, want string }{
		{"anonymous", "", "public-1"},
		{"token for another user", p.mint(t, subClaims("https://example.com/users/bob"), nil), "public-1"},
		{"token for alice", p.mint(t, subClaims("https://example.com/users/alice"), nil), "order-42-for-alice"},
	} {
		s := e.mustOpen(e.subscribeReq("topic=https://example.com/other", tc.token))
		if got := s.resp.Header.Get("Last-Event-ID"); got != tc.want {
			t.Errorf("%s: Last-Event-ID = %q, want %q", tc.name, got, tc.want)
		}
		s.close()
	}
}

// TestReusedIDResumesFromTheFirstCopy is issue 19, item 8, over HTTP: a
// publisher allowed only on topic a republishes topic b's ID; a subscriber
// of b resuming from that ID still gets b's later updates.
func TestReusedIDResumesFromTheFirstCopy(t *testing.T) {
	p := hmacPair()
	e := newEnv(t, Options{Anonymous: true}, p, p)
	e.publish(url.Values{"topic": {"https://example.com/b"}, "id": {"b-1"}, "data": {"b-1"}})
	e.publish(url.Values{"topic": {"https://example.com/b"}, "id": {"b-2"}, "data": {"b-2"}})
	onlyA := p.mint(t, pubClaims("https://example.com/a"), nil)
	if resp, body := e.do(e.publishReq("topic=https://example.com/a&id=b-1&data=hijack", onlyA)); resp.StatusCode != 200 {
		t.Fatalf("republish on a: %d %s", resp.StatusCode, body)
	}
	r := e.subscribeReq("topic=https://example.com/b", "")
	r.Header.Set("Last-Event-ID", "b-1")
	s := e.mustOpen(r)
	e.publish(url.Values{"topic": {"https://example.com/b"}, "data": {"end"}})
	if got := s.until("end"); !slices.Equal(got, []string{"b-2", "end"}) {
		t.Fatalf("resumed from b-1 on b: got %q, want [b-2 end]", got)
	}
}
