package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/mercure"
)

// BenchmarkDurablePublishHTTP measures durable publishes per second over
// loopback HTTP into the hub as the binary wires it (mercure on a bolt
// log whose appends return after fsync), with many concurrent publishers,
// each on its own keep-alive connection. group_commit is the default;
// one_tx_per_append is the baseline that commits and syncs every append on
// its own. Durable throughput is the publishes per commit over the
// commit's latency (two fsyncs), so it is measured at two publisher
// counts: group commit grows its batches with the load, the baseline
// cannot.
func BenchmarkDurablePublishHTTP(b *testing.B) {
	for _, publishers := range []int{64, 256} {
		b.Run(fmt.Sprintf("group_commit/publishers=%d", publishers), func(b *testing.B) { benchDurablePublish(b, publishers, false) })
		b.Run(fmt.Sprintf("one_tx_per_append/publishers=%d", publishers), func(b *testing.B) { benchDurablePublish(b, publishers, true) })
	}
}

func benchDurablePublish(b *testing.B, publishers int, noGroupCommit bool) {
	cfg, err := parseConfig([]string{"--addr", "127.0.0.1:0", "--data", b.TempDir(), "--jwt-key", testKey, "--demo=false"}, noEnv, &strings.Builder{})
	if err != nil {
		b.Fatal(err)
	}
	r := startConfig(b, cfg, runEnv{Logger: slog.New(slog.DiscardHandler), NoGroupCommit: noGroupCommit})
	endpoint := r.base + mercure.Path
	auth := "Bearer " + token(b, testKey, []string{"*"}, nil, time.Hour)
	body := []byte(url.Values{"topic": {"https://example.com/bench"}, "data": {strings.Repeat("x", 100)}}.Encode())

	clients := make([]*http.Client, publishers)
	for i := range clients {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		b.Cleanup(tr.CloseIdleConnections)
		clients[i] = &http.Client{Transport: tr}
	}
	publish := func(c *http.Client) bool {
		req, _ := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", auth)
		resp, err := c.Do(req)
		if err != nil {
			b.Error(err)
			return false
		}
		var id [64]byte
		n, _ := resp.Body.Read(id[:])
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || n == 0 {
			b.Errorf("publish: %s", resp.Status)
			return false
		}
		return true
	}
	// Open every connection before timing.
	for _, c := range clients {
		if !publish(c) {
			return
		}
	}

	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for _, c := range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if !publish(c) {
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "publishes/s")
}
