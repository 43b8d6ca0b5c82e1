package sse

import "unicode/utf8"

// appendUTF8 appends b to dst, replacing ill-formed UTF-8 the way the WHATWG
// Encoding Standard's UTF-8 decoder does: each maximal subpart of an
// ill-formed sequence becomes one U+FFFD. That differs from decoding rune by
// rune with utf8.DecodeRune, which replaces every byte of a truncated
// sequence ("\xF0\x9F\x98" is three U+FFFD there, one here), and from
// strings.ToValidUTF8, which replaces a whole run of bad bytes with one
// ("\xE0\x80" is one U+FFFD there, two here).
//
// Lines are decoded one at a time: CR and LF can never continue a multi-byte
// sequence, and the standard's decoder ends an incomplete sequence at them
// with one U+FFFD, exactly as it does at the end of the line here.
func appendUTF8(dst, b []byte) []byte {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		if r, size := utf8.DecodeRune(b[i:]); r != utf8.RuneError || size > 1 {
			dst = append(dst, b[i:i+size]...)
			i += size
			continue
		}
		// The bytes the standard accepts after each lead byte: the first
		// continuation byte has a narrower range after E0, ED, F0 and
		// F4, which excludes overlong forms, surrogates and values
		// beyond U+10FFFF.
		need, lo, hi := 0, byte(0x80), byte(0xBF)
		switch {
		case c >= 0xC2 && c <= 0xDF:
			need = 1
		case c == 0xE0:
			need, lo = 2, 0xA0
		case c == 0xED:
			need, hi = 2, 0x9F
		case c >= 0xE1 && c <= 0xEF:
			need = 2
		case c == 0xF0:
			need, lo = 3, 0x90
		case c == 0xF4:
			need, hi = 3, 0x8F
		case c >= 0xF1 && c <= 0xF3:
			need = 3
		}
		// DecodeRune rejected the sequence, so it stops short: the bytes
		// accepted so far are the maximal subpart, and the byte that
		// stopped it starts the next sequence.
		n := 1
		for ; need > 0 && i+n < len(b) && lo <= b[i+n] && b[i+n] <= hi; need-- {
			n++
			lo, hi = 0x80, 0xBF
		}
		dst = append(dst, "\uFFFD"...)
		i += n
	}
	return dst
}
