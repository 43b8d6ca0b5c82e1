package hub_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssehub/ssehub/hub"
)

func TestPublishInvalid(t *testing.T) {
	h := newHub(t, hub.Options{})
	for _, tc := range []struct {
		name  string
		u     hub.Update
		field string
	}{
		{"no topic", hub.Update{Data: "x"}, "topic"},
		{"empty topic", hub.Update{Topics: []string{"a", ""}}, "topic"},
		{"id with LF", hub.Update{Topics: []string{"a"}, ID: "a\nb"}, "id"},
		{"id with CR", hub.Update{Topics: []string{"a"}, ID: "a\rb"}, "id"},
		{"id with NUL", hub.Update{Topics: []string{"a"}, ID: "a\x00b"}, "id"},
		{"id starting with #", hub.Update{Topics: []string{"a"}, ID: "#frag"}, "id"},
		{"id earliest", hub.Update{Topics: []string{"a"}, ID: "earliest"}, "id"},
		// Issue 19, items 3 and 11: an ID must come back as a Last-Event-ID
		// header byte for byte.
		{"id with SOH", hub.Update{Topics: []string{"a"}, ID: "a\x01b"}, "id"},
		{"id with tab", hub.Update{Topics: []string{"a"}, ID: "a\tb"}, "id"},
		{"id with ESC", hub.Update{Topics: []string{"a"}, ID: "a\x1b[31m"}, "id"},
		{"id with DEL", hub.Update{Topics: []string{"a"}, ID: "a\x7f"}, "id"},
		{"id with C1 NEL", hub.Update{Topics: []string{"a"}, ID: "a\u0085b"}, "id"},
		{"id not UTF-8", hub.Update{Topics: []string{"a"}, ID: "a\xffb"}, "id"},
		{"id with leading space", hub.Update{Topics: []string{"a"}, ID: " a"}, "id"},
		{"id with trailing space", hub.Update{Topics: []string{"a"}, ID: "a "}, "id"},
		{"id one byte too long", hub.Update{Topics: []string{"a"}, ID: strings.Repeat("x", hub.MaxIDLen+1)}, "id"},
		{"id of 40 KiB", hub.Update{Topics: []string{"a"}, ID: strings.Repeat("x", 40<<10)}, "id"},
		{"type with LF", hub.Update{Topics: []string{"a"}, Type: "x\ny"}, "type"},
		{"negative retry", hub.Update{Topics: []string{"a"}, Retry: -time.Second}, "retry"},
		// Mercure 1.0 (draft-dunglas-mercure-08), "Terminology" and
		// "Publication": no control or format characters in topics, IDs
		// and types; "*" is not a topic; data is UTF-8.
		{"topic *", hub.Update{Topics: []string{"a", "*"}}, "topic"},
		{"topic with TAB", hub.Update{Topics: []string{"a\tb"}}, "topic"},
		{"topic with DEL", hub.Update{Topics: []string{"a\x7fb"}}, "topic"},
		{"topic with C1", hub.Update{Topics: []string{"a\u0085b"}}, "topic"},
		{"topic with RLO", hub.Update{Topics: []string{"a\u202eb"}}, "topic"},
		{"topic with ZWJ", hub.Update{Topics: []string{"a\u200db"}}, "topic"},
		{"topic not UTF-8", hub.Update{Topics: []string{"a\xffb"}}, "topic"},
		{"id with BOM", hub.Update{Topics: []string{"a"}, ID: "\ufeffa"}, "id"},
		{"id with RLO", hub.Update{Topics: []string{"a"}, ID: "a\u202eb"}, "id"},
		{"type with TAB", hub.Update{Topics: []string{"a"}, Type: "x\ty"}, "type"},
		{"type with C1", hub.Update{Topics: []string{"a"}, Type: "x\u009by"}, "type"},
		{"type with LRM", hub.Update{Topics: []string{"a"}, Type: "x\u200ey"}, "type"},
		{"data not UTF-8", hub.Update{Topics: []string{"a"}, Data: "\xc3\x28"}, "data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.Publish(t.Context(), &tc.u)
			if !errors.Is(err, hub.ErrInvalidUpdate) {
				t.Fatalf("Publish = %v, want ErrInvalidUpdate", err)
			}
			var ue *hub.UpdateError
			if !errors.As(err, &ue) || ue.Field != tc.field {
				t.Fatalf("Publish = %v, want an UpdateError for field %q", err, tc.field)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %q does not name the field %q", err, tc.field)
			}
		})
	}
	if _, err := h.Publish(t.Context(), nil); !errors.Is(err, hub.ErrInvalidUpdate) {
		t.Fatalf("Publish(nil) = %v, want ErrInvalidUpdate", err)
	}
	if got := h.Stats().Published; got != 0 {
		t.Fatalf("Published = %d after only invalid updates", got)
	}
}

