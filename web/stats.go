package web

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// statsInterval is how often the dashboard's stream sends figures.
const statsInterval = time.Second

// historyTimeout bounds Options.HistorySize, so a slow log cannot stall the
// stream.
const historyTimeout = 500 * time.Millisecond

// figures is one sample of the dashboard's stream, sent as JSON data.
type figures struct {
	Time            time.Time `json:"time"`
	Subscribers     int64     `json:"subscribers"`
	Topics          int       `json:"topics"`    // distinct exact selectors subscribed
	Templates       int       `json:"templates"` // distinct template and "*" selectors
	Published       uint64    `json:"published"`
	Delivered       uint64    `json:"delivered"`
	SlowDisconnects uint64    `json:"slowDisconnects"`
	// The rates are per second since the previous sample; the first
	// sample has none.
	PublishedRate *float64 `json:"publishedPerSecond,omitempty"`
	DeliveredRate *float64 `json:"deliveredPerSecond,omitempty"`
	History       *int     `json:"history,omitempty"`
	HistoryError  string   `json:"historyError,omitempty"`
	Memory        memory   `json:"memory"`
}

// memory are the runtime's figures, read with runtime/metrics, which does
// not stop the world.
type memory struct {
	Total      uint64 `json:"total"` // all memory mapped by the Go runtime
	Heap       uint64 `json:"heap"`  // heap objects, live and not yet swept
	Goroutines uint64 `json:"goroutines"`
}

// sampler takes the figures every dashboard stream sends. All streams share
// one: however many are open, the hub and its store are read at most once
// per freshFor, and the streams in between get the same figures (issue 19
// item 7: 2,000 streams used to read the store 2,000 times a second). It
// remembers the previous sample to compute rates.
type sampler struct {
	h *handler

	mu      sync.Mutex
	samples []metrics.Sample
	prev    *figures
}

// freshFor is how long a sample serves the streams: a little under their
// interval, so each stream still sends new figures every tick.
const freshFor = statsInterval * 9 / 10

func (h *handler) newSampler() *sampler {
	return &sampler{h: h, samples: []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/sched/goroutines:goroutines"},
	}}
}

// latest returns the last sample if it is fresh, else takes a new one.
func (s *sampler) latest() figures {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.prev; p != nil && time.Since(p.Time) < freshFor {
		return *p
	}
	// Not a stream's context: the sample is every stream's.
	return s.sample(context.Background())
}

// sample takes new figures. Called with s.mu held.
func (s *sampler) sample(ctx context.Context) figures {
	st := s.h.opts.Hub.Stats()
	f := figures{
		Time:            time.Now(),
		Subscribers:     st.Subscribers,
		Topics:          st.Topics,
		Templates:       st.Templates,
		Published:       st.Published,
		Delivered:       st.Delivered,
		SlowDisconnects: st.SlowDisconnects,
	}
	if p := s.prev; p != nil {
		if dt := f.Time.Sub(p.Time).Seconds(); dt > 0 {
			pub := float64(f.Published-p.Published) / dt
			del := float64(f.Delivered-p.Delivered) / dt
			f.PublishedRate, f.DeliveredRate = &pub, &del
		}
	}
	if size := s.h.opts.HistorySize; size != nil {
		ctx, cancel := context.WithTimeout(ctx, historyTimeout)
		n, err := size(ctx)
		cancel()
		if err != nil {
			f.HistoryError = err.Error()
		} else {
			f.History = &n
		}
	}
	metrics.Read(s.samples)
	f.Memory = memory{
		Total:      uint64Value(s.samples[0]),
		Heap:       uint64Value(s.samples[1]),
		Goroutines: uint64Value(s.samples[2]),
	}
	s.prev = &f
	return f
}

func uint64Value(s metrics.Sample) uint64 {
	if s.Value.Kind() != metrics.KindUint64 {
		return 0 // a metric this Go version does not have
	}
	return s.Value.Uint64()
}

// stats streams the hub's figures to the dashboard every statsInterval until
// the client goes away.
func (h *handler) stats(w http.ResponseWriter, r *http.Request) {
	var expired <-chan time.Time
	if admit := h.opts.AdmitStats; admit != nil {
		release, until, ok := admit(w, r)
		if !ok {
			return
		}
		defer release()
		if !until.IsZero() {
			// A token must not buy a stream that outlives it.
			exp := time.NewTimer(time.Until(until))
			defer exp.Stop()
			expired = exp.C
		}
	}
	stream, err := sse.NewStream(w, r, sse.StreamOptions{Retry: 2 * time.Second})
	if err != nil {
		h.log.Error("web: open the figures stream", "err", err)
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	defer stream.Close()
	t := time.NewTicker(statsInterval)
	defer t.Stop()
	for {
		data, err := json.Marshal(h.sampler.latest())
		if err != nil {
			h.log.Error("web: encode figures", "err", err)
			return
		}
		if err := stream.Send(sse.Event{Type: "stats", Data: string(data)}); err != nil {
			return // the client went away or stopped reading
		}
		select {
		case <-stream.Done():
			return
		case <-expired:
			return
		case <-t.C:
		}
	}
}
