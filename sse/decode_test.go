package sse

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// chunkReader returns its input in chunks of random size (1 to 16 bytes),
// from a seeded source so that failures repeat.
type chunkReader struct {
	s   string
	rnd *rand.Rand
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.s == "" {
		return 0, io.EOF
	}
	n := min(1+c.rnd.IntN(16), len(p), len(c.s))
	n = copy(p, c.s[:n])
	c.s = c.s[n:]
	return n, nil
}

// readers returns the ways every decoder test reads its input: whole, a
// byte at a time, and in random chunks with several seeds.
func readers(s string) map[string]func() io.Reader {
	m := map[string]func() io.Reader{
		"whole":    func() io.Reader { return strings.NewReader(s) },
		"bytewise": func() io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
	}
	for seed := range uint64(4) {
		m[fmt.Sprintf("chunks%d", seed)] = func() io.Reader {
			return &chunkReader{s: s, rnd: rand.New(rand.NewPCG(seed, 0x5eed))}
		}
	}
	return m
}

// decodeAll reads every event and retry value of the stream r.
func decodeAll(d *Decoder) (events []Event, retries []time.Duration, err error) {
	d.OnRetry = func(t time.Duration) { retries = append(retries, t) }
	for e, err := range d.Events() {
		if err != nil {
			return events, retries, err
		}
		events = append(events, e)
	}
	return events, retries, nil
}

func msg(data string) Event            { return Event{Type: "message", Data: data} }
func msgID(id, data string) Event      { return Event{ID: id, Type: "message", Data: data} }
func typed(typ, id, data string) Event { return Event{ID: id, Type: typ, Data: data} }

