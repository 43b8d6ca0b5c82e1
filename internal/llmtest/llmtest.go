// Package llmtest serves event streams shaped like the streaming APIs of LLM
// providers (OpenAI- and Anthropic-style completions), with the faults their
// clients meet in practice, for the tests of the sse client and the sse
// command. It writes the wire format by hand, so a test controls every byte,
// and uses the standard library only.
package llmtest

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// Tokens returns the pieces a completion streams, in order, one chunk event
// each.
func Tokens() []string { return []string{"Hel", "lo", ",", " wor", "ld"} }

// Chunk returns the data of the OpenAI-shaped chunk event carrying token.
func Chunk(token string) string {
	return fmt.Sprintf(`{"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":%q}}]}`, token)
}

// Chunks returns the data of every chunk event, in order.
func Chunks() []string {
	var c []string
	for _, t := range Tokens() {
		c = append(c, Chunk(t))
	}
	return c
}

// The scenarios, by request path. Every one answers 200 text/event-stream.
const (
	// PathDone streams the chunks, then "data: [DONE]", then ends.
	PathDone = "/v1/chat/completions"
	// PathBareCR is PathDone with every line ended by a bare CR.
	PathBareCR = "/cr"
	// PathNoSpace is PathDone with "data:" and no space before values,
	// and each chunk split over two data lines (the parser joins them
	// with LF: Chunks()[i] becomes its first half, LF, its second half).
	PathNoSpace = "/nospace"
	// PathAnthropic streams the chunks as Anthropic does, typed events
	// ending with "event: message_stop".
	PathAnthropic = "/v1/messages"
	// PathError streams two chunks, then "event: error" with ErrorData,
	// then ends without [DONE].
	PathError = "/error"
	// PathCut streams two chunks and half an event, then breaks the
	// connection (the response body fails).
	PathCut = "/cut"
	// PathHalf streams two chunks and half an event, then ends the body
	// cleanly, as a proxy that gave up may: the standard discards the
	// half event without a word.
	PathHalf = "/half"
	// PathEOF streams the chunks, then ends the body cleanly without
	// [DONE]: a truncation that HTTP cannot tell from success.
	PathEOF = "/eof"
	// PathBig streams one event of BigSize bytes of data, then [DONE].
	PathBig = "/big"
)

// ErrorData is the data of the error event of PathError.
const ErrorData = `{"error":{"message":"The server is overloaded","type":"overloaded_error"}}`

// BigSize is the data size of PathBig's event: 8 MiB, as a base64 image in
// a tool output may be.
const BigSize = 8 << 20

// BigData returns the data of PathBig's event.
func BigData() string { return strings.Repeat("QUJD", BigSize/4) }

// Request is what the server recorded of one request.
type Request struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

// Server is an http.Handler serving the scenarios. The zero value is ready
// to use.
type Server struct {
	mu   sync.Mutex
	reqs []Request
}

// Requests returns the requests served so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// ServeHTTP serves the scenario r's path names, whatever the method.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	s.mu.Unlock()

	var blocks []string
	eol := "\n"
	switch r.URL.Path {
	case PathDone, PathEOF, PathBareCR:
		for _, c := range Chunks() {
			blocks = append(blocks, "data: "+c)
		}
		if r.URL.Path != PathEOF {
			blocks = append(blocks, "data: [DONE]")
		}
		if r.URL.Path == PathBareCR {
			eol = "\r"
		}
	case PathNoSpace:
		for _, c := range Chunks() {
			half := len(c) / 2
			blocks = append(blocks, "data:"+c[:half]+"\ndata:"+c[half:])
		}
		blocks = append(blocks, "data:[DONE]")
	case PathAnthropic:
		blocks = append(blocks, "event: message_start\ndata: {\"type\":\"message_start\"}")
		for _, t := range Tokens() {
			blocks = append(blocks, fmt.Sprintf("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":%q}}", t))
		}
		blocks = append(blocks, ": ping", "event: message_stop\ndata: {\"type\":\"message_stop\"}")
	case PathError, PathCut, PathHalf:
		for _, c := range Chunks()[:2] {
			blocks = append(blocks, "data: "+c)
		}
		if r.URL.Path == PathError {
			blocks = append(blocks, "event: error\ndata: "+ErrorData)
		}
	case PathBig:
		blocks = append(blocks, "data: "+BigData(), "data: [DONE]")
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for _, b := range blocks {
		if _, err := io.WriteString(w, strings.ReplaceAll(b, "\n", eol)+eol+eol); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
	if r.URL.Path == PathHalf {
		io.WriteString(w, "data: "+Chunks()[2])
		return
	}
	if r.URL.Path == PathCut {
		io.WriteString(w, "data: "+Chunks()[2])
		rc.Flush()
		// Breaks the connection: the client's body read fails.
		panic(http.ErrAbortHandler)
	}
}