// TestValidIDs: what the ID rule lets through, up to the length bound.
func TestValidIDs(t *testing.T) {
	for _, id := range []string{
		"", "x", "urn:uuid:0190d0c4-3f7e-7a1b-9c2d-4e5f60718293", "a b", "ü日本\u2028",
		"https://example.com/books/1#not-a-leading-hash", strings.Repeat("x", hub.MaxIDLen),
		strings.Repeat("é", hub.MaxIDLen/2),
	} {
		if err := hub.ValidateID(id); err != nil {
			t.Errorf("ValidateID(%.40q) = %v, want nil", id, err)
		}
	}
}

func TestPublishAssignsID(t *testing.T) {
	log := newLog(t, hub.MemoryLogOptions{})
	h := newHub(t, hub.Options{Log: log})
	u := &hub.Update{Topics: []string{"a"}}
	id := publish(t, h, u)
	rest, ok := strings.CutPrefix(id, "urn:uuid:")
	if !ok {
		t.Fatalf("ID %q lacks the urn:uuid: prefix", id)
	}
	if v, err := uuid.Parse(rest); err != nil || v.Version() != 7 {
		t.Fatalf("ID %q: not a version 7 UUID (%v)", id, err)
	}
	if u.ID != id || u.Seq == 0 {
		t.Fatalf("update after Publish: ID %q Seq %d", u.ID, u.Seq)
	}
	if seq, err := log.Find(t.Context(), id); err != nil || seq != u.Seq {
		t.Fatalf("Find(%q) = %d, %v: Publish returned before the update was stored", id, seq, err)
	}
	if id2 := publish(t, h, &hub.Update{Topics: []string{"a"}}); id2 == id {
		t.Fatal("two updates got the same ID")
	}
	if keep := publish(t, h, &hub.Update{Topics: []string{"a"}, ID: "mine"}); keep != "mine" {
		t.Fatalf("publisher's ID replaced by %q", keep)
	}
}

// failingLog fails every Append.
type failingLog struct{ hub.Log }

var errDisk = errors.New("disk on fire")

func (failingLog) Append(context.Context, *hub.Update) error { return errDisk }

func TestPublishLogFailure(t *testing.T) {
	log := newLog(t, hub.MemoryLogOptions{})
	h := newHub(t, hub.Options{Log: failingLog{log}})
	if _, err := h.Publish(t.Context(), &hub.Update{Topics: []string{"a"}}); !errors.Is(err, errDisk) {
		t.Fatalf("Publish = %v, want it to wrap the log's error", err)
	}
}

func TestSubscribeInvalid(t *testing.T) {
	h := newHub(t, hub.Options{})
	for _, s := range []hub.Subscription{{}, {Topics: []string{"a", ""}}} {
		if _, err := h.Subscribe(t.Context(), s); !errors.Is(err, hub.ErrInvalidSubscription) || !strings.Contains(err.Error(), "topic") {
			t.Fatalf("Subscribe(%+v) = %v, want ErrInvalidSubscription naming topic", s, err)
		}
	}
}

