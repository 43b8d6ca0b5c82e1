package bolt

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

func codecSamples() []*hub.Update {
	return []*hub.Update{
		{ID: "a", Topics: []string{"t"}},
		{ID: "urn:uuid:1", Topics: []string{"https://example.com/books/1", "books"}, Type: "update",
			Data: "line1\nline2\r\n", Retry: 3 * time.Second, Private: true},
		{ID: strings.Repeat("x", 300), Topics: []string{""}, Data: strings.Repeat("é", 1000), Retry: -1},
		{ID: "no-topics"},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for i, u := range codecSamples() {
		rec := encodeUpdate(nil, u)
		setRecordTime(rec, 1234567890123)
		got, err := decodeUpdate(rec, uint64(i+1))
		if err != nil {
			t.Fatalf("sample %d: decode: %v", i, err)
		}
		want := *u
		want.Seq = uint64(i + 1)
		want.Time = time.Unix(0, 1234567890123)
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("sample %d: got %+v, want %+v", i, got, &want)
		}
		id, err := recordID(rec)
		if err != nil || string(id) != u.ID {
			t.Errorf("sample %d: recordID = %q, %v; want %q", i, id, err, u.ID)
		}
	}
}

func TestDecodeCorrupt(t *testing.T) {
	good := encodeUpdate(nil, codecSamples()[1])
	cases := map[string][]byte{
		"empty":         nil,
		"short header":  good[:5],
		"bad version":   append([]byte{2}, good[1:]...),
		"unknown flags": func() []byte { b := append([]byte(nil), good...); b[flagsOffset] = 0x80; return b }(),
		"truncated":     good[:len(good)-1],
		"trailing":      append(append([]byte(nil), good...), 0),
		"huge topics":   append(append([]byte(nil), good[:headerLen]...), 1, 'a', 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f),
		"bad varint":    append(append([]byte(nil), good[:headerLen]...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
	}
	for name, rec := range cases {
		if _, err := decodeUpdate(rec, 1); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
}

// FuzzDecodeUpdate checks that no input makes the decoder panic or allocate
// without bound, and that whatever decodes re-encodes to the same bytes.
func FuzzDecodeUpdate(f *testing.F) {
	for _, u := range codecSamples() {
		rec := encodeUpdate(nil, u)
		setRecordTime(rec, 42)
		f.Add(rec)
	}
	f.Add([]byte{recordV1})
	f.Fuzz(func(t *testing.T, rec []byte) {
		u, err := decodeUpdate(rec, 7)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again := encodeUpdate(nil, u)
		setRecordTime(again, u.Time.UnixNano())
		if string(again) != string(rec) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, rec)
		}
		if id, err := recordID(rec); err != nil || string(id) != u.ID {
			t.Fatalf("recordID = %q, %v; decode gave %q", id, err, u.ID)
		}
	})
}

func TestRecordLenIsExact(t *testing.T) {
	samples := append(codecSamples(),
		&hub.Update{ID: "r", Topics: []string{"t"}, Retry: 1<<63 - 1},
		&hub.Update{ID: "r", Topics: []string{"t"}, Retry: -1 << 63},
		&hub.Update{ID: strings.Repeat("i", 1<<14), Topics: make([]string, 200), Data: strings.Repeat("d", 1<<21)},
	)
	for i, u := range samples {
		rec := encodeUpdate(nil, u)
		if n := recordLen(u); n != len(rec) {
			t.Errorf("sample %d: recordLen = %d, record is %d bytes", i, n, len(rec))
		}
	}
}
