package mercure

import (
	"net/url"
	"sync"
	"testing"
	"time"
)

func TestHooks(t *testing.T) {
	var mu sync.Mutex
	var publishes []time.Duration
	subscribers := 0
	changed := make(chan int, 10)
	e := newEnv(t, Options{
		Anonymous: true,
		ObservePublish: func(d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			publishes = append(publishes, d)
		},
		OnSubscriberChange: func(_, delta int) {
			mu.Lock()
			subscribers += delta
			mu.Unlock()
			changed <- delta
		},
	}, hmacPair(), hmacPair())

	s := e.mustOpen(e.subscribeReq("topic=x", ""))
	if d := <-changed; d != 1 {
		t.Fatalf("first change %d", d)
	}
	e.publish(url.Values{"topic": {"x"}, "data": {"1"}})
	s.next()
	// A refused publish is not observed.
	e.do(e.publishReq("topic=x", ""))
	s.close()
	select {
	case d := <-changed:
		if d != -1 {
			t.Fatalf("second change %d", d)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no change when the subscriber left")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(publishes) != 1 || publishes[0] <= 0 || subscribers != 0 {
		t.Fatalf("publishes %v, subscribers %d", publishes, subscribers)
	}
}
