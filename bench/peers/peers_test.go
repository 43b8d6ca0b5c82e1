package main

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestAdapters subscribes to and publishes through every adapter, as sse
// bench does, and checks that the update arrives.
func TestAdapters(t *testing.T) {
	const key = "peers-test-key-0123456789abcdef!"
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"mercure": map[string][]string{"publish": {"*"}, "subscribe": {"*"}},
	}).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	for name, newAdapter := range adapters {
		t.Run(name, func(t *testing.T) {
			a, err := newAdapter(config{data: t.TempDir(), jwtKey: key, history: 100})
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			mux.Handle(path, a.handler)
			srv := httptest.NewServer(mux)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer func() {
				cancel()
				a.close(context.Background())
				srv.Close()
			}()
			topic := "https://example.com/t/1"
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path+"?topic="+url.QueryEscape(topic), nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("subscribe: %s %q", resp.Status, resp.Header.Get("Content-Type"))
			}
			// Some libraries register the subscriber after sending the
			// head: publish until the update shows up.
			got := make(chan string, 1)
			go func() {
				sc := bufio.NewScanner(resp.Body)
				for sc.Scan() {
					if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
						got <- v
						return
					}
				}
			}()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				form := url.Values{"topic": {topic}, "data": {"7 1763700000000000000"}}
				preq, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+path, strings.NewReader(form.Encode()))
				preq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				preq.Header.Set("Authorization", "Bearer "+token)
				presp, err := http.DefaultClient.Do(preq)
				if err != nil {
					t.Fatal(err)
				}
				presp.Body.Close()
				if presp.StatusCode != http.StatusOK {
					t.Fatalf("publish: %s", presp.Status)
				}
				select {
				case v := <-got:
					if v != "7 1763700000000000000" {
						t.Fatalf("data %q", v)
					}
					return
				case <-tick.C:
				case <-ctx.Done():
					t.Fatal("no update received")
				}
			}
		})
	}
}

func TestPublishFormErrors(t *testing.T) {
	h := mercureShape(func(w http.ResponseWriter, r *http.Request) {}, func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := publishForm(w, r); ok {
			w.Write([]byte("ok"))
		}
	})
	for _, tc := range []struct {
		method, target, body string
		status               int
	}{
		{"GET", path, "", http.StatusBadRequest},
		{"POST", path, "data=x", http.StatusBadRequest},
		{"POST", path, "topic=t&data=x", http.StatusOK},
		{"PUT", path, "", http.StatusMethodNotAllowed},
	} {
		req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != tc.status {
			t.Errorf("%s %s %q: %d, want %d", tc.method, tc.target, tc.body, w.Code, tc.status)
		}
	}
}
