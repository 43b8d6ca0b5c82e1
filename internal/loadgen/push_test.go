package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http/httputil"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// oversizedMark stands for an oversized data value in the tests' lists.
const oversizedMark = "\x00oversized"

// collect is a dataSink listing what it receives.
type collect struct{ vals []string }

func (c *collect) data(v []byte) { c.vals = append(c.vals, string(v)) }

func (c *collect) oversized() { c.vals = append(c.vals, oversizedMark) }

// pushAll feeds body to a parser in the given pieces, then ends it as a
// server closing the connection would, and returns the values and the
// error that ended the body.
func pushAll(f bodyFraming, n uint64, pieces [][]byte) ([]string, error) {
	p := newPushParser(f, n)
	var c collect
	for _, b := range pieces {
		if err := p.feed(b, &c); err != nil {
			return c.vals, err
		}
	}
	return c.vals, p.eof()
}

// splitRandom cuts b into pieces at random points, often single bytes.
func splitRandom(rng *rand.Rand, b []byte) [][]byte {
	var pieces [][]byte
	for len(b) > 0 {
		n := 1 + rng.IntN(min(len(b), 1+rng.IntN(64)))
		pieces = append(pieces, b[:n])
		b = b[n:]
	}
	return pieces
}

// randomStream returns an event stream of valid SSE with LF or CRLF line
// ends (what dataScanner reads) and lines shorter than its buffer.
func randomStream(rng *rand.Rand) string {
	var b strings.Builder
	eol := func() {
		if rng.IntN(2) == 0 {
			b.WriteString("\r\n")
		} else {
			b.WriteString("\n")
		}
	}
	for range rng.IntN(40) {
		for range 1 + rng.IntN(4) {
			switch rng.IntN(9) {
			case 0:
				b.WriteString(": comment " + strconv.Itoa(rng.IntN(1000)))
			case 1:
				b.WriteString("id: urn:uuid:0196a4c3-1f0e-7a1b-9c2d-" + strconv.Itoa(rng.IntN(1e6)))
			case 2:
				b.WriteString("event: update")
			case 3:
				b.WriteString("retry: 1000")
			case 4:
				b.WriteString("data:" + strings.Repeat("y", rng.IntN(3*maxDataValue))) // oversized at times
			case 5:
				b.WriteString("data") // no colon: not a data field to either reader
			case 6:
				b.WriteString("dat: x")
			default:
				sp := []string{"", " ", "  "}[rng.IntN(3)]
				fmt.Fprintf(&b, "data:%s%d %d", sp, rng.Uint64N(1e6), rng.Int64N(1<<62))
			}
			eol()
		}
		eol()
	}
	return b.String()
}

