package sse_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"

	"github.com/ssehub/ssehub/sse"
)

// An OpenAI-shaped chat completion: a POST answered by a stream of chunks
// ending with "data: [DONE]". The request is sent once, never again;
// DoneData makes a stream cut off before [DONE] an error rather than a short
// answer, and ErrorType turns the error event such APIs send after the 200
// into an *sse.EventError.
func ExampleClient_completion() {
	// A stand-in for https://api.openai.com.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, token := range []string{"Hel", "lo", "!"} {
			fmt.Fprintf(w, "data: {\"choices\":[{\"delta\":{\"content\":%q}}]}\n\n", token)
		}
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer api.Close()

	body := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello"}]}`
	req, err := http.NewRequest("POST", api.URL+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		fmt.Println(err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+os.Getenv("OPENAI_API_KEY"))

	c := &sse.Client{DoneData: "[DONE]", ErrorType: "error"}
	var answer strings.Builder
	for ev, err := range c.Events(context.Background(), req) {
		var apiErr *sse.EventError
		switch {
		case errors.As(err, &apiErr):
			fmt.Println("the API failed mid-answer:", apiErr.Event.Data)
			return
		case errors.Is(err, sse.ErrIncomplete):
			fmt.Println("the answer was cut short:", err)
			return
		case err != nil:
			fmt.Println(err) // a refused request: *sse.StatusError, ...
			return
		}
		var chunk struct {
			Choices []struct {
				Delta struct{ Content string }
			}
		}
		if err := json.Unmarshal([]byte(ev.Data), &chunk); err != nil {
			fmt.Println(err)
			return
		}
		for _, ch := range chunk.Choices {
			answer.WriteString(ch.Delta.Content)
		}
	}
	fmt.Println(answer.String())
	// Output: Hello!
}

// A Mercure subscription that resumes: within a run the client reconnects
// after a dropped connection and sends Last-Event-ID, so no update is lost;
// across runs the caller keeps EventSource.LastEventID and sends it with the
// next subscription.
func ExampleEventSource_mercure() {
	// A stand-in for a Mercure hub: it replays the updates after
	// Last-Event-ID, and drops each connection after two of them.
	updates := []string{"urn:uuid:1", "urn:uuid:2", "urn:uuid:3", "urn:uuid:4"}
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		from := 0
		for i, id := range updates {
			if id == r.Header.Get("Last-Event-ID") {
				from = i + 1
			}
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "retry: 10\n\n") // reconnect after 10 ms
		for _, id := range updates[from:min(from+2, len(updates))] {
			fmt.Fprintf(w, "id: %s\ndata: {\"@id\":\"https://example.com/books/1\",\"update\":%q}\n\n", id, id)
		}
	}))
	defer hub.Close()

	subscribe := func(lastEventID string, want int) (resumeFrom string) {
		u := hub.URL + "/.well-known/mercure?topic=" + url.QueryEscape("https://example.com/books/{id}")
		req, err := http.NewRequest("GET", u, nil)
		if err != nil {
			fmt.Println(err)
			return lastEventID
		}
		req.Header.Set("Authorization", "Bearer "+os.Getenv("MERCURE_SUBSCRIBER_JWT"))
		if lastEventID != "" {
			req.Header.Set("Last-Event-ID", lastEventID) // the hub replays what came after
		}
		es := new(sse.Client).EventSource(context.Background(), req)
		n := 0
		for ev, err := range es.Events() {
			if err != nil {
				fmt.Println(err)
				break
			}
			fmt.Println("update", ev.ID)
			if n++; n == want {
				break // stop the run, say at shutdown
			}
		}
		return es.LastEventID() // to be stored for the next run
	}

	saved := subscribe("", 3)
	fmt.Println("stopped after", saved)
	subscribe(saved, 1)
	// Output:
	// update urn:uuid:1
	// update urn:uuid:2
	// update urn:uuid:3
	// stopped after urn:uuid:3
	// update urn:uuid:4
}
