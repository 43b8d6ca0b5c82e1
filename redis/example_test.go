package redis_test

import (
	"context"
	"log"
	"log/slog"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/redis"
)

// Several hub processes started this way, with the same URL and prefix,
// serve the same updates in the same order; a subscriber can resume on any
// of them with the last event ID it received from another.
func ExampleOpen() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := redis.Open(ctx, "redis://127.0.0.1:6379/0", redis.Options{
		MaxLen: 100_000,
		MaxAge: 24 * time.Hour,
		Logger: slog.Default(),
	})
	if err != nil {
		log.Fatal(err) // wraps redis.ErrUnavailable if Redis did not answer
	}
	defer l.Close() // after the hub's Close: the hub does not close a Log it was given

	h, err := hub.New(hub.Options{Log: l})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close(context.Background())
}