// chunkRandom frames s in chunks of random sizes, some with extensions,
// ending with trailers at times.
func chunkRandom(rng *rand.Rand, s string) string {
	var b strings.Builder
	for len(s) > 0 {
		n := 1 + rng.IntN(min(len(s), 300))
		ext := ""
		if rng.IntN(4) == 0 {
			ext = ";name=\"v\""
		}
		fmt.Fprintf(&b, "%x%s\r\n%s\r\n", n, ext, s[:n])
		s = s[n:]
	}
	b.WriteString("0\r\n")
	if rng.IntN(2) == 0 {
		b.WriteString("X-Trailer: yes\r\nX-Other: 1\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// pullAll is what the goroutine reader's dataScanner yields from body,
// oversized values marked as the push parser reports them.
func pullAll(t *testing.T, body io.Reader) []string {
	t.Helper()
	got, err := scanAll(t, body, subLineBuffer)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if len(v) > maxDataValue {
			got[i] = oversizedMark
		}
	}
	return got
}

// TestPushParserMatchesScanner checks the push parser against the
// goroutine reader's scanner on random streams, framed plain, chunked or
// by length, delivered in random pieces.
func TestPushParserMatchesScanner(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		stream := randomStream(rng)
		want := pullAll(t, strings.NewReader(stream))
		var (
			f    bodyFraming
			n    uint64
			body string
		)
		switch i % 3 {
		case 0:
			f, body = framingClose, stream
		case 1:
			f, body = framingChunked, chunkRandom(rng, stream)
			if got := pullAll(t, httputil.NewChunkedReader(strings.NewReader(body))); !slices.Equal(got, want) {
				t.Fatalf("the chunked framing of the test is broken")
			}
		case 2:
			f, n, body = framingLength, uint64(len(stream)), stream
		}
		got, err := pushAll(f, n, splitRandom(rng, []byte(body)))
		if err != io.EOF {
			t.Fatalf("stream %d (framing %d): ended with %v, want io.EOF", i, f, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("stream %d (framing %d) %q:\npush %q\npull %q", i, f, body, got, want)
		}
	}
}

// TestPushParserLineEnds checks that CR alone ends a line too, and that a
// CRLF split across reads is one line end.
func TestPushParserLineEnds(t *testing.T) {
	for _, tc := range []struct {
		pieces []string
		want   []string
	}{
		{[]string{"data: 1 2\r", "\ndata: 3 4\r\n"}, []string{"1 2", "3 4"}},
		{[]string{"data: 1 2\r", "data: 3 4\r"}, []string{"1 2", "3 4"}},
		{[]string{"data: 1", " 2\r", "\r\n", "data: 3 4\n"}, []string{"1 2", "3 4"}},
		{[]string{"data: 1 2\r\r\ndata: 3 4\n"}, []string{"1 2", "3 4"}},
		{[]string{"da", "ta", ":", " ", "5 6", "\n"}, []string{"5 6"}},
		{[]string{"data:", "  7 8\n"}, []string{" 7 8"}},
		{[]string{"data:\n", "data\n", "data \n", "id: data: 9\n"}, []string{""}},
		{[]string{"data: partial"}, nil}, // no line end: the event never completed
		{[]string{"event: x\r", "\n", "\r", "\n", "\rdata: 1 2\n"}, []string{"1 2"}},
	} {
		var pieces [][]byte
		for _, p := range tc.pieces {
			pieces = append(pieces, []byte(p))
		}
		got, err := pushAll(framingClose, 0, pieces)
		if err != io.EOF || !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %q, %v; want %q", tc.pieces, got, err, tc.want)
		}
	}
}

func TestPushParserOversized(t *testing.T) {
	long := strings.Repeat("9", maxDataValue+1)
	for _, pieces := range [][]string{
		{"data: " + long + "\ndata: 1 2\n"},
		{"data: " + long[:10], long[10:100], long[100:] + "\n", "data: 1 2\n"},
		{"data: " + long[:maxDataValue-1], long[maxDataValue-1:], "\r\ndata: 1 2\r\n"},
	} {
		var b [][]byte
		for _, p := range pieces {
			b = append(b, []byte(p))
		}
		got, err := pushAll(framingClose, 0, b)
		if want := []string{oversizedMark, "1 2"}; err != io.EOF || !slices.Equal(got, want) {
			t.Errorf("got %q, %v; want %q", got, err, want)
		}
	}
	// A value of exactly maxDataValue bytes is delivered, split or not.
	exact := strings.Repeat("7", maxDataValue)
	for _, pieces := range [][][]byte{{[]byte("data:" + exact + "\n")}, {[]byte("data:" + exact[:5]), []byte(exact[5:] + "\n")}} {
		if got, _ := pushAll(framingClose, 0, pieces); !slices.Equal(got, []string{exact}) {
			t.Errorf("%d-byte value: got %q", maxDataValue, got)
		}
	}
}

// TestPushParserChunked covers the framing's corners: extensions,
// trailers, bodies cut short and framing errors.
func TestPushParserChunked(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
		err        error // errors.Is
	}{
		{"extensions", "5;a=b;c\r\ndata:\r\n6 ; x\r\n 1 2\n\n\r\n0\r\n\r\n", []string{"1 2"}, io.EOF},
		{"trailers", "a\r\ndata: 1 2\n\r\n0\r\nX-A: 1\r\nX-B: 2\r\n\r\nafter the body", []string{"1 2"}, io.EOF},
		{"bare LF lines", "a\ndata: 1 2\n\r\n0\n\n", []string{"1 2"}, io.EOF},
		{"upper hex", "A\r\ndata: 1 2\n\r\n0\r\n\r\n", []string{"1 2"}, io.EOF},
		{"closed mid-chunk", "20\r\ndata: 1 2\ndata: 3", []string{"1 2"}, io.ErrUnexpectedEOF},
		{"closed between chunks", "a\r\ndata: 1 2\n\r\n", []string{"1 2"}, io.ErrUnexpectedEOF},
		{"closed in the size", "a\r\ndata: 1 2\n\r\n1", []string{"1 2"}, io.ErrUnexpectedEOF},
		{"closed in the trailer", "0\r\nX-A: 1\r\n", nil, io.ErrUnexpectedEOF},
		{"no size", "\r\ndata: 1 2\n", nil, errChunked},
		{"bad size", "g\r\n", nil, errChunked},
		{"size then junk", "5x\r\n", nil, errChunked},
		{"huge size", "10000000000000000\r\n", nil, errChunked},
		{"no CRLF after data", "a\r\ndata: 1 2\nXX", []string{"1 2"}, errChunked},
		{"LF alone after data", "a\r\ndata: 1 2\n\n", []string{"1 2"}, errChunked},
		{"CR then junk", "a\rX", nil, errChunked},
		{"trailer CR then junk", "0\r\n\rX", nil, errChunked},
		{"long extension", "1;" + strings.Repeat("e", maxChunkLine+1) + "\r\n", nil, errChunked},
	} {
		for _, whole := range []bool{true, false} {
			pieces := [][]byte{[]byte(tc.body)}
			if !whole {
				pieces = splitRandom(rand.New(rand.NewPCG(3, uint64(len(tc.body)))), []byte(tc.body))
			}
			got, err := pushAll(framingChunked, 0, pieces)
			if !errors.Is(err, tc.err) || !slices.Equal(got, tc.want) {
				t.Errorf("%s (whole %v): got %q, %v; want %q, %v", tc.name, whole, got, err, tc.want, tc.err)
			}
			if errors.Is(tc.err, errChunked) && !strings.Contains(err.Error(), "chunk") {
				t.Errorf("%s: unclear error %q", tc.name, err)
			}
		}
	}
}

