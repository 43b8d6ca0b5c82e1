package hub_test

import (
	"context"
	"fmt"
	"os"

	"github.com/ssehub/ssehub/hub"
)

// writerFunc adapts a function to io.Writer.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func Example() {
	ctx := context.Background()
	h, err := hub.New(hub.Options{})
	if err != nil {
		panic(err)
	}
	defer h.Close(ctx)

	id, _ := h.Publish(ctx, &hub.Update{ID: "1", Topics: []string{"https://example.com/books/1"}, Data: "hello"})
	fmt.Println("published", id)

	sub, _ := h.Subscribe(ctx, hub.Subscription{
		Topics:      []string{"https://example.com/books/{id}"},
		LastEventID: hub.EarliestID,
	})
	fmt.Println("Last-Event-ID:", sub.LastEventID())

	// Stop after the first write; an HTTP handler would run until the
	// client goes away.
	ctx, cancel := context.WithCancel(ctx)
	sub.Run(ctx, writerFunc(func(p []byte) (int, error) {
		os.Stdout.Write(p)
		cancel()
		return len(p), nil
	}))
	// Output:
	// published 1
	// Last-Event-ID: earliest
	// id: 1
	// data: hello
}