const (
	book1 = "https://example.com/books/1"
	book2 = "https://example.com/books/2"
	autor = "https://example.com/authors/1"
)

func TestSelectorsAndPrivateUpdates(t *testing.T) {
	h := newHub(t, hub.Options{})
	subs := map[string]hub.Subscription{
		"exact":            {Topics: []string{book1}},
		"star":             {Topics: []string{"*"}},
		"template":         {Topics: []string{"https://example.com/books/{id}"}},
		"template+exact":   {Topics: []string{"https://example.com/books/{id}", book1}},
		"private:book1":    {Topics: []string{"*"}, Authorized: []string{book1}},
		"private:books":    {Topics: []string{"https://example.com/books/{id}"}, Authorized: []string{"https://example.com/books/{id}"}},
		"private:all":      {Topics: []string{autor}, Authorized: []string{"*"}},
		"auth-not-topics":  {Topics: []string{book2}, Authorized: []string{book1}},
		"invalid template": {Topics: []string{"https://example.com/books/{id"}},
	}
	updates := []*hub.Update{
		{ID: "u1", Topics: []string{book1}},
		{ID: "u2", Topics: []string{book2}},
		{ID: "u3", Topics: []string{autor}},
		{ID: "p1", Topics: []string{book1}, Private: true},
		{ID: "p2", Topics: []string{book2, autor}, Private: true},
		{ID: "u4", Topics: []string{autor, book1}}, // matched twice by template+exact: delivered once
	}
	want := map[string][]string{
		"exact":            {"u1", "u4"},
		"star":             {"u1", "u2", "u3", "u4"},
		"template":         {"u1", "u2", "u4"},
		"template+exact":   {"u1", "u2", "u4"},
		"private:book1":    {"u1", "u2", "u3", "p1", "u4"},
		"private:books":    {"u1", "u2", "p1", "p2", "u4"},
		"private:all":      {"u3", "p2", "u4"},
		"auth-not-topics":  {"u2"},
		"invalid template": {},
	}

	// Live: subscribe first, then publish. Replay: subscribe afterwards
	// from "earliest". The same rule applies to both.
	live := map[string]*recorder{}
	for name, s := range subs {
		live[name] = newRecorder()
		startRun(t, subscribe(t, h, s), live[name])
	}
	for _, u := range updates {
		publish(t, h, u)
	}
	// A final update everyone receives marks the end of the stream.
	publish(t, h, &hub.Update{ID: "end", Topics: []string{book1, book2, autor, "https://example.com/books/{id"}})
	for name, s := range subs {
		w := append(slices.Clone(want[name]), "end")
		if got := idsOf(live[name].waitFor(t, len(w))); !slices.Equal(got, w) {
			t.Errorf("live %s: got %q, want %q", name, got, w)
		}
		s.LastEventID = "earliest"
		r := newRecorder()
		startRun(t, subscribe(t, h, s), r)
		if got := idsOf(r.waitFor(t, len(w))); !slices.Equal(got, w) {
			t.Errorf("replayed %s: got %q, want %q", name, got, w)
		}
	}
	// The invalid template matches only itself: it counts as exact.
	if st := h.Stats(); st.Topics != 4 || st.Templates != 2 {
		t.Errorf("Stats: %d exact selectors, %d template selectors; want 4 and 2", st.Topics, st.Templates)
	}
}

func idsOf(evs []event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.id
	}
	return out
}

func TestEventEncoding(t *testing.T) {
	h := newHub(t, hub.Options{})
	r := newRecorder()
	startRun(t, subscribe(t, h, hub.Subscription{Topics: []string{"a"}}), r)
	publish(t, h, &hub.Update{ID: "x", Topics: []string{"a"}, Type: "greeting", Data: "hello", Retry: 1500 * time.Millisecond})
	got := r.waitFor(t, 1)[0]
	if got != (event{id: "x", typ: "greeting", data: "hello"}) {
		t.Fatalf("got %+v", got)
	}
}

