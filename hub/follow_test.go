package hub_test

import (
	"context"
	"errors"
	"iter"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// flakyLog's Follow fails after every third update it yields.
type flakyLog struct {
	hub.Log
	follows atomic.Int64
}

var errFlaky = errors.New("connection reset")

func (l *flakyLog) Follow(ctx context.Context, after uint64) iter.Seq2[*hub.Update, error] {
	l.follows.Add(1)
	return func(yield func(*hub.Update, error) bool) {
		n := 0
		for u, err := range l.Log.Follow(ctx, after) {
			if !yield(u, err) || err != nil {
				return
			}
			if n++; n == 3 {
				yield(nil, errFlaky)
				return
			}
		}
	}
}

func TestFollowerResumesAfterFailure(t *testing.T) {
	flaky := &flakyLog{Log: newLog(t, hub.MemoryLogOptions{})}
	h := newHub(t, hub.Options{Log: flaky})
	r := newRecorder()
	startRun(t, subscribe(t, h, hub.Subscription{Topics: []string{"a"}}), r)
	var ids []string
	for range 10 {
		ids = append(ids, publish(t, h, &hub.Update{Topics: []string{"a"}}))
	}
	if got := idsOf(r.waitFor(t, 10)); !slices.Equal(got, ids) {
		t.Fatalf("got %q, want %q", got, ids)
	}
	if n := flaky.follows.Load(); n < 4 {
		t.Fatalf("Follow was called %d times, want at least 4 (it fails every 3 updates)", n)
	}
}

func TestFollowerSkipsUnencodableUpdate(t *testing.T) {
	log := newLog(t, hub.MemoryLogOptions{})
	h := newHub(t, hub.Options{Log: log})
	r := newRecorder()
	startRun(t, subscribe(t, h, hub.Subscription{Topics: []string{"a"}}), r)
	// Another node of a shared log might append what Publish rejects.
	if err := log.Append(t.Context(), &hub.Update{ID: "bad\nid", Topics: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	good := publish(t, h, &hub.Update{Topics: []string{"a"}})
	if got := idsOf(r.waitFor(t, 1)); !slices.Equal(got, []string{good}) {
		t.Fatalf("got %q, want [%s]", got, good)
	}
	// Replay skips it too.
	r2 := newRecorder()
	startRun(t, subscribe(t, h, hub.Subscription{Topics: []string{"a"}, LastEventID: "earliest"}), r2)
	if got := idsOf(r2.waitFor(t, 1)); !slices.Equal(got, []string{good}) {
		t.Fatalf("replayed %q, want [%s]", got, good)
	}
}

func TestHubMatchAndStats(t *testing.T) {
	h := newHub(t, hub.Options{})
	if !h.Match("https://example.com/books/{id}", "https://example.com/books/1") || h.Match("https://example.com/books/{id}", "https://example.com/x/1") {
		t.Fatal("Match disagrees with the URI template")
	}
	r := newRecorder()
	startRun(t, subscribe(t, h, hub.Subscription{Topics: []string{"a", "b", "{x}"}}), r)
	publish(t, h, &hub.Update{Topics: []string{"a"}})
	publish(t, h, &hub.Update{Topics: []string{"c"}})
	r.waitFor(t, 2)
	// Run counts a write as delivered once Write has returned, which may
	// be after the recorder saw the events.
	st := h.Stats()
	for deadline := time.Now().Add(wait); st.Delivered < 2 && time.Now().Before(deadline); st = h.Stats() {
		time.Sleep(time.Millisecond)
	}
	if st.Subscribers != 1 || st.Published != 2 || st.Delivered != 2 || st.Topics != 2 || st.Templates != 1 || st.Position != 2 {
		t.Fatalf("Stats = %+v", st)
	}
}