var decodeTests = []struct {
	name    string
	in      string
	want    []Event
	retries []time.Duration
	lastID  string
}{
	// "Interpreting an event stream": the stream is decoded as UTF-8; one
	// leading BOM is skipped.
	{name: "BOM at stream start is skipped", in: "\xEF\xBB\xBFdata: a\n\n", want: []Event{msg("a")}},
	{name: "only one BOM is skipped", in: "\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n", want: []Event{msg("b")}},
	{name: "BOM not at stream start is data", in: "data: \xEF\xBB\xBFa\n\n", want: []Event{msg("\uFEFFa")}},
	{name: "partial BOM at start is invalid UTF-8", in: "\xEF\xBBdata: a\n\ndata: b\n\n", want: []Event{msg("b")}},
	{name: "BOM alone", in: "\xEF\xBB\xBF", want: nil},
	{name: "partial BOM then EOF", in: "\xEF\xBB", want: nil},

	// "decoded ... using the UTF-8 decode algorithm": maximal subparts of
	// ill-formed sequences become one U+FFFD each.
	{name: "UTF-8 truncated 4-byte sequence then ASCII is one U+FFFD", in: "data: \xF0\x9F\x98A\n\n", want: []Event{msg("\uFFFDA")}},
	{name: "UTF-8 E0 80 is two U+FFFD", in: "data: \xE0\x80\n\n", want: []Event{msg("\uFFFD\uFFFD")}},
	{name: "UTF-8 surrogate ED A0 80 is three U+FFFD", in: "data: \xED\xA0\x80\n\n", want: []Event{msg("\uFFFD\uFFFD\uFFFD")}},
	{name: "UTF-8 lone continuation bytes", in: "data: \x80\xBFx\n\n", want: []Event{msg("\uFFFD\uFFFDx")}},
	{name: "UTF-8 C0 and F5 are never valid", in: "data: \xC0\xAF\xF5\n\n", want: []Event{msg("\uFFFD\uFFFD\uFFFD")}},
	{name: "UTF-8 truncated sequence before line end", in: "data: \xE2\x82\ndata: \xE2\x82\xAC\n\n", want: []Event{msg("\uFFFD\n€")}},
	{name: "UTF-8 invalid in id", in: "id: \xFF1\ndata: a\n\n", want: []Event{msgID("\uFFFD1", "a")}, lastID: "\uFFFD1"},
	{name: "UTF-8 invalid in event type", in: "event: \xFFx\ndata: a\n\n", want: []Event{typed("\uFFFDx", "", "a")}},
	{name: "UTF-8 invalid in field name makes it unknown", in: "dat\xE1: a\ndata: b\n\n", want: []Event{msg("b")}},
	{name: "UTF-8 valid multibyte kept", in: "data: héllo 世界 😀\n\n", want: []Event{msg("héllo 世界 😀")}},
	{name: "UTF-8 encoded U+FFFD kept", in: "data: \uFFFD\n\n", want: []Event{msg("\uFFFD")}},

	// "Lines must be separated by either a CRLF pair, a single LF, or a
	// single CR."
	{name: "line end LF", in: "data: a\ndata: b\n\n", want: []Event{msg("a\nb")}},
	{name: "line end CRLF", in: "data: a\r\ndata: b\r\n\r\n", want: []Event{msg("a\nb")}},
	{name: "line end CR", in: "data: a\rdata: b\r\r", want: []Event{msg("a\nb")}},
	{name: "line ends mixed", in: "data: a\rdata: b\r\ndata: c\n\r\n", want: []Event{msg("a\nb\nc")}},
	{name: "LF CR is two line ends", in: "data: a\n\rdata: b\n\n", want: []Event{msg("a"), msg("b")}},
	{name: "CR CR LF is a CR then a CRLF", in: "data: a\r\r\ndata: b\n\n", want: []Event{msg("a"), msg("b")}},

	// "If the line is empty (a blank line): Dispatch the event."
	{name: "dispatch at blank line", in: "data: a\n\ndata: b\n\n", want: []Event{msg("a"), msg("b")}},
	{name: "several blank lines dispatch once", in: "data: a\n\n\n\n", want: []Event{msg("a")}},
	// "If the line starts with a U+003A COLON character (:): Ignore the line."
	{name: "comment ignored", in: ": hi\ndata: a\n:\n\n", want: []Event{msg("a")}},
	{name: "comment-only block not dispatched", in: ": ping\n\n", want: nil},
	// "If the line contains a U+003A COLON character: ... If value starts
	// with a U+0020 SPACE character, remove it from value."
	{name: "one space after colon removed", in: "data:  a \n\n", want: []Event{msg(" a ")}},
	{name: "no space after colon", in: "data:a\n\n", want: []Event{msg("a")}},
	{name: "tab after colon kept", in: "data:\ta\n\n", want: []Event{msg("\ta")}},
	{name: "value split at first colon only", in: "data: a: b:c\n\n", want: []Event{msg("a: b:c")}},
	// "Otherwise, the string is not empty but does not contain a U+003A
	// COLON character: ... using the whole line as the field name, and the
	// empty string as the field value."
	{name: "field without colon has empty value", in: "data\ndata\n\n", want: []Event{msg("\n")}},
	{name: "data without colon dispatches empty data", in: "data\n\n", want: []Event{msg("")}},
	{name: "data with colon and nothing else", in: "data:\n\n", want: []Event{msg("")}},
	// "Otherwise: The field is ignored." and field names are compared
	// literally, so case matters.
	{name: "unknown field ignored", in: "foo: x\ndata: a\n\n", want: []Event{msg("a")}},
	{name: "field names are case-sensitive", in: "Data: x\nDATA: y\nEvent: e\nID: 1\ndata: a\n\n", want: []Event{msg("a")}},
	{name: "space before colon is part of the name", in: "data : x\ndata: a\n\n", want: []Event{msg("a")}},

	// "If the field name is "data": Append the field value to the data
	// buffer, then append a single U+000A LINE FEED (LF)"; the last LF is
	// removed at dispatch.
	{name: "data lines joined with LF", in: "data: a\ndata:\ndata: b\n\n", want: []Event{msg("a\n\nb")}},
	{name: "data trailing empty line", in: "data: a\ndata\n\n", want: []Event{msg("a\n")}},

	// "If the field name is "event": Set the event type buffer to field
	// value." Dispatch: type "message" unless the buffer is not empty;
	// the buffer is reset after every block.
	{name: "event type set", in: "event: add\ndata: a\n\n", want: []Event{typed("add", "", "a")}},
	{name: "event type defaults to message", in: "data: a\n\n", want: []Event{msg("a")}},
	{name: "event type resets after dispatch", in: "event: add\ndata: a\n\ndata: b\n\n", want: []Event{typed("add", "", "a"), msg("b")}},
	{name: "event type resets after block without data", in: "event: add\n\ndata: b\n\n", want: []Event{msg("b")}},
	{name: "empty event type is message", in: "event: add\nevent:\ndata: a\n\n", want: []Event{msg("a")}},
	{name: "last event field wins", in: "event: a\nevent: b\ndata: x\n\n", want: []Event{typed("b", "", "x")}},
	{name: "event type may contain NUL", in: "event: a\x00b\ndata: x\n\n", want: []Event{typed("a\x00b", "", "x")}},
	{name: "many event types reuse", in: "event: a\ndata: 1\n\nevent: b\ndata: 2\n\nevent: a\ndata: 3\n\n",
		want: []Event{typed("a", "", "1"), typed("b", "", "2"), typed("a", "", "3")}},

	// "If the field name is "id": If the field value does not contain
	// U+0000 NULL, then set the last event ID buffer to the field value.
	// Otherwise, ignore the field." The last event ID persists.
	{name: "id set", in: "id: 1\ndata: a\n\n", want: []Event{msgID("1", "a")}, lastID: "1"},
	{name: "id persists across events", in: "id: 1\ndata: a\n\ndata: b\n\n", want: []Event{msgID("1", "a"), msgID("1", "b")}, lastID: "1"},
	{name: "empty id resets last event ID", in: "id: 1\ndata: a\n\nid\ndata: b\n\n", want: []Event{msgID("1", "a"), msg("b")}, lastID: ""},
	{name: "id with colon and no value resets", in: "id: 1\ndata: a\n\nid:\ndata: b\n\n", want: []Event{msgID("1", "a"), msg("b")}},
	{name: "id containing NUL ignored", in: "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", want: []Event{msgID("1", "a"), msgID("1", "b")}, lastID: "1"},
	{name: "id in block without data still sets last event ID", in: "id: 7\n\ndata: a\n\n", want: []Event{msgID("7", "a")}, lastID: "7"},
	{name: "id in unterminated block is not committed", in: "id: 1\ndata: a\n\nid: 2\ndata: b", want: []Event{msgID("1", "a")}, lastID: "1"},
	{name: "id changes between events", in: "id: 1\ndata: a\n\nid: 2\ndata: b\n\n", want: []Event{msgID("1", "a"), msgID("2", "b")}, lastID: "2"},
	{name: "long data with changing id", in: "id: x\ndata: " + strings.Repeat("z", 600) + "\n\n", want: []Event{msgID("x", strings.Repeat("z", 600))}, lastID: "x"},

	// "If the field name is "retry": If the field value consists of only
	// ASCII digits, then interpret the field value as an integer in base
	// ten, and set the event stream's reconnection time to that integer.
	// Otherwise, ignore the field."
	{name: "retry digits", in: "retry: 3000\n\n", retries: []time.Duration{3 * time.Second}},
	{name: "retry zero", in: "retry: 0\n\n", retries: []time.Duration{0}},
	{name: "retry leading zeros", in: "retry: 007\n\n", retries: []time.Duration{7 * time.Millisecond}},
	{name: "retry non-digit ignored", in: "retry: 1a\nretry: -1\nretry: +1\nretry: 1.5\nretry:  1\nretry: 1 \n\n"},
	{name: "retry empty ignored", in: "retry\nretry:\n\n"},
	{name: "retry non-ASCII digit ignored", in: "retry: ١٢\n\n"},
	{name: "retry overflow ignored, not wrapped", in: "retry: 99999999999999999999999\nretry: 9223372036855\n\n"},
	{name: "retry largest", in: "retry: 9223372036854\n\n", retries: []time.Duration{9223372036854 * time.Millisecond}},
	{name: "retry with event in same block", in: "retry: 10\ndata: a\n\n", want: []Event{msg("a")}, retries: []time.Duration{10 * time.Millisecond}},
	{name: "retry in unterminated block still applies", in: "retry: 10", want: nil, retries: nil},
	{name: "retry line ended, block unterminated", in: "retry: 10\n", retries: []time.Duration{10 * time.Millisecond}},

	// "If the data buffer is an empty string, set the data buffer and the
	// event type buffer to the empty string and return."
	{name: "block without data not dispatched", in: "event: x\nid: 1\n\n", lastID: "1"},
	// "Once the end of the file is reached, any pending data must be
	// discarded. (If the file ends in the middle of an event, before the
	// final empty line, the incomplete event is not dispatched.)"
	{name: "unterminated block discarded", in: "data: a\n\ndata: b\n", want: []Event{msg("a")}},
	{name: "unterminated line discarded", in: "data: a\n\ndata: b", want: []Event{msg("a")}},
	{name: "stream ending in CR dispatches", in: "data: a\r\r", want: []Event{msg("a")}},
	{name: "empty stream", in: ""},
	{name: "blank lines only", in: "\n\r\n\r"},
}