func TestPushParserLength(t *testing.T) {
	body := "data: 1 2\ndata: 3 4\nbeyond the body\n"
	n := uint64(len("data: 1 2\ndata: 3 4\n"))
	got, err := pushAll(framingLength, n, [][]byte{[]byte(body[:4]), []byte(body[4:])})
	if err != io.EOF || !slices.Equal(got, []string{"1 2", "3 4"}) {
		t.Errorf("got %q, %v", got, err)
	}
	if got, err := pushAll(framingLength, n, [][]byte{[]byte(body[:12])}); err != io.ErrUnexpectedEOF || len(got) != 1 {
		t.Errorf("cut short: got %q, %v", got, err)
	}
	if _, err := pushAll(framingLength, 0, [][]byte{[]byte(body)}); err != io.EOF {
		t.Errorf("empty body: %v", err)
	}
}

// referenceValues reads the data values of an event stream by the push
// parser's contract, naively: lines end at CRLF, CR or LF; an unended last
// line is dropped; "data:" lines yield their value with one leading space
// dropped, values beyond maxDataValue reported as oversized.
func referenceValues(s string) []string {
	var vals []string
	for {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			return vals
		}
		line := s[:i]
		if strings.HasPrefix(s[i:], "\r\n") {
			s = s[i+2:]
		} else {
			s = s[i+1:]
		}
		if v, ok := strings.CutPrefix(line, "data:"); ok {
			v = strings.TrimPrefix(v, " ")
			if len(v) > maxDataValue {
				v = oversizedMark
			}
			vals = append(vals, v)
		}
	}
}

// FuzzPushParser checks the parser against referenceValues on a fuzzed
// event stream, framed plain and chunked and cut into fuzzed pieces, and
// feeds the raw input as a chunked body, which must end in io.EOF, a
// framing error or an unexpected EOF, never a panic.
func FuzzPushParser(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 0))
		want := referenceValues(string(in))
		for _, fr := range []bodyFraming{framingClose, framingChunked} {
			body := in
			if fr == framingChunked {
				body = []byte(chunkRandom(rng, string(in)))
			}
			got, err := pushAll(fr, 0, splitRandom(rng, body))
			if err != io.EOF {
				t.Fatalf("framing %d: ended with %v", fr, err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("framing %d: got %q, want %q", fr, got, want)
			}
		}
		_, err := pushAll(framingChunked, 0, splitRandom(rng, in))
		if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, errChunked) {
			t.Fatalf("raw chunked: %v", err)
		}
		if !bytes.Contains(in, []byte{'\r'}) {
			// Without CRs both readers agree on lines; the scanner skips
			// lines beyond its buffer.
			var short []byte
			for l := range bytes.Lines(in) {
				if len(l) < subLineBuffer {
					short = append(short, l...)
				}
			}
			got, _ := pushAll(framingClose, 0, [][]byte{short})
			if pull := pullAll(t, bytes.NewReader(short)); !slices.Equal(got, pull) {
				t.Fatalf("push %q, pull %q", got, pull)
			}
		}
	})
}

// The parser on the stream a fan-out subscriber reads, chunked as the
// net/http-based servers send it, and the scanner behind net/http's
// chunked reader: the parsing cost per delivery of the two readers.
func BenchmarkPushParser(b *testing.B) {
	var stream []byte
	for i := range 1000 {
		stream = fmt.Appendf(stream, "id: urn:uuid:0196a4c3-1f0e-7a1b-9c2d-%012d\ndata: %d 1763700000000000000\n\n", i, i+1)
	}
	var chunked bytes.Buffer
	cw := httputil.NewChunkedWriter(&chunked)
	for ev := range bytes.SplitAfterSeq(stream, []byte("\n\n")) {
		cw.Write(ev)
	}
	cw.Close()
	chunked.WriteString("\r\n")
	sink := func() *connSink { return &connSink{c: new(subConn), h: new(histogram), now: 1763700000000000001} }
	b.Run("push", func(b *testing.B) {
		b.SetBytes(int64(chunked.Len()))
		b.ReportAllocs()
		s := sink()
		for b.Loop() {
			p := newPushParser(framingChunked, 0)
			if err := p.feed(chunked.Bytes(), s); err != io.EOF {
				b.Fatal(err)
			}
		}
	})
	b.Run("pull", func(b *testing.B) {
		b.SetBytes(int64(chunked.Len()))
		b.ReportAllocs()
		s := sink()
		for b.Loop() {
			sc := newDataScanner(httputil.NewChunkedReader(bytes.NewReader(chunked.Bytes())), subLineBuffer)
			for {
				v, err := sc.next()
				if err != nil {
					break
				}
				s.data(v)
			}
		}
	})
}
