package sse

import (
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"
)

// decodeResult is everything a stream's decoding produces.
type decodeResult struct {
	events  []Event
	retries []time.Duration
	lastID  string
	tooBig  bool
}

func decodeWith(r io.Reader, max int) (decodeResult, error) {
	d := NewDecoder(r)
	d.MaxEventSize = max
	events, retries, err := decodeAll(d)
	res := decodeResult{events: events, retries: retries, lastID: d.LastEventID()}
	if errors.Is(err, ErrTooLarge) {
		res.tooBig, err = true, nil
	}
	return res, err
}

func FuzzDecode(f *testing.F) {
	for _, tt := range decodeTests(f) {
		f.Add([]byte(tt.in), uint16(0))
	}
	f.Add([]byte("data: 0123456789\n\n"), uint16(10))
	f.Fuzz(func(t *testing.T, in []byte, max uint16) {
		limit := int(max)
		whole, err := decodeWith(strings.NewReader(string(in)), limit)
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		if limit == 0 {
			limit = DefaultMaxEventSize
		}
		for _, e := range whole.events {
			for field, v := range map[string]string{"id": e.ID, "event": e.Type, "data": e.Data} {
				if !utf8.ValidString(v) {
					t.Fatalf("%s %q is not valid UTF-8", field, v)
				}
			}
			if e.Type == "" {
				t.Fatalf("empty type in %q", e)
			}
			if strings.ContainsAny(e.ID, "\r\n\x00") || strings.ContainsAny(e.Type, "\r\n") || strings.Contains(e.Data, "\r") {
				t.Fatalf("line break or NUL in %q", e)
			}
			if len(e.Data) > limit {
				t.Fatalf("data of %d bytes exceeds the limit %d", len(e.Data), limit)
			}
			if e.Retry != 0 {
				t.Fatalf("parsed event with Retry %v", e.Retry)
			}
		}
		// However the reads split the stream, the result is the same.
		split := []io.Reader{
			iotest.OneByteReader(strings.NewReader(string(in))),
			&chunkReader{s: string(in), rnd: rand.New(rand.NewPCG(uint64(len(in)), 1))},
		}
		for _, r := range split {
			got, err := decodeWith(r, int(max))
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !slices.Equal(got.events, whole.events) || !slices.Equal(got.retries, whole.retries) ||
				got.lastID != whole.lastID || got.tooBig != whole.tooBig {
				t.Fatalf("split reads:\n got %+v\nwant %+v", got, whole)
			}
		}
	})
}

// normalizeLines converts CRLF and CR to LF, as a parser reads line breaks
// in data.
func normalizeLines(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

func FuzzRoundTrip(f *testing.F) {
	f.Add("", "", "", uint32(0))
	f.Add("1", "add", "hello", uint32(1000))
	f.Add("é", "世界", "a\r\nb\rc\nd\n", uint32(0))
	f.Add("x", "", "\r\n\r\n", uint32(5))
	f.Add(" id ", " t ", " data ", uint32(0))
	f.Add("", "message", strings.Repeat("long line ", 1000), uint32(0))
	f.Add("\uFEFF", "\x00", "\uFFFD\x00", uint32(1))
	f.Fuzz(func(t *testing.T, id, typ, data string, retryMS uint32) {
		e := Event{ID: id, Type: typ, Data: data, Retry: time.Duration(retryMS) * time.Millisecond}
		b, err := AppendEvent(nil, e)
		invalid := strings.ContainsAny(id, "\r\n\x00") || strings.ContainsAny(typ, "\r\n")
		if invalid {
			if !errors.Is(err, ErrInvalidEvent) || len(b) != 0 {
				t.Fatalf("invalid event %q: err %v, wrote %q", e, err, b)
			}
			return
		}
		if err != nil {
			t.Fatalf("AppendEvent(%q): %v", e, err)
		}
		if slices.Contains(b, '\r') {
			t.Fatalf("CR on the wire: %q", b)
		}
		if !utf8.ValidString(id) || !utf8.ValidString(typ) || !utf8.ValidString(data) {
			return // the parser replaces what is not UTF-8: no round trip
		}
		want := Event{ID: id, Type: typ, Data: normalizeLines(data)}
		if want.Type == "" {
			want.Type = "message"
		}
		var wantRetries []time.Duration
		if retryMS > 0 {
			wantRetries = []time.Duration{e.Retry}
		}
		// Twice in a row, with a comment between, read whole and bytewise.
		stream := string(AppendComment(append(b, b...), "c"))
		for _, r := range []io.Reader{strings.NewReader(stream), iotest.OneByteReader(strings.NewReader(stream))} {
			d := NewDecoder(r)
			d.MaxEventSize = max(DefaultMaxEventSize, len(b))
			got, retries, err := decodeAll(d)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0] != want || got[1] != want {
				t.Fatalf("encoded %q\ndecoded %q\n   want %q", b, got, want)
			}
			if len(retries) != 2*len(wantRetries) || (len(retries) > 0 && retries[0] != e.Retry) {
				t.Fatalf("retries %v, want %v twice", retries, wantRetries)
			}
		}
	})
}
