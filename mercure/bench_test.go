package mercure

import (
	"context"
	"crypto/elliptic"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/sse"
)

// BenchmarkVerify measures a full verification, signature and claims, as
// for a token the cache has not seen (BenchmarkVerifyCache has the hits).
func BenchmarkVerify(b *testing.B) {
	for _, p := range []keyPair{hmacPair(), rsaPair(b), ecPair(b, elliptic.P256(), "ES256"), edPair(b)} {
		b.Run(p.alg, func(b *testing.B) {
			v, err := newVerifier("publisher", p.verify, p.alg)
			if err != nil {
				b.Fatal(err)
			}
			tok := p.mint(b, pubClaims("https://example.com/books/{id}"), nil)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.parse(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPublish measures the handler's publish path in process: token
// verification, form parsing, authorization and the hub's Publish into an
// in-memory log.
func BenchmarkPublish(b *testing.B) {
	log := hub.NewMemoryLog(hub.MemoryLogOptions{MaxLen: 1000})
	hb, err := hub.New(hub.Options{Log: log, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	defer hb.Close(context.Background())
	h, err := New(Options{Hub: hb, PublisherKey: testHMACKey, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	tok := "Bearer " + hmacPair().mint(b, pubClaims("https://example.com/books/{id}"), nil)
	const body = "topic=https%3A%2F%2Fexample.com%2Fbooks%2F1&data=%7B%22title%22%3A%22Dune%22%7D"
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", Path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}

// BenchmarkPublishToSubscribers measures, over loopback HTTP, the time from
// sending a publish request until every subscriber has read the event.
func BenchmarkPublishToSubscribers(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			log := hub.NewMemoryLog(hub.MemoryLogOptions{MaxLen: 1000})
			hb, err := hub.New(hub.Options{Log: log, Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			h, err := New(Options{Hub: hb, PublisherKey: testHMACKey, Anonymous: true, Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(h)
			ctx, cancel := context.WithCancel(context.Background())
			var received sync.WaitGroup
			var readers sync.WaitGroup
			for range n {
				r, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+Path+"?topic=bench", nil)
				resp, err := srv.Client().Do(r)
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatal(err)
				}
				readers.Add(1)
				go func() {
					defer readers.Done()
					defer resp.Body.Close()
					for _, err := range sse.Events(resp.Body) {
						if err != nil {
							return
						}
						received.Done()
					}
				}()
			}
			tok := "Bearer " + hmacPair().mint(b, pubClaims("*"), nil)
			client := srv.Client()
			for b.Loop() {
				received.Add(n)
				r, _ := http.NewRequest("POST", srv.URL+Path, strings.NewReader("topic=bench&data=x"))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				r.Header.Set("Authorization", tok)
				resp, err := client.Do(r)
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatal(err)
				}
				resp.Body.Close()
				received.Wait()
			}
			b.StopTimer()
			cancel()
			readers.Wait()
			srv.CloseClientConnections()
			srv.Close()
			hb.Close(context.Background())
			log.Close()
		})
	}
}
