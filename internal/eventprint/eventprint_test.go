package eventprint

import (
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
