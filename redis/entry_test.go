package redis

import (
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// entryValues returns the field values the append script stores for u, as
// go-redis reports them when reading the entry back.
func entryValues(u *hub.Update) map[string]any {
	m := map[string]any{fieldTime: strconv.FormatInt(u.Time.UnixMicro(), 10)}
	f := appendFields(nil, u)
	for i := 0; i < len(f); i += 2 {
		switch v := f[i+1].(type) {
		case string:
			m[f[i].(string)] = v
		case []byte:
			m[f[i].(string)] = string(v)
		}
	}
	return m
}

func TestEntryRoundTrip(t *testing.T) {
	for _, u := range []*hub.Update{
		{ID: "a", Topics: []string{"t"}},
		{ID: "", Topics: nil},
		{ID: "x", Topics: []string{"", "3:", "a:b", "\xff\x00"}, Type: "t", Data: "l1\nl2\r\n",
			Retry: -time.Second, Private: true},
		{ID: "urn:uuid:1", Topics: []string{"https://example.com/{id}"}, Retry: 1500 * time.Millisecond},
	} {
		u.Seq = 42
		u.Time = time.UnixMicro(1_763_700_000_123_456)
		got, err := decodeEntry(entryID(u.Seq), entryValues(u))
		if err != nil {
			t.Fatalf("decode %+v: %v", u, err)
		}
		if !sameUpdate(got, u) {
			t.Fatalf("round trip: got %+v, want %+v", got, u)
		}
	}
}

func sameUpdate(a, b *hub.Update) bool {
	return a.ID == b.ID && slices.Equal(a.Topics, b.Topics) && a.Type == b.Type && a.Data == b.Data &&
		a.Retry == b.Retry && a.Private == b.Private && a.Seq == b.Seq && a.Time.Equal(b.Time)
}

func TestDecodeEntryErrors(t *testing.T) {
	ok := map[string]any{fieldTime: "1", fieldID: "a"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{fieldTime: "1", fieldID: "a"}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		id     string
		values map[string]any
		field  string
	}{
		{"1", ok, "entry ID"},
		{"1-1", ok, "entry ID"},
		{"0-0", ok, "entry ID"},
		{"x-0", ok, "entry ID"},
		{"1-0", with(fieldTime, nil), `"t"`},
		{"1-0", with(fieldTime, "soon"), `"t"`},
		{"1-0", with(fieldTime, int64(1)), `"t"`},
		{"1-0", with(fieldID, nil), `"id"`},
		{"1-0", with(fieldTopics, "5:ab"), `"topics"`},
		{"1-0", with(fieldTopics, "ab"), `"topics"`},
		{"1-0", with(fieldTopics, "01:a"), `"topics"`},
		{"1-0", with(fieldRetry, "1s"), `"retry"`},
		{"1-0", with(fieldPrivate, "true"), `"private"`},
	} {
		_, err := decodeEntry(tc.id, tc.values)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("decodeEntry(%q, %v) = %v; want ErrCorrupt naming %s", tc.id, tc.values, err, tc.field)
		}
	}
}

// FuzzDecodeEntry feeds arbitrary field values to the decoder. present
// selects which optional fields exist. Whatever decodes must encode back to
// the same update.
func FuzzDecodeEntry(f *testing.F) {
	f.Add("1-0", "1763700000123456", "id1", "1:t", "", "data", "", "", uint8(0xff))
	f.Add("18446744073709551615-0", "0", "", "3:abc0:", "evt", "a\nb", "2500000000", "1", uint8(0xff))
	f.Add("7-0", "-1", "x", "2:a", "", "", "x", "0", uint8(0x0f))
	f.Fuzz(func(t *testing.T, id, tm, uid, topics, typ, data, retry, private string, present uint8) {
		values := map[string]any{}
		for i, kv := range [][2]string{
			{fieldTime, tm}, {fieldID, uid}, {fieldTopics, topics}, {fieldType, typ},
			{fieldData, data}, {fieldRetry, retry}, {fieldPrivate, private},
		} {
			if present&(1<<i) != 0 {
				values[kv[0]] = kv[1]
			}
		}
		u, err := decodeEntry(id, values)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := decodeEntry(entryID(u.Seq), entryValues(u))
		if err != nil {
			t.Fatalf("re-decoding %+v: %v", u, err)
		}
		if !sameUpdate(again, u) {
			t.Fatalf("round trip changed %+v into %+v", u, again)
		}
	})
}

// FuzzTopics checks that the topics encoding keeps any list of strings and
// that the decoder accepts only what the encoder writes.
func FuzzTopics(f *testing.F) {
	f.Add("1:a0:", "")
	f.Add("", "a\x00b\x00")
	f.Add("10:0123456789", "ü\x00{")
	f.Fuzz(func(t *testing.T, encoded, joined string) {
		if got, err := parseTopics(encoded); err == nil {
			if re := string(appendTopics(nil, got)); re != encoded {
				t.Fatalf("parseTopics(%q) = %q, which encodes as %q", encoded, got, re)
			}
		}
		var topics []string
		if joined != "" {
			topics = strings.Split(joined, "\x00")
		}
		got, err := parseTopics(string(appendTopics(nil, topics)))
		if err != nil || !reflect.DeepEqual(got, topics) {
			t.Fatalf("topics %q came back as %q, %v", topics, got, err)
		}
	})
}