func TestDecode(t *testing.T) {
	for _, tt := range decodeTests {
		for how, newReader := range readers(tt.in) {
			t.Run(tt.name+"/"+how, func(t *testing.T) {
				d := NewDecoder(newReader())
				got, retries, err := decodeAll(d)
				if err != nil {
					t.Fatalf("error: %v", err)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("events:\n got %q\nwant %q", got, tt.want)
				}
				if !slices.Equal(retries, tt.retries) {
					t.Errorf("retries: got %v, want %v", retries, tt.retries)
				}
				if d.LastEventID() != tt.lastID {
					t.Errorf("LastEventID() = %q, want %q", d.LastEventID(), tt.lastID)
				}
				var wantRetry time.Duration
				if len(tt.retries) > 0 {
					wantRetry = tt.retries[len(tt.retries)-1]
				}
				if d.Retry() != wantRetry {
					t.Errorf("Retry() = %v, want %v", d.Retry(), wantRetry)
				}
				if _, err := d.Next(); err != io.EOF {
					t.Errorf("Next after end = %v, want io.EOF", err)
				}
			})
		}
	}
}

func TestDecodeSetLastEventID(t *testing.T) {
	d := NewDecoder(strings.NewReader("data: a\n\nid: 5\ndata: b\n\nid\ndata: c\n\n"))
	d.SetLastEventID("4")
	got, _, err := decodeAll(d)
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{msgID("4", "a"), msgID("5", "b"), msg("c")}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestDecodeRetryOrder(t *testing.T) {
	// OnRetry runs before Next returns the event of the same block and
	// after the events of earlier blocks.
	d := NewDecoder(strings.NewReader("data: a\n\nretry: 5\ndata: b\n\nretry: 6\n\n"))
	var log []string
	d.OnRetry = func(t time.Duration) { log = append(log, "retry "+t.String()) }
	for e, err := range d.Events() {
		if err != nil {
			t.Fatal(err)
		}
		log = append(log, "event "+e.Data)
	}
	want := []string{"event a", "retry 5ms", "event b", "retry 6ms"}
	if !slices.Equal(log, want) {
		t.Errorf("got %q, want %q", log, want)
	}
}

func TestDecodeTooLarge(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want []Event // events before the error
	}{
		{"line longer than limit", "data: a\n\ndata: 0123456789\n\n", 10, []Event{msg("a")}},
		{"unterminated line longer than limit", "data: 0123456789", 10, nil},
		{"comment longer than limit", ": 0123456789\n", 10, nil},
		{"data longer than limit across lines", "data: 123\ndata: 456\ndata: 789\n\n", 10, nil},
		{"default limit", "data: " + strings.Repeat("x", DefaultMaxEventSize) + "\n\n", 0, nil},
	}
	for _, tt := range tests {
		for how, newReader := range readers(tt.in) {
			if len(tt.in) > 1<<20 && how != "whole" {
				continue // the default limit's 16 MiB in small reads only costs time
			}
			t.Run(tt.name+"/"+how, func(t *testing.T) {
				d := NewDecoder(newReader())
				d.MaxEventSize = tt.max
				got, _, err := decodeAll(d)
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("error = %v, want ErrTooLarge", err)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("events before error: got %q, want %q", got, tt.want)
				}
				if _, err2 := d.Next(); err2 != err {
					t.Errorf("error is not sticky: %v then %v", err, err2)
				}
			})
		}
	}
}

