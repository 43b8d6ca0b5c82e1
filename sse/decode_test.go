package sse

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
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

// decodeVector is one case of testdata/decode.json, the parser's test
// vectors, which the browser client's tests (web/jstest) read too, so the
// two parsers are held to one set of cases. Each case cites the step of the
// WHATWG HTML standard's "Interpreting an event stream" it exercises.
type decodeVector struct {
	Name string `json:"name"`
	// In is the stream; InBase64 holds it instead when it is not valid
	// UTF-8, which a JSON string cannot carry.
	In       string `json:"in"`
	InBase64 []byte `json:"inBase64"`
	// StartID is the last event ID set before the stream, as a client
	// resuming with Last-Event-ID sets it.
	StartID string `json:"startId"`
	Events  []struct {
		Type string `json:"type"`
		Data string `json:"data"`
		ID   string `json:"id"`
	} `json:"events"`
	Retries []int64 `json:"retries"` // milliseconds
	LastID  string  `json:"lastEventId"`
}

type decodeTest struct {
	name    string
	in      string
	startID string
	want    []Event
	retries []time.Duration
	lastID  string
}

// decodeTests reads the vectors.
func decodeTests(tb testing.TB) []decodeTest {
	tb.Helper()
	b, err := os.ReadFile("testdata/decode.json")
	if err != nil {
		tb.Fatal(err)
	}
	var vs []decodeVector
	if err := json.Unmarshal(b, &vs); err != nil {
		tb.Fatalf("testdata/decode.json: %v", err)
	}
	if len(vs) < 70 {
		tb.Fatalf("testdata/decode.json holds %d vectors: truncated?", len(vs))
	}
	tests := make([]decodeTest, len(vs))
	for i, v := range vs {
		tt := decodeTest{name: v.Name, in: v.In, startID: v.StartID, lastID: v.LastID}
		if v.InBase64 != nil {
			tt.in = string(v.InBase64)
		}
		for _, e := range v.Events {
			tt.want = append(tt.want, Event{Type: e.Type, Data: e.Data, ID: e.ID})
		}
		for _, ms := range v.Retries {
			tt.retries = append(tt.retries, time.Duration(ms)*time.Millisecond)
		}
		tests[i] = tt
	}
	return tests
}

func TestDecode(t *testing.T) {
	for _, tt := range decodeTests(t) {
		for how, newReader := range readers(tt.in) {
			t.Run(tt.name+"/"+how, func(t *testing.T) {
				d := NewDecoder(newReader())
				if tt.startID != "" {
					d.SetLastEventID(tt.startID)
				}
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

// TestDecodeCutMidEvent: the Decoder tells a stream that ends between
// events from one that ends inside one, which the standard discards.
func TestDecodeCutMidEvent(t *testing.T) {
	for in, want := range map[string]bool{
		"":                      false,
		"data: a\n\n":           false,
		"data: a\r\n\r\n: bye":  false, // a comment is no part of an event
		"event: x\nid: 1\n":     false, // nothing to dispatch yet
		"data: a\n\ndata: b":    true,
		"data: a\n\ndata: b\n":  true,
		"data: a\n\ndata: b\r":  true,
		"data: a\n\nid: 2":      true,
		"\xef\xbb\xbfdata: b\n": true,
	} {
		for how, newReader := range readers(in) {
			d := NewDecoder(newReader())
			if _, _, err := decodeAll(d); err != nil {
				t.Fatal(err)
			}
			if d.cutMidEvent != want {
				t.Errorf("%q (%s): cutMidEvent %v, want %v", in, how, d.cutMidEvent, want)
			}
		}
	}
}
