package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestBoundDrainingDropsGets(t *testing.T) {
	streams, endStreams := context.WithCancel(context.Background())
	defer endStreams()
	var draining atomic.Bool
	var served atomic.Int32
	srv := httptest.NewServer(bound(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		io.WriteString(w, "served")
	}), streams, &draining))
	defer srv.Close()
	c := newClient(t)
	c.Transport.(*http.Transport).DisableKeepAlives = true

	if code, body := get(t, c, srv.URL); code != http.StatusOK || body != "served" {
		t.Fatalf("before draining: %d %q", code, body)
	}
	draining.Store(true)
	if resp, err := c.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Errorf("GET while draining answered %s, want the connection dropped", resp.Status)
	}
	resp, err := c.Post(srv.URL, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || served.Load() != 2 {
		t.Errorf("POST while draining: %s, handler ran %d times; want it served", resp.Status, served.Load())
	}
}

func TestBoundEndsStreams(t *testing.T) {
	streams, endStreams := context.WithCancel(context.Background())
	var draining atomic.Bool
	ended := make(chan error, 1)
	srv := httptest.NewServer(bound(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		<-r.Context().Done() // a stream that ends only with its request
		ended <- r.Context().Err()
	}), streams, &draining))
	defer srv.Close()
	resp, err := newClient(t).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	endStreams()
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("stream ended with %v", err)
		}
	case <-time.After(waitLong):
		t.Fatal("the stream outlived the end of streams")
	}
}