func TestDecodeAtLimit(t *testing.T) {
	// A line of exactly MaxEventSize bytes and data of exactly that size
	// are accepted.
	const max = 16
	data := strings.Repeat("x", max-len("data: "))
	in := "data: " + data + "\n\ndata: 1234567\ndata: 12345678\n\n"
	for how, newReader := range readers(in) {
		t.Run(how, func(t *testing.T) {
			d := NewDecoder(newReader())
			d.MaxEventSize = max
			got, _, err := decodeAll(d)
			if err != nil {
				t.Fatal(err)
			}
			want := []Event{msg(data), msg("1234567\n12345678")}
			if !slices.Equal(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

func TestDecodeReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom))
	got, _, err := decodeAll(NewDecoder(r))
	if !errors.Is(err, boom) {
		t.Fatalf("error = %v, want %v", err, boom)
	}
	if want := []Event{msg("a")}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestDecodeDataErrReader(t *testing.T) {
	// A reader returning data with io.EOF in the same call.
	in := "data: a\n\ndata: b\n\n"
	got, _, err := decodeAll(NewDecoder(iotest.DataErrReader(strings.NewReader(in))))
	if err != nil {
		t.Fatal(err)
	}
	if want := []Event{msg("a"), msg("b")}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestDecodeNoProgress(t *testing.T) {
	_, err := NewDecoder(zeroReader{}).Next()
	if !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("error = %v, want io.ErrNoProgress", err)
	}
}

func TestDecodeEventsStopEarly(t *testing.T) {
	d := NewDecoder(strings.NewReader("data: a\n\ndata: b\n\ndata: c\n\n"))
	for e, err := range d.Events() {
		if err != nil || e.Data != "a" {
			t.Fatalf("first = %q, %v", e, err)
		}
		break
	}
	// Breaking out of the loop leaves the decoder where it was.
	if e, err := d.Next(); err != nil || e.Data != "b" {
		t.Fatalf("Next = %q, %v; want b", e, err)
	}
	var n int
	for range Events(strings.NewReader("data: a\n\ndata: b\n\n")) {
		n++
	}
	if n != 2 {
		t.Errorf("Events yielded %d events, want 2", n)
	}
}

func TestDecodeLive(t *testing.T) {
	// Each event is returned as soon as its blank line arrives, without
	// waiting for more input: a CR line end is not held back for a
	// possible LF.
	for _, in := range []string{"data: a\n\n", "data: a\r\n\r\n", "data: a\r\r"} {
		pr, pw := io.Pipe()
		d := NewDecoder(pr)
		go func() {
			for i := range len(in) {
				pw.Write([]byte{in[i]})
			}
			// The writer blocks here until the event was read.
			pw.Write([]byte("data: b\n\n"))
			pw.Close()
		}()
		e, err := d.Next()
		if err != nil || e.Data != "a" {
			t.Fatalf("%q: Next = %q, %v", in, e, err)
		}
		if e, err := d.Next(); err != nil || e.Data != "b" {
			t.Fatalf("%q: second Next = %q, %v", in, e, err)
		}
		if _, err := d.Next(); err != io.EOF {
			t.Fatalf("%q: third Next = %v", in, err)
		}
	}
}

func TestDecodeLongLines(t *testing.T) {
	// Lines much longer than the initial buffer, with every line end kind.
	long := strings.Repeat("0123456789abcdef", 1000)
	for _, eol := range []string{"\n", "\r", "\r\n"} {
		in := "id: " + long + eol + "data: " + long + eol + "data: " + long + eol + eol
		for how, newReader := range readers(in) {
			if strings.HasPrefix(how, "chunks") && how != "chunks0" {
				continue
			}
			got, _, err := decodeAll(NewDecoder(newReader()))
			if err != nil {
				t.Fatal(err)
			}
			want := []Event{msgID(long, long+"\n"+long)}
			if !slices.Equal(got, want) {
				t.Errorf("%q/%s: wrong event", eol, how)
			}
		}
	}
}

func TestDecodeCROnlyLinear(t *testing.T) {
	// Many short CR-terminated lines in one large read must not rescan
	// the buffer for LF at each line; this checks the result, and the
	// benchmark BenchmarkDecodeCR keeps the speed.
	var b strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&b, "data: %d\r\r", i)
	}
	got, _, err := decodeAll(NewDecoder(strings.NewReader(b.String())))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10000 || got[9999].Data != "9999" {
		t.Fatalf("got %d events", len(got))
	}
}
