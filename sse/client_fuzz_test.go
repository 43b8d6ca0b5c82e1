package sse

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
)

// roundTripFunc serves requests without a network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// errCut stands for a connection broken mid-stream.
var errCut = errors.New("connection cut")

// chunked returns body in reads of at most n bytes, then fails with errCut
// if cut.
func chunked(body []byte, n int, cut bool) io.Reader {
	var r io.Reader = strings.NewReader(string(body))
	if cut {
		r = io.MultiReader(r, iotest.ErrReader(errCut))
	}
	return &limitedReads{r: r, n: max(n, 1)}
}

type limitedReads struct {
	r io.Reader
	n int
}

func (l *limitedReads) Read(p []byte) (int, error) { return l.r.Read(p[:min(len(p), l.n)]) }

// FuzzClientCompletion runs a POST stream through the Client with a
// completion rule and an error type, and checks the outcome against the
// Decoder read alone: the events before the first completing or error event
// are yielded, then the iteration ends cleanly at a completing event, with an
// *EventError at an error event, and otherwise with ErrIncomplete wrapping
// the stream's end (without a rule: cleanly, unless the body ended inside an
// event); a completing or error event is never yielded.
func FuzzClientCompletion(f *testing.F) {
	f.Add([]byte("data: {\"a\":1}\n\ndata: [DONE]\n\n"), "[DONE]", false, "error", false, uint8(0))
	f.Add([]byte("data:[DONE]\r\r"), "[DONE]", false, "", false, uint8(1))
	f.Add([]byte("data: x\n\nevent: error\ndata: {\"error\":{}}\n\ndata: [DONE]\n\n"), "[DONE]", false, "error", false, uint8(3))
	f.Add([]byte("event: message_start\ndata: {}\n\nevent: message_stop\ndata: {}\n\n"), "message_stop", true, "error", false, uint8(7))
	f.Add([]byte("data: a\n\ndata: [DO"), "[DONE]", false, "error", true, uint8(2))
	f.Add([]byte("data: a\r\n\r\n"), "", false, "", false, uint8(0))
	f.Fuzz(func(t *testing.T, body []byte, done string, byType bool, errType string, cut bool, chunk uint8) {
		c := &Client{
			HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				return &http.Response{
					StatusCode: 200,
					Status:     "200 OK",
					Header:     http.Header{"Content-Type": {"text/event-stream"}},
					Body:       io.NopCloser(chunked(body, int(chunk), cut)),
					Request:    r,
				}, nil
			})},
			MaxEventSize: 1 << 10,
			ErrorType:    errType,
		}
		if byType {
			c.DoneType = done
		} else {
			c.DoneData = done
		}
		rule := done != ""

		// What the Decoder alone makes of the same bytes.
		d := NewDecoder(chunked(body, 4096, cut))
		d.MaxEventSize = c.MaxEventSize
		var want []Event
		var wantEnd error // nil: complete, or a clean end without a rule
		var wantEvent *Event
		for {
			e, err := d.Next()
			if err == io.EOF {
				if rule || d.cutMidEvent {
					wantEnd = ErrDisconnected
				}
				break
			}
			if err != nil {
				wantEnd = err
				if errors.Is(err, ErrTooLarge) {
					wantEnd = ErrTooLarge // a value of its own each time
				}
				break
			}
			if errType != "" && e.Type == errType {
				wantEvent = &e
				wantEnd = ErrErrorEvent
				break
			}
			if (byType && rule && e.Type == done) || (!byType && rule && e.Data == done) {
				break
			}
			want = append(want, e)
		}

		req, err := http.NewRequest("POST", "http://llm.test/v1/chat/completions", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		var got []Event
		var end error
		for e, err := range c.Events(context.Background(), req) {
			if err != nil {
				end = err
				break
			}
			got = append(got, e)
		}
		if len(got) != len(want) {
			t.Fatalf("%d events, want %d: %q, err %v", len(got), len(want), got, end)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("event %d = %+v, want %+v", i, got[i], want[i])
			}
		}
		switch {
		case wantEnd == nil:
			if end != nil {
				t.Fatalf("err %v, want a clean end", end)
			}
		case !errors.Is(end, wantEnd):
			t.Fatalf("err %v, want %v", end, wantEnd)
		case rule != errors.Is(end, ErrIncomplete):
			t.Fatalf("err %v: ErrIncomplete must be wrapped exactly when there is a completion rule", end)
		}
		if wantEvent != nil {
			var ee *EventError
			if !errors.As(end, &ee) || ee.Event != *wantEvent {
				t.Fatalf("err %v, want an *EventError with %+v", end, *wantEvent)
			}
		}
	})
}
