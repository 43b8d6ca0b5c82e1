package mercure

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/sse"
)

// waitTimeout bounds every wait of the end-to-end tests, so a broken
// handler fails them instead of hanging.
const waitTimeout = 5 * time.Second

// env is a Handler on a real hub with an in-memory log, served over
// loopback HTTP.
type env struct {
	t        *testing.T
	srv      *httptest.Server
	h        *Handler
	hub      *hub.Hub
	log      *hub.MemoryLog
	pub, sub keyPair
}

// newEnv starts a hub and a server. opts.Hub and the keys are filled in
// from pub and sub.
func newEnv(t *testing.T, opts Options, pub, sub keyPair) *env {
	t.Helper()
	return newEnvLog(t, opts, pub, sub, hub.MemoryLogOptions{})
}

// newEnvLog is newEnv with a log of the given options.
func newEnvLog(t *testing.T, opts Options, pub, sub keyPair, lo hub.MemoryLogOptions) *env {
	t.Helper()
	return newEnvHub(t, opts, pub, sub, lo, hub.Options{})
}

// newEnvHub is newEnvLog on a hub with the options ho, but for its log
// and logger.
func newEnvHub(t *testing.T, opts Options, pub, sub keyPair, lo hub.MemoryLogOptions, ho hub.Options) *env {
	t.Helper()
	log := hub.NewMemoryLog(lo)
	ho.Log, ho.Logger = log, quietLogger()
	hb, err := hub.New(ho)
	if err != nil {
		t.Fatal(err)
	}
	opts.Hub = hb
	opts.PublisherKey, opts.Algorithm = pub.verify, pub.alg
	opts.SubscriberKey, opts.SubscriberAlgorithm = sub.verify, sub.alg
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, h: h, hub: hb, log: log, pub: pub, sub: sub}
	e.srv = httptest.NewServer(h)
	t.Cleanup(func() {
		e.srv.CloseClientConnections()
		e.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := hb.Close(ctx); err != nil {
			t.Errorf("hub.Close: %v", err)
		}
		log.Close()
	})
	return e
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// do sends a request and returns the response with its body read.
func (e *env) do(r *http.Request) (*http.Response, string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(r.Context(), waitTimeout)
	defer cancel()
	resp, err := e.srv.Client().Do(r.WithContext(ctx))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, string(b)
}

// publishReq builds a publish request; token "" sends none.
func (e *env) publishReq(body, token string) *http.Request {
	r, err := http.NewRequest("POST", e.srv.URL+Path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

// publish publishes form with a token allowed to publish anywhere and
// returns the update's ID.
func (e *env) publish(form url.Values) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	id, err := Publish(ctx, e.srv.Client(), e.srv.URL+Path, e.pub.mint(e.t, pubClaims("*"), nil), form)
	if err != nil {
		e.t.Fatalf("publish %v: %v", form, err)
	}
	return id
}

// stream is an open subscription read with the sse package's decoder.
type stream struct {
	t      *testing.T
	resp   *http.Response
	events chan sse.Event
	cancel context.CancelFunc
}

// subscribeReq builds a subscribe request for query; token "" sends none.
func (e *env) subscribeReq(query, token string) *http.Request {
	r, err := http.NewRequest("GET", e.srv.URL+Path+"?"+query, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

// open sends a subscribe request and, if it gets a stream, reads its
// events in the background until the test ends. A non-200 answer is
// returned with its body and a nil stream.
func (e *env) open(r *http.Request) (*stream, *http.Response, string) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := e.srv.Client().Do(r.WithContext(ctx))
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return nil, resp, string(b)
	}
	s := &stream{t: e.t, resp: resp, events: make(chan sse.Event, 100), cancel: cancel}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.events)
		for ev, err := range sse.Events(resp.Body) {
			if err != nil {
				return
			}
			// A test that stopped reading (it failed) must not keep its
			// cleanup waiting: cancel ends the send.
			select {
			case s.events <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	e.t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	return s, resp, ""
}

// mustOpen opens a subscription that must succeed.
func (e *env) mustOpen(r *http.Request) *stream {
	e.t.Helper()
	s, resp, body := e.open(r)
	if s == nil {
		e.t.Fatalf("subscribe %s: %d %s", r.URL, resp.StatusCode, body)
	}
	return s
}

// next returns the next event, failing the test after waitTimeout.
func (s *stream) next() sse.Event {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.t.Fatal("stream ended")
		}
		return ev
	case <-time.After(waitTimeout):
		s.t.Fatal("no event within", waitTimeout)
	}
	return sse.Event{}
}

// until returns the data of the events received up to and including the
// first one whose data is marker.
func (s *stream) until(marker string) []string {
	s.t.Helper()
	var got []string
	for {
		ev := s.next()
		got = append(got, ev.Data)
		if ev.Data == marker {
			return got
		}
	}
}

// close ends the subscription from the client side.
func (s *stream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// with returns a copy of e that reports to t, for use in subtests.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}