func TestReplayFromID(t *testing.T) {
	h := newHub(t, hub.Options{})
	var ids []string
	for i := range 10 {
		ids = append(ids, publish(t, h, &hub.Update{Topics: []string{"a"}, Data: fmt.Sprint(i)}))
	}
	sub := subscribe(t, h, hub.Subscription{Topics: []string{"a"}, LastEventID: ids[4]})
	if sub.LastEventID() != ids[4] || sub.HistoryIncomplete() {
		t.Fatalf("LastEventID %q, HistoryIncomplete %v; want %q, false", sub.LastEventID(), sub.HistoryIncomplete(), ids[4])
	}
	r := newRecorder()
	startRun(t, sub, r)
	r.waitFor(t, 5)
	ids = append(ids, publish(t, h, &hub.Update{Topics: []string{"a"}}), publish(t, h, &hub.Update{Topics: []string{"a"}}))
	if got := idsOf(r.waitFor(t, 7)); !slices.Equal(got, ids[5:]) {
		t.Fatalf("got %q, want %q", got, ids[5:])
	}
}

func TestReplayUnknownID(t *testing.T) {
	h := newHub(t, hub.Options{Log: newLog(t, hub.MemoryLogOptions{MaxLen: 5})})
	var ids []string
	for range 10 {
		ids = append(ids, publish(t, h, &hub.Update{Topics: []string{"a"}}))
	}
	for _, last := range []string{ids[0], "never-published"} {
		sub := subscribe(t, h, hub.Subscription{Topics: []string{"a"}, LastEventID: last})
		if sub.LastEventID() != "earliest" || !sub.HistoryIncomplete() {
			t.Fatalf("Last-Event-ID %q: LastEventID %q, HistoryIncomplete %v; want earliest, true", last, sub.LastEventID(), sub.HistoryIncomplete())
		}
		r := newRecorder()
		startRun(t, sub, r)
		if got := idsOf(r.waitFor(t, 5)); !slices.Equal(got, ids[5:]) {
			t.Fatalf("Last-Event-ID %q: replayed %q, want the kept %q", last, got, ids[5:])
		}
	}
}

func TestEarliest(t *testing.T) {
	h := newHub(t, hub.Options{})
	var ids []string
	for range 3 {
		ids = append(ids, publish(t, h, &hub.Update{Topics: []string{"a"}}))
	}
	sub := subscribe(t, h, hub.Subscription{Topics: []string{"a"}, LastEventID: "earliest"})
	if sub.LastEventID() != "earliest" || sub.HistoryIncomplete() {
		t.Fatalf("LastEventID %q, HistoryIncomplete %v; want earliest, false", sub.LastEventID(), sub.HistoryIncomplete())
	}
	r := newRecorder()
	startRun(t, sub, r)
	ids = append(ids, publish(t, h, &hub.Update{Topics: []string{"a"}}))
	if got := idsOf(r.waitFor(t, 4)); !slices.Equal(got, ids) {
		t.Fatalf("got %q, want %q", got, ids)
	}
}

