package main

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"

	gosse "github.com/tmaxmax/go-sse"
)

// flushFirst is go-sse's Joe, sending the response head as a session
// subscribes: go-sse otherwise holds it back until the first event, and
// neither a browser's EventSource nor the generator count a connection as
// open before it.
type flushFirst struct{ *gosse.Joe }

func (f flushFirst) Subscribe(ctx context.Context, sub gosse.Subscription) error {
	if err := sub.Client.Flush(); err != nil {
		return err
	}
	return f.Joe.Subscribe(ctx, sub)
}

// newGoSSE serves github.com/tmaxmax/go-sse's Server with its default
// provider (Joe, no replay).
func newGoSSE(config) (*adapter, error) {
	var ids atomic.Uint64
	s := &gosse.Server{
		Provider: flushFirst{&gosse.Joe{}},
		OnSession: func(w http.ResponseWriter, r *http.Request) ([]string, bool) {
			return r.URL.Query()["topic"], true
		},
	}
	publish := func(w http.ResponseWriter, r *http.Request) {
		topic, data, ok := publishForm(w, r)
		if !ok {
			return
		}
		id := strconv.FormatUint(ids.Add(1), 10)
		m := &gosse.Message{ID: gosse.ID(id)}
		m.AppendData(data)
		if err := s.Publish(m, topic); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(id))
	}
	return &adapter{handler: mercureShape(s.ServeHTTP, publish), close: s.Shutdown}, nil
}
