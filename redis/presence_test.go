package redis

import (
	"errors"
	"testing"
	"time"
)

// TestDecodeEntries: an entry is the server's time of the Join and the
// JSON; an entry of the JSON alone, as a node of an earlier version writes
// it, keeps its own Since, so that a rolling upgrade lists both; anything
// else is corrupt.
func TestDecodeEntries(t *testing.T) {
	es, err := decodeEntries([]string{
		`1700000000 250000 {"subscriber":"urn:a","topics":["t"],"node":"n1","since":"2000-01-01T00:00:00Z"}`,
		`{"subscriber":"urn:b","topics":["u"],"node":"n0","since":"2023-11-14T22:13:20Z"}`,
	})
	if err != nil || len(es) != 2 {
		t.Fatalf("decodeEntries = %+v, %v", es, err)
	}
	if es[0].Subscriber != "urn:a" || !es[0].Since.Equal(time.Unix(1700000000, 250000000)) {
		t.Errorf("entry with the server's time: %+v", es[0])
	}
	if es[1].Subscriber != "urn:b" || !es[1].Since.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("entry of an earlier version: %+v", es[1])
	}
	for _, bad := range []string{"", "1700000000 {}", "x 1 {}", "1 y {}", "1 2 {", "{"} {
		if _, err := decodeEntries([]string{bad}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decodeEntries(%q) = %v, want ErrCorrupt", bad, err)
		}
	}
}