func TestLiveOnlyLastEventID(t *testing.T) {
	log := newLog(t, hub.MemoryLogOptions{})
	h := newHub(t, hub.Options{Log: log})
	sub := subscribe(t, h, hub.Subscription{Topics: []string{"a"}})
	if got := sub.LastEventID(); got != "earliest" {
		t.Fatalf("LastEventID on an empty log = %q, want earliest", got)
	}
	sub.Close()
	publish(t, h, &hub.Update{ID: "one", Topics: []string{"a"}})
	last := publish(t, h, &hub.Update{ID: "two", Topics: []string{"b"}})
	waitDispatched(t, h, log)
	sub = subscribe(t, h, hub.Subscription{Topics: []string{"a"}})
	if got := sub.LastEventID(); got != last {
		t.Fatalf("LastEventID = %q, want the newest update %q", got, last)
	}
	r := newRecorder()
	startRun(t, sub, r)
	publish(t, h, &hub.Update{ID: "three", Topics: []string{"a"}})
	if got := idsOf(r.waitFor(t, 1)); !slices.Equal(got, []string{"three"}) {
		t.Fatalf("live-only subscriber got %q, want [three]", got)
	}

	// A hub started on a non-empty log knows its newest update.
	h2 := newHub(t, hub.Options{Log: log})
	if got := subscribe(t, h2, hub.Subscription{Topics: []string{"a"}}).LastEventID(); got != "three" {
		t.Fatalf("new hub: LastEventID = %q, want three", got)
	}
}

func TestCloseEndsEveryRun(t *testing.T) {
	h, err := hub.New(hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, h, &hub.Update{Topics: []string{"a"}})
	var runs []*running
	for _, last := range []string{"", "earliest", "", "earliest"} {
		runs = append(runs, startRun(t, subscribe(t, h, hub.Subscription{Topics: []string{"a"}, LastEventID: last}), newRecorder()))
	}
	notRun := subscribe(t, h, hub.Subscription{Topics: []string{"*"}})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, r := range runs {
		if err := r.result(t); !errors.Is(err, hub.ErrClosed) {
			t.Fatalf("Run %d returned %v, want ErrClosed", i, err)
		}
	}
	if err := notRun.Run(ctx, newRecorder()); !errors.Is(err, hub.ErrClosed) {
		t.Fatalf("Run after Close = %v, want ErrClosed", err)
	}
	if _, err := h.Publish(ctx, &hub.Update{Topics: []string{"a"}}); !errors.Is(err, hub.ErrClosed) {
		t.Fatalf("Publish after Close = %v, want ErrClosed", err)
	}
	if _, err := h.Subscribe(ctx, hub.Subscription{Topics: []string{"a"}}); !errors.Is(err, hub.ErrClosed) {
		t.Fatalf("Subscribe after Close = %v, want ErrClosed", err)
	}
	if err := h.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if n := h.Stats().Subscribers; n != 0 {
		t.Fatalf("%d subscribers left after Close", n)
	}
}

