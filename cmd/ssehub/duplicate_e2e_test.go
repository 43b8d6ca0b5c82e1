//go:build unix

package main

import (
	"net/url"
	"testing"
	"time"

	"github.com/ssehub/ssehub/cmd/ssehub/ssehubtest"
)

// TestBinaryRetriedPublish publishes one update twice, as a publisher
// retrying after a timeout does: the retry is answered with the ID and not
// stored again, so subscribers get the update once (--duplicate-window, on
// by default); with --duplicate-window 0 the retry is a second update.
// Then the ID is reused with other data, which is a new update, sent in
// any case: Mercure 1.0 (v1.0.0-alpha.3), "Reconnection", sends later
// updates "carrying the same, reused ID".
func TestBinaryRetriedPublish(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		copies int
	}{
		{nil, 1},
		{[]string{"--memory"}, 1},
		{[]string{"--duplicate-window", "0"}, 2},
	} {
		addr := ssehubtest.FreeAddr(t)
		args := append([]string{"--addr", addr, "--data", t.TempDir(), "--jwt-key", testKey, "--anonymous", "--demo=false"}, tc.args...)
		ssehubtest.Start(t, nil, args...)
		base := "http://" + addr
		pub := token(t, testKey, []string{"*"}, nil, time.Minute)
		topic := "https://example.com/retried"
		s := subscribe(t, newClient(t), base, "", "", topic)
		for range 2 {
			if id := mustPublish(t, newClient(t), base, pub, url.Values{"topic": {topic}, "id": {"urn:x:retried"}, "data": {"x"}}); id != "urn:x:retried" {
				t.Fatalf("%q: publish answered %q, want the ID", tc.args, id)
			}
		}
		if id := mustPublish(t, newClient(t), base, pub, url.Values{"topic": {topic}, "id": {"urn:x:retried"}, "data": {"reused"}}); id != "urn:x:retried" {
			t.Fatalf("%q: publish of the reused ID answered %q, want the ID", tc.args, id)
		}
		next := mustPublish(t, newClient(t), base, pub, url.Values{"topic": {topic}, "data": {"next"}})
		for i := range tc.copies {
			if ev := s.next(); ev.ID != "urn:x:retried" || ev.Data != "x" {
				t.Fatalf("%q: event %d is %q %q, want urn:x:retried x", tc.args, i, ev.ID, ev.Data)
			}
		}
		if ev := s.next(); ev.ID != "urn:x:retried" || ev.Data != "reused" {
			t.Fatalf("%q: after %d copies, event %q %q, want the reused ID's update, data reused", tc.args, tc.copies, ev.ID, ev.Data)
		}
		if ev := s.next(); ev.ID != next {
			t.Fatalf("%q: after %d copies, event %q, want %q", tc.args, tc.copies, ev.ID, next)
		}
	}
}
