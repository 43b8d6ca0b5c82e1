package eventprint

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// Each format prints the same event and retry as documented, in one Write
// per call.
func TestFormats(t *testing.T) {
	ev := sse.Event{Type: "note", ID: "7", Data: "a <b>\n\x1b]0;title\x07\tc\u0085"}
	for _, tt := range []struct {
		f    Format
		want []string // one per Write
	}{
		{Text, []string{"event: note  id: 7\n  a <b>\n  \\x1b]0;title\\x07\tc\\u0085\n\n", "retry: 1500 ms\n\n"}},
		{JSON, []string{`{"type":"note","data":"a <b>\n\u001b]0;title\u0007\tc` + "\u0085" + `","id":"7"}` + "\n", `{"retry":1500}` + "\n"}},
		{Data, []string{ev.Data + "\n"}},
	} {
		var w writes
		p := New(&w, tt.f)
		if err := p.Event(ev); err != nil {
			t.Fatal(err)
		}
		if err := p.Retry(1500 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if strings.Join(w, "|") != strings.Join(tt.want, "|") {
			t.Errorf("format %d: wrote %q, want %q", tt.f, w, tt.want)
		}
	}
}

// writes records each Write.
type writes []string

func (w *writes) Write(p []byte) (int, error) {
	*w = append(*w, string(p))
	return len(p), nil
}

// Decode prints a stream's events and retry fields in order; a write error
// stops it as a *WriteError, a read error comes back as the decoder's.
func TestDecode(t *testing.T) {
	const stream = "retry: 1500\n\ndata: a\n\nid: 2\ndata: b\n\n"
	var w writes
	if err := New(&w, JSON).Decode(sse.NewDecoder(strings.NewReader(stream))); err != nil {
		t.Fatal(err)
	}
	want := []string{`{"retry":1500}` + "\n", `{"type":"message","data":"a","id":""}` + "\n", `{"type":"message","data":"b","id":"2"}` + "\n"}
	if strings.Join(w, "|") != strings.Join(want, "|") {
		t.Errorf("wrote %q, want %q", w, want)
	}

	broken := errors.New("broken pipe")
	err := New(failWriter{broken}, Text).Decode(sse.NewDecoder(strings.NewReader(stream)))
	if we, ok := errors.AsType[*WriteError](err); !ok || !errors.Is(err, broken) || we.Error() != "writing output: broken pipe" {
		t.Errorf("write failure: %v, want a *WriteError wrapping it", err)
	}

	d := sse.NewDecoder(strings.NewReader("data: " + strings.Repeat("x", 100) + "\n\n"))
	d.MaxEventSize = 10
	if err := New(&w, Text).Decode(d); !errors.Is(err, sse.ErrTooLarge) || errors.As(err, new(*WriteError)) {
		t.Errorf("oversized event: %v, want sse.ErrTooLarge as the decoder's", err)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }
