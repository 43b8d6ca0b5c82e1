package mercure

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub"
)

// fuzzHandler returns a Handler on a real hub and in-memory log, for fuzz
// targets that call ServeHTTP directly.
func fuzzHandler(f *testing.F, opts Options) (*Handler, *hub.Hub) {
	log := hub.NewMemoryLog(hub.MemoryLogOptions{MaxLen: 1000})
	hb, err := hub.New(hub.Options{Log: log, Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		hb.Close(context.Background())
		log.Close()
	})
	opts.Hub, opts.PublisherKey, opts.SubscriberKey, opts.Logger = hb, testHMACKey, testHMACKey, quietLogger()
	h, err := New(opts)
	if err != nil {
		f.Fatal(err)
	}
	return h, hb
}

// FuzzPublishForm posts arbitrary bodies: every answer is 200 with the
// update's ID, or a 4xx whose message starts with the field at fault.
func FuzzPublishForm(f *testing.F) {
	for _, s := range []string{
		"topic=https%3A%2F%2Fexample.com%2Fbooks%2F1&data=%7B%22a%22%3A1%7D",
		"topic=a&topic=b&id=urn%3Auuid%3A1&type=t&retry=100&private=on",
		"topic=a&id=%23x",
		"topic=a&id=a%0Ab",
		"topic=a&type=a%0Db",
		"topic=a&retry=-1",
		"topic=a&retry=99999999999999999999",
		"topic=%zz",
		"data=no+topic",
		"topic=&data=x",
		"topic=a;b",
		"topic=a&data=" + strings.Repeat("x", 5000),
		"",
	} {
		f.Add(s)
	}
	h, _ := fuzzHandler(f, Options{MaxBodyBytes: 4096, MaxTopics: 5})
	tok := "Bearer " + hmacPair().mint(f, pubClaims("*"), nil)
	fields := []string{"topic", "id", "type", "retry", "body", "Content-Type"}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", Path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got := w.Body.String()
		switch w.Code {
		case http.StatusOK:
			form, err := url.ParseQuery(body)
			if err != nil || len(form["topic"]) == 0 {
				t.Fatalf("accepted %q (%v)", body, err)
			}
			if id := form.Get("id"); id != "" && got != id {
				t.Fatalf("publisher's id %q answered as %q", id, got)
			}
			if got == "" {
				t.Fatal("200 without an ID")
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			for _, f := range fields {
				if strings.HasPrefix(got, f+":") {
					return
				}
			}
			t.Fatalf("%d %q names no field", w.Code, got)
		default:
			t.Fatalf("status %d %q for %q", w.Code, got, body)
		}
	})
}

// cancelOnHeader cancels the request's context once the status is written,
// so a subscribe handler returns as soon as its stream is open.
type cancelOnHeader struct {
	*httptest.ResponseRecorder
	cancel context.CancelFunc
}

func (w *cancelOnHeader) WriteHeader(code int) {
	w.ResponseRecorder.WriteHeader(code)
	w.cancel()
}

// FuzzLastEventID subscribes with arbitrary Last-Event-ID headers and
// lastEventID query parameters: the answer is a stream whose Last-Event-ID
// response header is the requested ID when the log holds it and "earliest"
// otherwise, or a 400 naming the offending parameter.
func FuzzLastEventID(f *testing.F) {
	for _, s := range [][2]string{
		{"a", ""}, {"", "b"}, {"a", "b"}, {"", "earliest"}, {"nope", ""},
		{"a\nb", ""}, {"", "a\x00"}, {"", strings.Repeat("x", 2000)}, {"", ""},
	} {
		f.Add(s[0], s[1])
	}
	h, hb := fuzzHandler(f, Options{Anonymous: true})
	for _, id := range []string{"a", "b"} {
		if _, err := hb.Publish(context.Background(), &hub.Update{ID: id, Topics: []string{"t"}}); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, header, query string) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		r := httptest.NewRequestWithContext(ctx, "GET", Path+"?topic=t&"+url.Values{"lastEventID": {query}}.Encode(), nil)
		if header != "" {
			r.Header["Last-Event-Id"] = []string{header}
		}
		w := &cancelOnHeader{ResponseRecorder: httptest.NewRecorder(), cancel: cancel}
		h.ServeHTTP(w, r)
		want := header
		if want == "" {
			want = query
		}
		switch w.Code {
		case http.StatusOK:
			got := w.Header().Get("Last-Event-ID")
			switch want {
			case "":
				if got != "b" && got != "earliest" {
					t.Fatalf("live subscription: Last-Event-ID %q", got)
				}
			case "a", "b", "earliest":
				if got != want {
					t.Fatalf("requested %q, Last-Event-ID %q", want, got)
				}
			default:
				if got != "earliest" {
					t.Fatalf("unknown %q, Last-Event-ID %q", want, got)
				}
			}
		case http.StatusBadRequest:
			if !strings.HasPrefix(w.Body.String(), "Last-Event-ID:") && !strings.HasPrefix(w.Body.String(), "lastEventID:") {
				t.Fatalf("400 %q names no field", w.Body.String())
			}
			if !strings.ContainsAny(want, "\r\n\x00") && len(want) <= maxLastEventIDLen {
				t.Fatalf("rejected %q: %q", want, w.Body.String())
			}
		default:
			t.Fatalf("status %d %q", w.Code, w.Body.String())
		}
	})
}
