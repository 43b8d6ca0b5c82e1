package main

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"

	r3 "github.com/r3labs/sse/v2"
)

// newR3labs serves github.com/r3labs/sse/v2 with streams created on demand
// and replay off: it would otherwise keep and resend every event ever
// published to a stream, which no other server here does without being
// asked.
func newR3labs(config) (*adapter, error) {
	var ids atomic.Uint64
	s := r3.New()
	s.AutoStream = true
	s.AutoReplay = false
	subscribe := func(w http.ResponseWriter, r *http.Request) {
		// r3labs names its stream with the "stream" parameter and serves
		// one stream per connection: the first topic.
		q := r.URL.Query()
		q.Set("stream", q.Get("topic"))
		r2 := r.Clone(r.Context())
		r2.URL.RawQuery = q.Encode()
		s.ServeHTTP(w, r2)
	}
	publish := func(w http.ResponseWriter, r *http.Request) {
		topic, data, ok := publishForm(w, r)
		if !ok {
			return
		}
		id := strconv.FormatUint(ids.Add(1), 10)
		// Publishing to a stream nobody created drops the event, as the
		// hubs drop updates nobody subscribes to.
		s.Publish(topic, &r3.Event{ID: []byte(id), Data: []byte(data)})
		w.Write([]byte(id))
	}
	return &adapter{
		handler: mercureShape(subscribe, publish),
		close:   func(context.Context) error { s.Close(); return nil },
	}, nil
}
