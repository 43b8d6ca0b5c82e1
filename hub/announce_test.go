package hub_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
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
	id, err := h.Announce(t.Context(), &hub.Update{Topics: []string{"https://example.com/s"}, Private: true, Data: "private"})
	if err != nil || id == "" {
		t.Fatalf("Announce: %q, %v", id, err)
	}
	if _, err := h.Announce(t.Context(), &hub.Update{ID: "a2", Topics: []string{"https://example.com/s"}}); err != nil {
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
	if _, err := h.Announce(t.Context(), &hub.Update{ID: "bad\nid", Topics: []string{"x"}}); err == nil {
		t.Error("Announce accepted an invalid ID")
	}
	h.Close(context.Background())
	if _, err := h.Announce(t.Context(), &hub.Update{Topics: []string{"x"}}); err != hub.ErrClosed {
		t.Errorf("Announce on a closed hub: %v, want ErrClosed", err)
	}
}

// TestAnnounceShared: hubs sharing a log and announcements fan out each
// other's announced events: every subscriber of every hub gets each event
// once, and all of them get the events in one order, the announcements
// log's, while the log of updates holds none of them.
func TestAnnounceShared(t *testing.T) {
	l, ann := newLog(t, hub.MemoryLogOptions{}), newLog(t, hub.MemoryLogOptions{})
	hubs := []*hub.Hub{
		newHub(t, hub.Options{Log: l, Announcements: ann}),
		newHub(t, hub.Options{Log: l, Announcements: ann}),
		newHub(t, hub.Options{Log: l, Announcements: ann}),
	}
	const perHub = 50
	var recs []*recorder
	for _, h := range hubs {
		for _, auth := range [][]string{{"*"}, nil} {
			r := newRecorder()
			startRun(t, subscribe(t, h, hub.Subscription{Topics: []string{"https://example.com/{x}"}, Authorized: auth}), r)
			recs = append(recs, r)
		}
	}
	// Each hub announces concurrently with the others; every third event
	// is private.
	var wg sync.WaitGroup
	for i, h := range hubs {
		wg.Go(func() {
			for j := range perHub {
				id := fmt.Sprintf("h%d-%d", i, j)
				if got, err := h.Announce(t.Context(), &hub.Update{ID: id, Topics: []string{"https://example.com/s"}, Private: j%3 == 0}); err != nil || got != id {
					t.Errorf("Announce(%s) = %q, %v", id, got, err)
				}
			}
		})
	}
	wg.Wait()
	var order []string
	for u, err := range ann.Read(t.Context(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, u.ID)
	}
	if len(order) != len(hubs)*perHub {
		t.Fatalf("the announcements hold %d events, want %d", len(order), len(hubs)*perHub)
	}
	var public []string
	for _, id := range order {
		var i, j int
		fmt.Sscanf(id, "h%d-%d", &i, &j)
		if j%3 != 0 {
			public = append(public, id)
		}
	}
	for k, r := range recs {
		want := order
		if k%2 == 1 {
			want = public // not authorized for the private ones
		}
		if got := idsOf(r.waitFor(t, len(want))); !slices.Equal(got, want) {
			t.Errorf("subscriber %d of hub %d got %d events %q,\nwant the announcements' order %q", k%2, k/2, len(got), got, want)
		}
	}
	if n, _ := l.Len(t.Context()); n != 0 {
		t.Errorf("the log of updates holds %d entries, want none", n)
	}
	// Resuming on any hub from an event another hub announced replays the
	// updates published after it.
	last := order[len(order)-1]
	u := publish(t, hubs[0], &hub.Update{ID: "u1", Topics: []string{"https://example.com/a"}})
	for i, h := range hubs {
		waitDispatched(t, h, l)
		r := newRecorder()
		s := subscribe(t, h, hub.Subscription{Topics: []string{"*"}, LastEventID: last})
		if s.HistoryIncomplete() {
			t.Errorf("hub %d resumed from %s as from an unknown ID", i, last)
		}
		startRun(t, s, r)
		if got := idsOf(r.waitFor(t, 1)); !slices.Equal(got, []string{u}) {
			t.Errorf("hub %d resumed from %s: got %q, want [%s]", i, last, got, u)
		}
	}
	// A closed hub still announces to the others: the ends of its
	// subscriptions.
	hubs[2].Close(t.Context())
	if _, err := hubs[2].Announce(t.Context(), &hub.Update{ID: "bye", Topics: []string{"https://example.com/s"}}); err != nil {
		t.Fatalf("Announce on a closed hub with announcements: %v", err)
	}
	for k, r := range recs[:4] {
		n := len(order)
		if k%2 == 1 {
			n = len(public)
		}
		// The announced events, u1, and the closed hub's.
		if got := idsOf(r.waitFor(t, n+2))[n:]; !slices.Equal(got, []string{u, "bye"}) {
			t.Errorf("subscriber %d of hub %d then got %q, want [%s bye]", k%2, k/2, got, u)
		}
	}
}
