package hub

import (
	"context"
	"io"
	"strconv"
	"testing"
)

// The hot paths of one update's trip through the hub, measured one by one
// (BenchmarkFanout10k measures them together). CI runs every benchmark
// once so that none of them rots.

func BenchmarkMatchExact(b *testing.B) {
	h := newTestHubForBench(b)
	b.ReportAllocs()
	for b.Loop() {
		if !h.Match("https://example.com/books/1", "https://example.com/books/1") {
			b.Fatal("no match")
		}
	}
}

// BenchmarkMatchTemplateCached is the steady state: a template seen with a
// topic seen before.
func BenchmarkMatchTemplateCached(b *testing.B) {
	h := newTestHubForBench(b)
	b.ReportAllocs()
	for b.Loop() {
		if !h.Match("https://example.com/books/{id}", "https://example.com/books/1") {
			b.Fatal("no match")
		}
	}
}

// BenchmarkMatchTemplateNewTopic is a template against a topic it has not
// seen: the compiled template runs, and the result is cached.
func BenchmarkMatchTemplateNewTopic(b *testing.B) {
	h := newTestHubForBench(b)
	topics := make([]string, 1<<16)
	for i := range topics {
		topics[i] = "https://example.com/books/" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// More topics than the result cache keeps, so most lookups miss.
		if !h.Match("https://example.com/books/{id}", topics[i%len(topics)]) {
			b.Fatal("no match")
		}
		i++
	}
}

// BenchmarkEnqueueDrain queues one encoded event for a subscriber whose
// Run drains the queue into io.Discard: the per-delivery cost of the queue.
func BenchmarkEnqueueDrain(b *testing.B) {
	h := newTestHubForBench(b)
	s, err := h.Subscribe(context.Background(), Subscription{Topics: []string{"t"}})
	if err != nil {
		b.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- s.Run(context.Background(), io.Discard) }()
	e := []byte("id: 1\ndata: hello\n\n")
	b.ReportAllocs()
	for b.Loop() {
		if !s.enqueue(e, 1<<20) {
			b.Fatal("queue full")
		}
	}
	s.Close()
	if err := <-ran; err != nil {
		b.Fatal(err)
	}
}

func newTestHubForBench(b *testing.B) *Hub {
	h, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close(context.Background()) })
	return h
}
