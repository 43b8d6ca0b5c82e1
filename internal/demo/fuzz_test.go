package demo

import (
	"bytes"
	"testing"
)

func FuzzParseID(f *testing.F) {
	for _, s := range []string{"urn:ssehub:demo:1", "urn:ssehub:demo:18446744073709551615", "urn:ssehub:demo:0",
		"urn:ssehub:demo:+1", "urn:ssehub:demo:007", "urn:uuid:01a1fcb3-7251-7d5b-882c-af2549683506", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		n, ok := ParseID(id)
		if !ok {
			return
		}
		if n == 0 {
			t.Fatalf("ParseID(%q) = 0, true", id)
		}
		// Leading zeros are the only other spelling of a seq.
		if back, ok := ParseID(ID(n)); !ok || back != n {
			t.Fatalf("ParseID(ID(%d)) = %d, %v", n, back, ok)
		}
	})
}

// FuzzIDScanner feeds a stream in two writes split anywhere: the scanner
// must find what it finds in one write, and never panic.
func FuzzIDScanner(f *testing.F) {
	f.Add([]byte("id: urn:ssehub:demo:4\ndata: {}\n\nid: other\ndata: x\n\n"), "other", 7)
	f.Add([]byte("id: urn:ssehub:demo:9\r\nid: urn:ssehub:demo:3\n: comment\nid:urn:ssehub:demo:99\n"), "urn:ssehub:demo:3", 30)
	f.Add([]byte("\n\n\nid: \nid: x"), "x", 0)
	f.Fuzz(func(t *testing.T, stream []byte, stop string, split int) {
		scan := func(parts ...[]byte) *idScanner {
			calls := 0
			s := &idScanner{stop: stop, done: func() { calls++ }}
			for _, p := range parts {
				if n, err := s.Write(p); n != len(p) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if calls > 1 || (calls == 1) != s.found {
				t.Fatalf("done called %d times, found %v", calls, s.found)
			}
			return s
		}
		whole := scan(bytes.Clone(stream))
		if len(stream) > 0 {
			split = ((split % len(stream)) + len(stream)) % len(stream)
		} else {
			split = 0
		}
		parts := scan(bytes.Clone(stream[:split]), bytes.Clone(stream[split:]))
		if whole.max != parts.max || whole.found != parts.found {
			t.Fatalf("one write: max %d found %v; split at %d: max %d found %v", whole.max, whole.found, split, parts.max, parts.found)
		}
	})
}
