package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// TestRunIDRule is issue 19, items 3 and 11, on the hub as the binary wires
// it (the bolt history): an ID is accepted only if a subscriber can resume
// from it. IDs that a Last-Event-ID header cannot carry back (control
// characters, over-long) are 400 naming the field id, never stored, and an
// ID over bolt's 32 KiB key limit is the publisher's mistake (400), not
// "503 update not stored", which well-behaved publishers retry.
func TestRunIDRule(t *testing.T) {
	r := startRun(t, "--jwt-key", testKey, "--anonymous")
	c := newClient(t)
	tok := token(t, testKey, []string{"*"}, nil, time.Minute)
	const topic = "https://example.com/ids"
	for name, id := range map[string]string{
		"SOH":               "a\x01b",
		"DEL":               "a\x7f",
		"ESC":               "\x1b[31mred",
		"tab":               "a\tb",
		"invalid UTF-8":     "a\xff",
		"one byte too long": strings.Repeat("x", hub.MaxIDLen+1),
		"20,000 bytes":      strings.Repeat("x", 20000),
		"over 32 KiB":       strings.Repeat("x", 32<<10+1),
	} {
		code, body := post(t, c, r.base, tok, url.Values{"topic": {topic}, "id": {id}, "data": {name}})
		if code != http.StatusBadRequest || !strings.HasPrefix(body, "id:") {
			t.Errorf("id with %s: %d %.120q, want 400 naming the field id", name, code, body)
		}
	}

	// The longest ID allowed comes back as a Last-Event-ID header, and
	// resuming from it works.
	long := strings.Repeat("é", hub.MaxIDLen/2)
	mustPublish(t, c, r.base, tok, url.Values{"topic": {topic}, "id": {long}, "data": {"long"}})
	mustPublish(t, c, r.base, tok, url.Values{"topic": {topic}, "id": {"after"}, "data": {"after"}})
	s := subscribe(t, c, r.base, "", long, topic)
	if ev := s.next(); ev.ID != "after" {
		t.Fatalf("resumed from the longest ID: got %+v, want the update after it", ev)
	}
	// Nothing refused was stored: a replay of everything has only the two.
	s = subscribe(t, c, r.base, "", hub.EarliestID, topic)
	if a, b := s.next(), s.next(); a.Data != "long" || b.Data != "after" {
		t.Fatalf("history = %q, %q, want only the accepted updates", a.Data, b.Data)
	}
}
