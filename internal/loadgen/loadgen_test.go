package loadgen

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoHub is the least Mercure-shaped server: every POSTed data goes to
// every open GET stream of its topic, in order.
func echoHub(t *testing.T) string {
	t.Helper()
	var mu sync.Mutex
	subs := map[string][]chan string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		topic := r.FormValue("topic")
		if r.Method == http.MethodPost {
			mu.Lock()
			for _, c := range subs[topic] {
				c <- r.FormValue("data")
			}
			mu.Unlock()
			w.Write([]byte("urn:id"))
			return
		}
		c := make(chan string, 1000)
		mu.Lock()
		subs[topic] = append(subs[topic], c)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		w.(http.Flusher).Flush()
		for {
			select {
			case d := <-c:
				w.Write([]byte("data: " + d + "\n\n"))
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func config(url string) Config {
	return Config{
		URL: url, Mode: ModeFanout, Connections: 5, Rate: 0, Events: 20, Duration: 10 * time.Second,
		Publishers: 1, ConnectTimeout: 10 * time.Second, Drain: 5 * time.Second, DialConcurrency: 4,
		Topic: "https://example.com/t", Procs: 1,
	}
}

// TestRun drives the package's API without the command line: a run's
// Result counts what the server delivered.
func TestRun(t *testing.T) {
	cfg := config(echoHub(t))
	cfg.Name = "echo"
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != "echo" || res.Mode != ModeFanout || res.Connected != 5 || res.Published != 20 ||
		res.Expected != 100 || res.Delivered != 100 || res.Lost != 0 || res.LatencyMs == nil || res.LatencyMs.N != 100 {
		t.Fatalf("result %+v", res)
	}
	var summary strings.Builder
	res.WriteSummary(&summary)
	if !strings.Contains(summary.String(), "delivered    100 of 100") {
		t.Errorf("summary:\n%s", summary.String())
	}
}

// TestRunRefuses: a Config that cannot make a run is a *ConfigError naming
// the field, a target off this machine a *TargetError, before anything is
// dialed.
func TestRunRefuses(t *testing.T) {
	for _, tc := range []struct {
		field string
		edit  func(*Config)
	}{
		{"Mode", func(c *Config) { c.Mode = "storm" }},
		{"Connections", func(c *Config) { c.Mode, c.Connections = ModeIdle, 0 }},
		{"Duration", func(c *Config) { c.Duration = MaxDuration + time.Second }},
		{"Procs", func(c *Config) { c.Procs = 65 }},
		{"Child", func(c *Config) { c.Procs = 2 }},
		{"Topic", func(c *Config) { c.Topic = "" }},
	} {
		cfg := config("http://127.0.0.1:1/")
		tc.edit(&cfg)
		_, err := Run(context.Background(), cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field || !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Run = %v, want a *ConfigError for it", tc.field, err)
		}
	}
	_, err := Run(context.Background(), config("http://192.0.2.1/"))
	var te *TargetError
	if !errors.As(err, &te) || !errors.Is(err, ErrNotLoopback) {
		t.Errorf("off-machine target: Run = %v, want a *TargetError wrapping ErrNotLoopback", err)
	}
}
