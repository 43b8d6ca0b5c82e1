package main

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/launchdarkly/eventsource"
)

// esEvent is an eventsource.Event.
type esEvent struct{ id, data string }

func (e esEvent) Id() string    { return e.id }
func (e esEvent) Event() string { return "" }
func (e esEvent) Data() string  { return e.data }

// newEventsource serves github.com/launchdarkly/eventsource's Server, a
// channel per topic.
func newEventsource(config) (*adapter, error) {
	var ids atomic.Uint64
	s := eventsource.NewServer()
	subscribe := func(w http.ResponseWriter, r *http.Request) {
		s.Handler(r.URL.Query().Get("topic"))(w, r)
	}
	publish := func(w http.ResponseWriter, r *http.Request) {
		topic, data, ok := publishForm(w, r)
		if !ok {
			return
		}
		id := strconv.FormatUint(ids.Add(1), 10)
		s.Publish([]string{topic}, esEvent{id: id, data: data})
		w.Write([]byte(id))
	}
	return &adapter{
		handler: mercureShape(subscribe, publish),
		close:   func(context.Context) error { s.Close(); return nil },
	}, nil
}
