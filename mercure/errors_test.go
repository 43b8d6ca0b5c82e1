package mercure

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestPublishBadRequestsNameTheField(t *testing.T) {
	p := hmacPair()
	e := newEnv(t, Options{MaxBodyBytes: 1024, MaxTopics: 3}, p, p)
	tok := p.mint(t, pubClaims("*"), nil)
	tests := []struct {
		name, contentType, body string
		status                  int
		field                   string
	}{
		{"JSON body", "application/json", `{"topic":"x"}`, 400, "Content-Type"},
		{"multipart", "multipart/form-data; boundary=x", "--x--", 400, "Content-Type"},
		{"no content type", "", "topic=x", 400, "Content-Type"},
		{"charset is fine", "application/x-www-form-urlencoded; charset=utf-8", "topic=x", 200, ""},
		{"malformed form", "application/x-www-form-urlencoded", "topic=%zz", 400, "body"},
		{"no topic", "application/x-www-form-urlencoded", "data=x", 400, "topic"},
		{"topic only in the query does not count", "application/x-www-form-urlencoded", "data=x", 400, "topic"},
		{"empty topic", "application/x-www-form-urlencoded", "topic=", 400, "topic"},
		{"too many topics", "application/x-www-form-urlencoded", "topic=a&topic=b&topic=c&topic=d", 400, "topic"},
		{"id with LF", "application/x-www-form-urlencoded", "topic=a&id=x%0Ay", 400, "id"},
		{"id with NUL", "application/x-www-form-urlencoded", "topic=a&id=x%00", 400, "id"},
		{"id with #", "application/x-www-form-urlencoded", "topic=a&id=%23x", 400, "id"},
		{"type with CR", "application/x-www-form-urlencoded", "topic=a&type=x%0D", 400, "type"},
		{"negative retry", "application/x-www-form-urlencoded", "topic=a&retry=-5", 400, "retry"},
		{"retry with unit", "application/x-www-form-urlencoded", "topic=a&retry=5s", 400, "retry"},
		{"body too large", "application/x-www-form-urlencoded", "topic=a&data=" + strings.Repeat("x", 2000), 413, "body"},
	}
	for _, tt := range tests {
		r := e.publishReq(tt.body, tok)
		r.Header.Set("Content-Type", tt.contentType)
		if tt.name == "topic only in the query does not count" {
			r.URL.RawQuery = "topic=x"
		}
		resp, body := e.do(r)
		if resp.StatusCode != tt.status || !strings.HasPrefix(body, tt.field) {
			t.Errorf("%s: %d %q, want %d naming %q", tt.name, resp.StatusCode, body, tt.status, tt.field)
		}
	}
}

func TestPublishStoreFailureIs503(t *testing.T) {
	p := hmacPair()
	e := newEnv(t, Options{}, p, p)
	// A closed log fails every append, as a broken disk or a lost Redis
	// connection would.
	e.log.Close()
	resp, body := e.do(e.publishReq("topic=x&data=y", p.mint(t, pubClaims("*"), nil)))
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "not stored") {
		t.Fatalf("publish on a failed log: %d %q", resp.StatusCode, body)
	}
	// And after the hub shuts down, subscribers are turned away too.
	if err := e.hub.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, resp, body := e.open(e.subscribeReq("topic=x", p.mint(t, subClaims("*"), nil))); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("subscribe on a closed hub: %d %q", resp.StatusCode, body)
	}
}

func TestSubscribeBadRequestsNameTheField(t *testing.T) {
	e := newEnv(t, Options{Anonymous: true, MaxTopics: 2}, hmacPair(), hmacPair())
	tests := []struct {
		name, query, header string
		field               string
	}{
		{"no topic", "", "", "topic"},
		{"other parameters only", "lastEventID=x", "", "topic"},
		{"empty topic", "topic=", "", "topic"},
		{"too many topics", "topic=a&topic=b&topic=c", "", "topic"},
		{"lastEventID with LF", "topic=a&lastEventID=a%0Ab", "", "lastEventID"},
		{"lastEventID too long", "topic=a&lastEventID=" + strings.Repeat("x", 2000), "", "lastEventID"},
		{"Last-Event-ID too long", "topic=a", strings.Repeat("x", 2000), "Last-Event-ID"},
	}
	for _, tt := range tests {
		r := e.subscribeReq(tt.query, "")
		if tt.header != "" {
			r.Header.Set("Last-Event-ID", tt.header)
		}
		_, resp, body := e.open(r)
		if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(body, tt.field) {
			t.Errorf("%s: %d %q, want 400 naming %s", tt.name, resp.StatusCode, body, tt.field)
		}
	}
}

func TestRouting(t *testing.T) {
	e := newEnv(t, Options{Anonymous: true}, hmacPair(), hmacPair())
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"PUT", Path, http.StatusMethodNotAllowed},
		{"DELETE", Path, http.StatusMethodNotAllowed},
		{"GET", Path + "/other", http.StatusNotFound},
		{"GET", "/", http.StatusNotFound},
		// The subscriptions API is off unless enabled.
		{"GET", subscriptionsPath, http.StatusNotFound},
	} {
		r, err := http.NewRequest(tt.method, e.srv.URL+tt.path+"?"+url.Values{"topic": {"x"}}.Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp, body := e.do(r); resp.StatusCode != tt.status {
			t.Errorf("%s %s: %d %q, want %d", tt.method, tt.path, resp.StatusCode, body, tt.status)
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	e := newEnv(t, Options{Anonymous: true}, hmacPair(), hmacPair())
	rsa := rsaPair(t)
	for _, tt := range []struct {
		name string
		opts Options
		want string
	}{
		{"no hub", Options{PublisherKey: testHMACKey}, "Hub"},
		{"no publisher key", Options{Hub: e.hub}, "PublisherKey"},
		{"PEM key with HS256", Options{Hub: e.hub, PublisherKey: rsa.verify}, "PEM"},
		{"bad subscriber key", Options{Hub: e.hub, PublisherKey: testHMACKey, SubscriberKey: []byte("x"), SubscriberAlgorithm: "RS256"}, "subscriber"},
		{"bad origin", Options{Hub: e.hub, PublisherKey: testHMACKey, CORSOrigins: []string{"example.com"}}, "origin"},
	} {
		if _, err := New(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New = %v, want an error naming %s", tt.name, err, tt.want)
		}
	}
}
