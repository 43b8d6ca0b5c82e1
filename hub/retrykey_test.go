package hub

import (
	"testing"
	"time"
)

// TestRetryKey checks that RetryKey tells a retry (the same ID and
// content) from another update reusing the ID, whichever field differs,
// and that its definition is fixed: nodes of different releases sharing a
// log must compute the same key (see RetryKey).
func TestRetryKey(t *testing.T) {
	base := func() *Update {
		return &Update{ID: "urn:x:1", Topics: []string{"a", "b"}, Type: "t", Data: "d", Retry: time.Second, Private: true}
	}
	k := RetryKey(base())
	if got := RetryKey(&Update{ID: "urn:x:1", Topics: []string{"a", "b"}, Type: "t", Data: "d", Retry: time.Second, Private: true, Seq: 9, Time: time.Now()}); got != k {
		t.Fatalf("RetryKey depends on Seq or Time: %q, %q", got, k)
	}
	// The first 16 bytes of the SHA-256 of 02 01'a' 01'b' 01't' 01'd'
	// varint(1e9) 01, in base64url (computed apart from this code).
	if want := "urn:x:1#SMQu7fOVWxWA7PkbfxRhYA"; k != want {
		t.Fatalf("RetryKey = %q, want %q: changing it stores retries twice across releases", k, want)
	}
	for name, change := range map[string]func(*Update){
		"ID":             func(u *Update) { u.ID = "urn:x:2" },
		"Topics":         func(u *Update) { u.Topics = u.Topics[:1] },
		"Topics order":   func(u *Update) { u.Topics = []string{"b", "a"} },
		"Topics joined":  func(u *Update) { u.Topics = []string{"ab"} },
		"Topic boundary": func(u *Update) { u.Topics = []string{"a", "b", ""} },
		"Type":           func(u *Update) { u.Type = "" },
		"Data":           func(u *Update) { u.Data = "e" },
		"Type into Data": func(u *Update) { u.Type, u.Data = "", "td" },
		"Retry":          func(u *Update) { u.Retry = 2 * time.Second },
		"Private":        func(u *Update) { u.Private = false },
	} {
		u := base()
		change(u)
		if RetryKey(u) == k {
			t.Errorf("%s changed, RetryKey unchanged: %q", name, k)
		}
		if sameContent(u, base()) {
			t.Errorf("%s changed, sameContent still true", name)
		}
	}
	if !sameContent(base(), base()) {
		t.Error("sameContent(u, copy of u) = false")
	}
}
