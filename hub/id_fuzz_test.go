package hub_test

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/sse"
)

// FuzzValidateID checks the ID rule against what it promises (issue 19,
// item 3): an ID it accepts comes back byte for byte through the SSE id
// field and then through a Last-Event-ID request header, as a resuming
// subscriber makes it travel; and it never accepts an ID longer than
// hub.MaxIDLen.
func FuzzValidateID(f *testing.F) {
	for _, s := range []string{"", "x", "urn:uuid:0190d0c4-3f7e-7a1b-9c2d-4e5f60718293", "a b", "ü日本\u2028", " x", "x ", "a\tb", "\x1b[31m", "a\x7f", "a\u0085", "a\xff", "#x", "earliest"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if hub.ValidateID(id) != nil || id == "" {
			return
		}
		if len(id) > hub.MaxIDLen || !utf8.ValidString(id) {
			t.Fatalf("accepted %q", id)
		}
		ev, err := sse.AppendEvent(nil, sse.Event{ID: id, Data: "x"})
		if err != nil {
			t.Fatalf("accepted %q, which the encoder refuses: %v", id, err)
		}
		var got string
		for e, err := range sse.Events(bytes.NewReader(ev)) {
			if err != nil {
				t.Fatal(err)
			}
			got = e.ID
		}
		if got != id {
			t.Fatalf("id field gave %q back for %q", got, id)
		}
		// Through a request header, as net/http's server reads one.
		req := "GET / HTTP/1.1\r\nHost: x\r\nLast-Event-ID: " + got + "\r\n\r\n"
		r, err := http.ReadRequest(newReader(req))
		if err != nil {
			t.Fatalf("a request carrying %q: %v", id, err)
		}
		if back := r.Header.Get(textproto.CanonicalMIMEHeaderKey("Last-Event-ID")); back != id {
			t.Fatalf("Last-Event-ID header gave %q back for %q", back, id)
		}
	})
}

func newReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }
