package sse

import (
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// whatwgDecode is the UTF-8 decoder of the WHATWG Encoding Standard written
// out step by step (bytes needed, bytes seen, lower and upper boundary), as
// an independent reference for appendUTF8.
func whatwgDecode(b []byte) string {
	var out []rune
	var cp rune
	needed, seen := 0, 0
	lower, upper := byte(0x80), byte(0xBF)
	for i := 0; ; {
		if i == len(b) {
			if needed != 0 {
				out = append(out, utf8.RuneError)
			}
			return string(out)
		}
		c := b[i]
		i++
		if needed == 0 {
			switch {
			case c <= 0x7F:
				out = append(out, rune(c))
			case 0xC2 <= c && c <= 0xDF:
				needed, cp = 1, rune(c&0x1F)
			case 0xE0 <= c && c <= 0xEF:
				if c == 0xE0 {
					lower = 0xA0
				}
				if c == 0xED {
					upper = 0x9F
				}
				needed, cp = 2, rune(c&0xF)
			case 0xF0 <= c && c <= 0xF4:
				if c == 0xF0 {
					lower = 0x90
				}
				if c == 0xF4 {
					upper = 0x8F
				}
				needed, cp = 3, rune(c&0x7)
			default:
				out = append(out, utf8.RuneError)
			}
			continue
		}
		if c < lower || c > upper {
			cp, needed, seen = 0, 0, 0
			lower, upper = 0x80, 0xBF
			i-- // restore the byte to the stream
			out = append(out, utf8.RuneError)
			continue
		}
		lower, upper = 0x80, 0xBF
		cp = cp<<6 | rune(c&0x3F)
		seen++
		if seen == needed {
			out = append(out, cp)
			cp, needed, seen = 0, 0, 0
		}
	}
}

func TestAppendUTF8(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{"é€😀", "é€😀"},
		{"\xF0\x9F\x98A", "\uFFFDA"},
		{"\xF0\x9F\x98", "\uFFFD"},
		{"\xE0\x80", "\uFFFD\uFFFD"},
		{"\xE0\xA0", "\uFFFD"},
		{"\xED\xA0\x80", "\uFFFD\uFFFD\uFFFD"},
		{"\xED\x9F\xBF", "\uD7FF"},
		{"\xF4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"\xF4\x8F\xBF\xBF", "\U0010FFFF"},
		{"\xC0\x80", "\uFFFD\uFFFD"},
		{"\xC2", "\uFFFD"},
		{"\xC2\xC2\xA9", "\uFFFD©"},
		{"\xFF\xFE", "\uFFFD\uFFFD"},
		{"a\x80b", "a\uFFFDb"},
		{"\xE2\x82\xE2\x82\xAC", "\uFFFD€"},
		// Examples from Unicode's "U+FFFD Substitution of Maximal Subparts".
		{"\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64", "a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd"},
	}
	for _, tt := range tests {
		if got := string(appendUTF8(nil, []byte(tt.in))); got != tt.want {
			t.Errorf("appendUTF8(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if ref := whatwgDecode([]byte(tt.in)); ref != tt.want {
			t.Errorf("reference decoder(%q) = %q, want %q: bad test case", tt.in, ref, tt.want)
		}
	}
}

func TestAppendUTF8MatchesReference(t *testing.T) {
	// Random strings over the bytes that matter: ASCII, every lead byte
	// range, continuation bytes and the boundary bytes.
	alphabet := []byte{'a', 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
		0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		b := make([]byte, rnd.IntN(8))
		for i := range b {
			b[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		got := string(appendUTF8(nil, b))
		if want := whatwgDecode(b); got != want {
			t.Fatalf("appendUTF8(%q) = %q, want %q", b, got, want)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("appendUTF8(%q) = %q is not valid UTF-8", b, got)
		}
	}
}

func FuzzAppendUTF8(f *testing.F) {
	f.Add([]byte("\xF0\x9F\x98A\xE0\x80"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got := string(appendUTF8(nil, b))
		if want := whatwgDecode(b); got != want {
			t.Fatalf("appendUTF8(%q) = %q, want %q", b, got, want)
		}
		if utf8.Valid(b) && got != string(b) {
			t.Fatalf("valid input %q changed to %q", b, got)
		}
	})
}