func TestCloseDoesNotCloseGivenLog(t *testing.T) {
	log := newLog(t, hub.MemoryLogOptions{})
	h, err := hub.New(hub.Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := log.Last(t.Context()); err != nil {
		t.Fatalf("the log was closed with the hub: %v", err)
	}
}

func TestSubscriberClose(t *testing.T) {
	h := newHub(t, hub.Options{})
	sub := subscribe(t, h, hub.Subscription{Topics: []string{"a"}})
	if n := h.Stats().Subscribers; n != 1 {
		t.Fatalf("Subscribers = %d, want 1", n)
	}
	sub.Close()
	sub.Close()
	if st := h.Stats(); st.Subscribers != 0 || st.Topics != 0 {
		t.Fatalf("after Close: %+v", st)
	}
	if err := sub.Run(t.Context(), newRecorder()); err != nil {
		t.Fatalf("Run after Close = %v, want nil", err)
	}

	// Close while Run is waiting ends it.
	sub = subscribe(t, h, hub.Subscription{Topics: []string{"a"}})
	r := startRun(t, sub, newRecorder())
	sub.Close()
	if err := r.result(t); err != nil {
		t.Fatalf("Run ended by Close returned %v", err)
	}
	if err := sub.Run(t.Context(), newRecorder()); err == nil {
		t.Fatal("a second Run returned nil")
	}
}

func TestRunEndsOnContext(t *testing.T) {
	h := newHub(t, hub.Options{})
	r := startRun(t, subscribe(t, h, hub.Subscription{Topics: []string{"a"}}), newRecorder())
	r.cancel()
	if err := r.result(t); err != nil {
		t.Fatalf("Run = %v after its context was canceled, want nil", err)
	}
	if n := h.Stats().Subscribers; n != 0 {
		t.Fatalf("Subscribers = %d after Run returned", n)
	}
}

type failWriter struct{}

var errGone = errors.New("client gone")

func (failWriter) Write([]byte) (int, error) { return 0, errGone }

func TestRunWriteError(t *testing.T) {
	h := newHub(t, hub.Options{})
	publish(t, h, &hub.Update{Topics: []string{"a"}})
	for _, last := range []string{"", "earliest"} {
		r := startRun(t, subscribe(t, h, hub.Subscription{Topics: []string{"a"}, LastEventID: last}), failWriter{})
		if last == "" {
			publish(t, h, &hub.Update{Topics: []string{"a"}})
		}
		if err := r.result(t); !errors.Is(err, errGone) {
			t.Fatalf("Last-Event-ID %q: Run = %v, want the write error", last, err)
		}
	}
}

// blockingWriter blocks every Write until release is closed.
type blockingWriter struct {
	started chan struct{}
	release chan struct{}
	rec     *recorder
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	select {
	case w.started <- struct{}{}:
	default:
	}
	<-w.release
	return w.rec.Write(p)
}

func TestSlowSubscriberDisconnectedAndResumes(t *testing.T) {
	log := newLog(t, hub.MemoryLogOptions{})
	h := newHub(t, hub.Options{Log: log, QueueSize: 4})
	w := &blockingWriter{started: make(chan struct{}, 1), release: make(chan struct{}), rec: newRecorder()}
	r := startRun(t, subscribe(t, h, hub.Subscription{Topics: []string{"a"}}), w)

	var ids []string
	ids = append(ids, publish(t, h, &hub.Update{Topics: []string{"a"}}))
	<-w.started // Run is stuck writing the first event
	for range 10 {
		ids = append(ids, publish(t, h, &hub.Update{Topics: []string{"a"}}))
	}
	waitDispatched(t, h, log) // the fan-out did not block on the stuck writer
	close(w.release)
	err := r.result(t)
	if !errors.Is(err, hub.ErrSlowSubscriber) {
		t.Fatalf("Run = %v, want ErrSlowSubscriber", err)
	}
	if st := h.Stats(); st.SlowDisconnects != 1 || st.Subscribers != 0 {
		t.Fatalf("Stats after a slow disconnect: %+v", st)
	}
	got := w.rec.ids()
	if len(got) == 0 || !slices.Equal(got, ids[:len(got)]) {
		t.Fatalf("slow subscriber got %q, want a prefix of %q", got, ids)
	}

	// Reconnecting with the last ID received replays the rest.
	resumed := newRecorder()
	startRun(t, subscribe(t, h, hub.Subscription{Topics: []string{"a"}, LastEventID: got[len(got)-1]}), resumed)
	if rest := idsOf(resumed.waitFor(t, len(ids)-len(got))); !slices.Equal(rest, ids[len(got):]) {
		t.Fatalf("resumed with %q, want %q", rest, ids[len(got):])
	}
}

// TestBatchedWrites checks that events queued while Run was writing go out
// together in one Write.
func TestBatchedWrites(t *testing.T) {
	log := newLog(t, hub.MemoryLogOptions{})
	h := newHub(t, hub.Options{Log: log})
	w := &blockingWriter{started: make(chan struct{}, 1), release: make(chan struct{}), rec: newRecorder()}
	counter := &countingWriter{w: w}
	startRun(t, subscribe(t, h, hub.Subscription{Topics: []string{"a"}}), counter)
	publish(t, h, &hub.Update{Topics: []string{"a"}})
	<-w.started
	for range 5 {
		publish(t, h, &hub.Update{Topics: []string{"a"}})
	}
	waitDispatched(t, h, log)
	close(w.release)
	w.rec.waitFor(t, 6)
	if n := counter.n.Load(); n != 2 {
		t.Fatalf("6 events took %d writes, want 2 (one, then the 5 queued meanwhile)", n)
	}
	// Delivered counts a write once it has returned, which may be after
	// the recorder saw its events: wait for the count, then check it is
	// not more.
	deadline := time.Now().Add(wait)
	for h.Stats().Delivered < 6 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if d := h.Stats().Delivered; d != 6 {
		t.Fatalf("Delivered = %d, want 6", d)
	}
}

// TestLiveOnlyLastEventIDHidesPrivateUpdates is issue 19, item 9: a
// live-only subscriber is told the newest update it may see as the one it
// starts after, never the ID of a private update it may not see, on any
// topic; and what it receives next is exactly what it may see after that
// ID.
func TestLiveOnlyLastEventIDHidesPrivateUpdates(t *testing.T) {
	log := newLog(t, hub.MemoryLogOptions{})
	h := newHub(t, hub.Options{Log: log})
	publish(t, h, &hub.Update{ID: "public", Topics: []string{"a"}})
	publish(t, h, &hub.Update{ID: "mine", Topics: []string{"s/1"}, Private: true})
	publish(t, h, &hub.Update{ID: "secret", Topics: []string{"s/2"}, Private: true})
	waitDispatched(t, h, log)
	check := func(h *hub.Hub) {
		t.Helper()
		for _, tc := range []struct {
			name       string
			authorized []string
			want       string
		}{
			{"anonymous", nil, "public"},
			{"authorized for another topic", []string{"x"}, "public"},
			{"authorized for s/1", []string{"s/1"}, "mine"},
			{"authorized by template", []string{"s/{n}"}, "secret"},
		} {
			sub := subscribe(t, h, hub.Subscription{Topics: []string{"b"}, Authorized: tc.authorized})
			if got := sub.LastEventID(); got != tc.want {
				t.Errorf("%s: LastEventID = %q, want %q", tc.name, got, tc.want)
			}
			sub.Close()
		}
	}
	check(h)
	// A hub started on the log remembers the same.
	check(newHub(t, hub.Options{Log: log}))

	// Only private updates: an anonymous subscriber is told none.
	log2 := newLog(t, hub.MemoryLogOptions{})
	h2 := newHub(t, hub.Options{Log: log2})
	publish(t, h2, &hub.Update{ID: "secret", Topics: []string{"s/2"}, Private: true})
	waitDispatched(t, h2, log2)
	if got := subscribe(t, h2, hub.Subscription{Topics: []string{"*"}}).LastEventID(); got != hub.EarliestID {
		t.Errorf("only private updates: LastEventID = %q, want %s", got, hub.EarliestID)
	}
	// More private updates than the hub remembers: the newest public one.
	publish(t, h2, &hub.Update{ID: "public", Topics: []string{"a"}})
	for i := range 100 {
		publish(t, h2, &hub.Update{ID: fmt.Sprint("secret", i), Topics: []string{"s/2"}, Private: true})
	}
	waitDispatched(t, h2, log2)
	if got := subscribe(t, h2, hub.Subscription{Topics: []string{"*"}}).LastEventID(); got != "public" {
		t.Errorf("after 100 private updates: LastEventID = %q, want public", got)
	}
}

// Characters the text rules leave alone: a literal U+FFFD is valid UTF-8,
// and non-ASCII letters are fine in IRIs.
func TestPublishValidText(t *testing.T) {
	h := newHub(t, hub.Options{})
	for _, u := range []hub.Update{
		{Topics: []string{"https://example.com/caf\u00e9/\ufffd"}, ID: "\u00e9t\u00e9", Type: "\u00fcber", Data: "line\nline\r\n\ufffd"},
		{Topics: []string{"**"}, ID: `id-["x"]`},
	} {
		if _, err := h.Publish(t.Context(), &u); err != nil {
			t.Errorf("Publish(%+v) = %v", u, err)
		}
	}
}
