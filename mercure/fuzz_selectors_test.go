package mercure

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/sse"
)

// pipeWriter is a streaming http.ResponseWriter whose body is read from a
// pipe, so that a fuzz target can follow a subscriber's stream while the
// handler writes it.
type pipeWriter struct {
	header http.Header
	pw     *io.PipeWriter
	status chan int // receives the status once
	once   sync.Once
}

func (w *pipeWriter) Header() http.Header { return w.header }
func (w *pipeWriter) WriteHeader(code int) {
	w.once.Do(func() { w.status <- code })
}
func (w *pipeWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.pw.Write(b)
}
func (w *pipeWriter) Flush() {}

// FuzzSubscribeSelectors subscribes through the handler with arbitrary
// topic selectors (exact topics, URI templates, "*", garbage) and replays an
// update on an arbitrary topic to it: the answer is a stream or a 400
// naming "topic", never a panic or a hang, and the stream carries the
// update exactly when a selector matches its topic (by Hub.Match, the rule
// the publish authorization uses too), followed by the marker.
func FuzzSubscribeSelectors(f *testing.F) {
	for _, s := range [][3]string{
		{"https://example.com/books/{id}", "", "https://example.com/books/1"},
		{"*", "", "anything"},
		{"https://example.com/{+path}", "urn:x", "https://example.com/a/b?c#d"},
		{"{a}", "{b}", "x"},
		{"{", "}", "{"},
		{"https://example.com/{id", "", "https://example.com/{id"},
		{"{?q,r}", "", "?q=1&r=2"},
		{"{/p*}", "{;x}", "/a/b"},
		{"urn:{n:3}", "", "urn:abc"},
		{"https://example.com/%7Bid%7D", "", "https://example.com/{id}"},
		{"a\x00b", "\r\n", "a\x00b"},
		{"", "", "t"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	log := hub.NewMemoryLog(hub.MemoryLogOptions{MaxLen: 100})
	hb, err := hub.New(hub.Options{Log: log, Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		hb.Close(context.Background())
		log.Close()
	})
	h, err := New(Options{Hub: hb, PublisherKey: testHMACKey, Anonymous: true, Logger: quietLogger(), Heartbeat: -1})
	if err != nil {
		f.Fatal(err)
	}
	const markerTopic = "fuzz:marker"
	prev, err := hb.Publish(context.Background(), &hub.Update{Topics: []string{markerTopic}, Data: "start"})
	if err != nil {
		f.Fatal(err)
	}
	n := 0
	f.Fuzz(func(t *testing.T, sel1, sel2, topic string) {
		n++
		bg := context.Background()
		updateID := ""
		if (&hub.Update{Topics: []string{topic}}).Validate() != nil {
			topic = "" // not a topic (control characters, "*"...)
		}
		if topic != "" {
			id, err := hb.Publish(bg, &hub.Update{Topics: []string{topic}, Data: "update"})
			if err != nil {
				t.Fatalf("publish to %q: %v", topic, err)
			}
			updateID = id
		}
		marker := fmt.Sprint("marker-", n)
		markerID, err := hb.Publish(bg, &hub.Update{Topics: []string{markerTopic}, Data: marker})
		if err != nil {
			t.Fatal(err)
		}
		from := prev
		prev = markerID

		q := url.Values{"topic": {markerTopic}}
		sels := []string{}
		for _, s := range []string{sel1, sel2} {
			if s != "" || sel1 == "" {
				q.Add("topic", s)
				sels = append(sels, s)
			}
		}
		ctx, cancel := context.WithTimeout(bg, 10*time.Second)
		defer cancel()
		r := httptest.NewRequestWithContext(ctx, "GET", Path+"?"+q.Encode(), nil)
		r.Header.Set("Last-Event-ID", from)
		pr, pw := io.Pipe()
		w := &pipeWriter{header: http.Header{}, pw: pw, status: make(chan int, 1)}
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer pw.Close()
			h.ServeHTTP(w, r)
			w.WriteHeader(http.StatusOK) // no-op when already written
		}()
		var status int
		select {
		case status = <-w.status:
		case <-ctx.Done():
			t.Fatalf("selectors %q: no answer", sels)
		}
		if status != http.StatusOK {
			b, _ := io.ReadAll(pr)
			<-done
			if status != http.StatusBadRequest || !strings.HasPrefix(string(b), "topic:") {
				t.Fatalf("selectors %q: %d %q, want 200 or 400 naming topic", sels, status, b)
			}
			return
		}
		var got []string
		for ev, err := range sse.Events(pr) {
			if err != nil {
				t.Fatalf("selectors %q: stream: %v (got %q)", sels, err, got)
			}
			got = append(got, ev.Data)
			if ev.Data == marker {
				if ev.ID != markerID {
					t.Fatalf("marker with ID %q, want %q", ev.ID, markerID)
				}
				break
			}
			if ev.Data != "update" || ev.ID != updateID {
				t.Fatalf("selectors %q: unexpected event %+v", sels, ev)
			}
		}
		cancel()
		go io.Copy(io.Discard, pr)
		<-done
		want := []string{marker}
		if topic != "" && (hb.Match(markerTopic, topic) || matchAnyOf(hb, sels, topic)) {
			want = []string{"update", marker}
		}
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Fatalf("selectors %q, topic %q: got %q, want %q", sels, topic, got, want)
		}
	})
}

func matchAnyOf(hb *hub.Hub, sels []string, topic string) bool {
	for _, s := range sels {
		if hb.Match(s, topic) {
			return true
		}
	}
	return false
}
