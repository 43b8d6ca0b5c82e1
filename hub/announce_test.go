package hub_test

import (
	"context"
	"slices"
	"testing"

	"github.com/ssehub/ssehub/hub"
)

// TestAnnounce: an announced event reaches the live subscribers it matches,
// by the delivery rule, and is not stored; resuming from its ID replays the
// updates published after it.
func TestAnnounce(t *testing.T) {
	l := newLog(t, hub.MemoryLogOptions{})
	h := newHub(t, hub.Options{Log: l})
	pub, priv, other := newRecorder(), newRecorder(), newRecorder()
	startRun(t, subscribe(t, h, hub.Subscription{Topics: []string{"https://example.com/{x}"}}), pub)
	startRun(t, subscribe(t, h, hub.Subscription{Topics: []string{"https://example.com/{x}"}, Authorized: []string{"*"}}), priv)
	startRun(t, subscribe(t, h, hub.Subscription{Topics: []string{"https://other.example/{x}"}}), other)

	first := publish(t, h, &hub.Update{ID: "u1", Topics: []string{"https://example.com/a"}})
	// Announce fans out at once, a published update once the follower
	// reads it back from the log.
	waitDispatched(t, h, l)
	id, err := h.Announce(&hub.Update{Topics: []string{"https://example.com/s"}, Private: true, Data: "private"})
	if err != nil || id == "" {
		t.Fatalf("Announce: %q, %v", id, err)
	}
	if _, err := h.Announce(&hub.Update{ID: "a2", Topics: []string{"https://example.com/s"}}); err != nil {
		t.Fatal(err)
	}
	publish(t, h, &hub.Update{ID: "u2", Topics: []string{"https://example.com/a", "https://other.example/a"}})
	if got := idsOf(priv.waitFor(t, 4)); !slices.Equal(got, []string{first, id, "a2", "u2"}) {
		t.Errorf("authorized subscriber got %q", got)
	}
	if got := idsOf(pub.waitFor(t, 3)); !slices.Equal(got, []string{first, "a2", "u2"}) {
		t.Errorf("public subscriber got %q", got)
	}
	if got := idsOf(other.waitFor(t, 1)); !slices.Equal(got, []string{"u2"}) {
		t.Errorf("other topics' subscriber got %q", got)
	}
	if n, _ := l.Len(context.Background()); n != 2 {
		t.Errorf("the log holds %d updates, want the 2 published", n)
	}
	r := newRecorder()
	s := subscribe(t, h, hub.Subscription{Topics: []string{"*"}, LastEventID: "a2"})
	if s.HistoryIncomplete() || s.LastEventID() != "a2" {
		t.Errorf("resuming from an announced ID: incomplete %v, LastEventID %q", s.HistoryIncomplete(), s.LastEventID())
	}
	startRun(t, s, r)
	if got := idsOf(r.waitFor(t, 1)); !slices.Equal(got, []string{"u2"}) {
		t.Errorf("resumed from an announced ID: got %q, want [u2]", got)
	}
	if _, err := h.Announce(&hub.Update{ID: "bad\nid", Topics: []string{"x"}}); err == nil {
		t.Error("Announce accepted an invalid ID")
	}
	h.Close(context.Background())
	if _, err := h.Announce(&hub.Update{Topics: []string{"x"}}); err != hub.ErrClosed {
		t.Errorf("Announce on a closed hub: %v, want ErrClosed", err)
	}
}
