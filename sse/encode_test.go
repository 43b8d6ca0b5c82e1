package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name string
		e    Event
		want string
	}{
		{"data only", Event{Data: "hi"}, "data: hi\n\n"},
		{"empty data is one empty data line", Event{}, "data: \n\n"},
		{"all fields in order retry id event data", Event{ID: "7", Type: "add", Data: "x", Retry: 1500 * time.Millisecond},
			"retry: 1500\nid: 7\nevent: add\ndata: x\n\n"},
		{"LF splits data lines", Event{Data: "a\nb"}, "data: a\ndata: b\n\n"},
		{"CRLF splits data lines", Event{Data: "a\r\nb"}, "data: a\ndata: b\n\n"},
		{"bare CR splits data lines and never reaches the wire", Event{Data: "a\rb"}, "data: a\ndata: b\n\n"},
		{"mixed line breaks", Event{Data: "a\rb\r\nc\nd"}, "data: a\ndata: b\ndata: c\ndata: d\n\n"},
		{"LF CR is two line breaks", Event{Data: "a\n\rb"}, "data: a\ndata: \ndata: b\n\n"},
		{"trailing LF is a trailing empty line", Event{Data: "a\n"}, "data: a\ndata: \n\n"},
		{"trailing CR is a trailing empty line", Event{Data: "a\r"}, "data: a\ndata: \n\n"},
		{"leading line break", Event{Data: "\na"}, "data: \ndata: a\n\n"},
		{"only line breaks", Event{Data: "\r\n\r\n"}, "data: \ndata: \ndata: \n\n"},
		{"leading space in data kept after the separator space", Event{Data: " a"}, "data:  a\n\n"},
		{"colon in data", Event{Data: "a: b"}, "data: a: b\n\n"},
		{"NUL in data is allowed", Event{Data: "a\x00b"}, "data: a\x00b\n\n"},
		{"NUL in event type is allowed", Event{Type: "a\x00", Data: "x"}, "event: a\x00\ndata: x\n\n"},
		{"Unicode", Event{ID: "é", Type: "世界", Data: "😀"}, "id: é\nevent: 世界\ndata: 😀\n\n"},
		{"zero retry writes no retry field", Event{Data: "x", Retry: 0}, "data: x\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendEvent([]byte("prefix|"), tt.e)
			if err != nil {
				t.Fatal(err)
			}
			if want := "prefix|" + tt.want; string(got) != want {
				t.Errorf("got %q, want %q", got, want)
			}
			if strings.Contains(string(got), "\r") {
				t.Errorf("CR on the wire: %q", got)
			}
		})
	}
}

func TestAppendEventInvalid(t *testing.T) {
	tests := []struct {
		name  string
		e     Event
		field string
	}{
		{"id with LF", Event{ID: "1\ndata: x", Data: "y"}, "id"},
		{"id with CR", Event{ID: "1\r", Data: "y"}, "id"},
		{"id with CRLF", Event{ID: "1\r\n", Data: "y"}, "id"},
		{"id with NUL", Event{ID: "1\x002"}, "id"},
		{"event type with LF", Event{Type: "a\nretry: 1"}, "event"},
		{"event type with CR", Event{Type: "a\rb"}, "event"},
		{"negative retry", Event{Retry: -time.Second}, "retry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := AppendEvent(dst, tt.e)
			if !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("error = %v, want ErrInvalidEvent", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("error = %#v, want a *FieldError for %q", err, tt.field)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("message %q does not name the field", err)
			}
			if string(got) != "keep" || len(got) != 4 {
				t.Errorf("dst changed to %q", got)
			}
			var w bytes.Buffer
			if err := NewEncoder(&w).Encode(tt.e); !errors.Is(err, ErrInvalidEvent) {
				t.Errorf("Encoder.Encode error = %v", err)
			}
			if w.Len() != 0 {
				t.Errorf("Encoder wrote %q for an invalid event", w.String())
			}
		})
	}
}

func TestAppendComment(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ": \n"},
		{"ping", ": ping\n"},
		{"a\nb", ": a\n: b\n"},
		{"a\r\nb\rc", ": a\n: b\n: c\n"},
		{"a\n", ": a\n: \n"},
	}
	for _, tt := range tests {
		if got := string(AppendComment(nil, tt.in)); got != tt.want {
			t.Errorf("AppendComment(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAppendRetry(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "retry: 0\n\n"},
		{3 * time.Second, "retry: 3000\n\n"},
		{1500 * time.Microsecond, "retry: 1\n\n"},
		{-time.Second, "retry: 0\n\n"},
	}
	for _, tt := range tests {
		if got := string(AppendRetry(nil, tt.d)); got != tt.want {
			t.Errorf("AppendRetry(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestEncoder(t *testing.T) {
	var w bytes.Buffer
	enc := NewEncoder(&w)
	if err := enc.Comment("hello\nworld"); err != nil {
		t.Fatal(err)
	}
	if err := enc.Retry(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(Event{ID: "1", Data: "a\nb"}); err != nil {
		t.Fatal(err)
	}
	if err := enc.Retry(-1); !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("negative Retry error = %v", err)
	}
	want := ": hello\n: world\nretry: 2000\n\nid: 1\ndata: a\ndata: b\n\n"
	if w.String() != want {
		t.Errorf("got %q, want %q", w.String(), want)
	}
	// What the encoder wrote reads back as the same event and retry.
	d := NewDecoder(&w)
	got, retries, err := decodeAll(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != msgID("1", "a\nb") || len(retries) != 1 || retries[0] != 2*time.Second {
		t.Errorf("decoded %q, retries %v", got, retries)
	}
}

func TestAppendNoAllocs(t *testing.T) {
	e := Event{ID: "42", Type: "update", Data: strings.Repeat("line\r\n", 20), Retry: time.Second}
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() {
		buf, _ = AppendEvent(buf[:0], e)
		buf = AppendComment(buf, "a\nb")
		buf = AppendRetry(buf, time.Second)
	}); n != 0 {
		t.Errorf("append into a reused buffer: %v allocs, want 0", n)
	}
	enc := NewEncoder(io.Discard)
	enc.Encode(e) // grows the buffer once
	if n := testing.AllocsPerRun(100, func() { enc.Encode(e) }); n != 0 {
		t.Errorf("Encoder.Encode: %v allocs, want 0", n)
	}
}
