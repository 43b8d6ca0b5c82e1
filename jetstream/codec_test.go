package jetstream

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

func sameUpdate(a, b *hub.Update) bool {
	return a.ID == b.ID && slices.Equal(a.Topics, b.Topics) && a.Type == b.Type && a.Data == b.Data &&
		a.Retry == b.Retry && a.Private == b.Private && a.Seq == b.Seq && a.Time.Equal(b.Time)
}

var bodySamples = []*hub.Update{
	{ID: "a", Topics: []string{"t"}},
	{ID: "", Topics: []string{}},
	{ID: "x", Topics: []string{"", "a.b", "\xff\x00", "with\r\nCRLF"}, Type: "t\n", Data: "l1\nl2\r\n",
		Retry: -time.Second, Private: true},
	{ID: "urn:uuid:1", Topics: []string{"https://example.com/{id}"}, Retry: 1500 * time.Millisecond, Data: strings.Repeat("é", 300)},
}

func TestBodyRoundTrip(t *testing.T) {
	for _, u := range bodySamples {
		u.Seq = 42
		u.Time = time.Unix(1_763_700_000, 123_456_789)
		got, err := decodeBody(42, appendBody(nil, u, u.Time, false))
		if err != nil {
			t.Fatalf("decode %+v: %v", u, err)
		}
		if !sameUpdate(got, u) {
			t.Fatalf("round trip: got %+v, want %+v", got, u)
		}
	}
}

func TestDecodeBodyErrors(t *testing.T) {
	good := appendBody(nil, bodySamples[2], time.Unix(1, 0), true)
	for name, b := range map[string][]byte{
		"empty":          nil,
		"unknown format": append([]byte{9}, good[1:]...),
		"truncated":      good[:5],
		"bad varint":     {format1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"huge count":     {format1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"string too big": {format1, 0, 0, 0, 100, 'a'},
		"unknown flag":   {format1, 0, 4, 0, 0, 0, 0},
	} {
		if u, err := decodeBody(7, b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: decodeBody = %+v, %v; want ErrCorrupt", name, u, err)
		}
	}
}

// FuzzDecodeBody checks that any body either fails with ErrCorrupt or
// decodes to an update that encodes back to the same bytes.
func FuzzDecodeBody(f *testing.F) {
	for _, u := range bodySamples {
		f.Add(appendBody(nil, u, time.Unix(1_763_700_000, 5), u.Private))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		u, reused, err := decodeBodyFlags(1, b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, reused2, err := decodeBodyFlags(1, appendBody(nil, u, u.Time, reused))
		if err != nil || !sameUpdate(again, u) || reused2 != reused {
			t.Fatalf("re-encoding %+v (reused %v): %+v (%v), %v", u, reused, again, reused2, err)
		}
	})
}

// TestMsgID checks that distinct IDs get distinct Nats-Msg-Id values that
// survive a NATS header: printable ASCII, no edge spaces.
func TestMsgID(t *testing.T) {
	ids := []string{"a", "~a", " a", "a ", "é", "urn:uuid:1", "~" + "YQ", "a\tb", "", "\x7f"}
	seen := map[string]string{}
	for _, id := range ids {
		m := msgID(id)
		if other, ok := seen[m]; ok {
			t.Fatalf("msgID(%q) = msgID(%q) = %q", id, other, m)
		}
		seen[m] = id
		if m == "" || m[0] == ' ' || m[len(m)-1] == ' ' {
			t.Fatalf("msgID(%q) = %q: empty or space at an edge", id, m)
		}
		for _, c := range []byte(m) {
			if c < 0x20 || c >= 0x7f {
				t.Fatalf("msgID(%q) = %q: byte %#x", id, m, c)
			}
		}
	}
	if msgID("urn:uuid:1") != "urn:uuid:1" {
		t.Fatalf("a plain ID is not sent as it is: %q", msgID("urn:uuid:1"))
	}
}
