package sse

import (
	"bufio"
	"fmt"
	"strings"
	"testing"
)

// benchEvent is an event as a hub sends it: an id, a type and single-line
// data of n bytes.
func benchEvent(n int) Event {
	return Event{ID: "1234567", Type: "update", Data: strings.Repeat("abcdefghijklmnopqrstuvwxyz012345", n/32+1)[:n]}
}

// benchStream is the wire form of 1000 such events, each with its own id.
func benchStream(n int) (stream []byte, perEvent int) {
	e := benchEvent(n)
	for i := range 1000 {
		e.ID = fmt.Sprint(1000000 + i)
		stream, _ = AppendEvent(stream, e)
	}
	return stream, len(stream) / 1000
}

// cycleReader returns its stream over and over, so that a benchmark can
// read b.N events without building b.N of them.
type cycleReader struct {
	s   []byte
	off int
}

func (c *cycleReader) Read(p []byte) (int, error) {
	n := copy(p, c.s[c.off:])
	c.off = (c.off + n) % len(c.s)
	return n, nil
}

func benchmarkEncode(b *testing.B, n int) {
	e := benchEvent(n)
	buf, _ := AppendEvent(nil, e)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendEvent(buf[:0], e)
	}
}

func BenchmarkEncodeSmall(b *testing.B) { benchmarkEncode(b, 100) }
func BenchmarkEncode1KiB(b *testing.B)  { benchmarkEncode(b, 1024) }

func benchmarkDecode(b *testing.B, n int) {
	stream, perEvent := benchStream(n)
	d := NewDecoder(&cycleReader{s: stream})
	b.SetBytes(int64(perEvent))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeSmall(b *testing.B) { benchmarkDecode(b, 100) }
func BenchmarkDecode1KiB(b *testing.B)  { benchmarkDecode(b, 1024) }

// BenchmarkDecodeCR reads CR-terminated lines, which must be as linear as
// LF-terminated ones.
func BenchmarkDecodeCR(b *testing.B) {
	stream, perEvent := benchStream(100)
	stream = []byte(strings.ReplaceAll(string(stream), "\n", "\r"))
	d := NewDecoder(&cycleReader{s: stream})
	b.SetBytes(int64(perEvent))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

// benchmarkScanLines is the baseline: splitting the same input into lines
// with a bufio.Scanner, without interpreting them. One op is one event's
// lines.
func benchmarkScanLines(b *testing.B, n int) {
	stream, perEvent := benchStream(n)
	sc := bufio.NewScanner(&cycleReader{s: stream})
	b.SetBytes(int64(perEvent))
	b.ReportAllocs()
	for b.Loop() {
		for sc.Scan() && len(sc.Bytes()) > 0 {
		}
	}
}

func BenchmarkScanLinesSmall(b *testing.B) { benchmarkScanLines(b, 100) }
func BenchmarkScanLines1KiB(b *testing.B)  { benchmarkScanLines(b, 1024) }
