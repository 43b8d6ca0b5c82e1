package loadgen

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http/httputil"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ssehub/ssehub/sse"
)

// scanAll returns every data value the scanner yields from in, read
// through a buffer of size bytes.
func scanAll(t testing.TB, in io.Reader, size int) ([]string, error) {
	sc := newDataScanner(in, size)
	var got []string
	for {
		v, err := sc.next()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return got, err
		}
		got = append(got, string(v))
	}
}

func TestDataScanner(t *testing.T) {
	long := strings.Repeat("x", 100)
	in := ": comment\ndata: 1 2\r\nid: 7\ndata:3 4\n\nevent: e\ndata: " + long + "\ndata: 5 6\ndata\ndata: \n"
	for _, size := range []int{16, 64, 4096} {
		for name, r := range map[string]io.Reader{
			"whole":   strings.NewReader(in),
			"bytes":   iotest.OneByteReader(strings.NewReader(in)),
			"chunked": httputil.NewChunkedReader(strings.NewReader(chunk(in, 5))),
		} {
			got, err := scanAll(t, r, size)
			if err != nil {
				t.Fatalf("%s/%d: %v", name, size, err)
			}
			want := []string{"1 2", "3 4", long, "5 6", ""}
			if size < 100 {
				// Lines longer than the buffer are skipped whole.
				want = []string{"1 2", "3 4", "5 6", ""}
			}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("%s/%d: got %q, want %q", name, size, got, want)
			}
		}
	}
}

// chunk frames s in HTTP/1.1 chunks of n bytes.
func chunk(s string, n int) string {
	var b strings.Builder
	cw := httputil.NewChunkedWriter(&b)
	for len(s) > 0 {
		k := min(n, len(s))
		cw.Write([]byte(s[:k]))
		s = s[k:]
	}
	cw.Close()
	b.WriteString("\r\n")
	return b.String()
}

func TestParsePayload(t *testing.T) {
	for in, want := range map[string][2]int64{"1 2": {1, 2}, "9999999999999999999 1763700000000000000": {-8446744073709551617, 1763700000000000000}} {
		seq, ts, err := parsePayload([]byte(in))
		if err != nil || int64(seq) != want[0] || ts != want[1] {
			t.Errorf("parsePayload(%q) = %d %d %v", in, seq, ts, err)
		}
	}
	for _, in := range []string{"", " ", "1", "1 ", " 1", "a 1", "1 b", "1  2", "1 2 3", "99999999999999999999 1", "1 9999999999999999999"} {
		if _, _, err := parsePayload([]byte(in)); err == nil {
			t.Errorf("parsePayload(%q) accepted", in)
		}
	}
}

func TestSeqTracker(t *testing.T) {
	var s seqTracker
	for _, n := range []uint64{1, 2, 2, 5, 3, 3, 4, 9} {
		s.add(n)
	}
	// 6, 7, 8 never came: the caller counts them lost from unique.
	if s.unique != 6 || s.dup != 2 || s.ooo != 2 || s.max != 9 {
		t.Errorf("tracker = %+v", s)
	}
	for _, n := range []uint64{6, 7, 8} {
		if s.arrived(n) {
			t.Errorf("%d marked arrived", n)
		}
	}
}

// TestSeqTrackerAgainstSet checks the bitmap window against a plain set of
// every number seen, for random streams with reordering, repeats and gaps,
// and that a number too far behind counts as a duplicate.
func TestSeqTrackerAgainstSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var s seqTracker
		seen := map[uint64]bool{}
		var hi, unique, dup, ooo uint64
		next := uint64(1)
		for range 2000 {
			var n uint64
			switch r := rng.IntN(10); {
			case r < 6:
				n = next
			case r < 8: // a gap, sometimes wider than the window
				n = next + 1 + uint64(rng.IntN(3*seqWindow/2))
			default: // late or repeated, sometimes beyond the window
				n = uint64(max(1, int64(next)-1-int64(rng.IntN(seqWindow+200))))
			}
			next = max(next, n+1)
			s.add(n)
			switch {
			case n > hi:
				hi = n
				unique++
				seen[n] = true
			case seen[n] || hi-n >= seqWindow:
				dup++
			default:
				seen[n] = true
				ooo++
				unique++
			}
		}
		if s.max != hi || s.unique != unique || s.dup != dup || s.ooo != ooo {
			t.Fatalf("tracker max %d unique %d dup %d ooo %d, want %d %d %d %d", s.max, s.unique, s.dup, s.ooo, hi, unique, dup, ooo)
		}
	}
}

// FuzzDataScanner compares the scanner with a plain reading of its
// contract: every LF-terminated line starting with "data:" that fits the
// buffer yields its value (one CR before the LF and one space after the
// colon removed); nothing else does.
func FuzzDataScanner(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte, size uint8) {
		n := int(size)%200 + 1
		got, err := scanAll(t, iotest.HalfReader(bytes.NewReader(in)), n)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		lines := strings.Split(string(in), "\n")
		for _, l := range lines[:len(lines)-1] { // the last has no LF
			if len(l) >= n {
				continue
			}
			if v, ok := strings.CutPrefix(l, "data:"); ok {
				v = strings.TrimSuffix(v, "\r")
				want = append(want, strings.TrimPrefix(v, " "))
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("buffer %d: got %q, want %q", n, got, want)
		}
		for _, v := range got {
			parsePayload([]byte(v)) // must not panic
		}
	})
}

// The generator's scanner against the sse package's decoder, on the
// stream a fan-out subscriber reads.
func BenchmarkDataScanner(b *testing.B) {
	var stream []byte
	for range 1000 {
		stream, _ = sse.AppendEvent(stream, sse.Event{ID: "urn:uuid:0196a4c3-1f0e-7a1b-9c2d-000000000000", Data: "1234 1763700000000000000"})
	}
	b.Run("dataScanner", func(b *testing.B) {
		b.SetBytes(int64(len(stream)))
		b.ReportAllocs()
		for b.Loop() {
			sc := newDataScanner(bytes.NewReader(stream), subLineBuffer)
			n := 0
			for {
				v, err := sc.next()
				if err != nil {
					break
				}
				if _, _, err := parsePayload(v); err != nil {
					b.Fatal(err)
				}
				n++
			}
			if n != 1000 {
				b.Fatal(n)
			}
		}
	})
	b.Run("sse.Decoder", func(b *testing.B) {
		b.SetBytes(int64(len(stream)))
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			for _, err := range sse.NewDecoder(bytes.NewReader(stream)).Events() {
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			if n != 1000 {
				b.Fatal(n)
			}
		}
	})
}
