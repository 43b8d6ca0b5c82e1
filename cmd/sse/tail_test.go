package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/sse"
)

// tail runs 'sse tail args...' in-process and returns its exit status and
// output.
func tail(t *testing.T, ctx context.Context, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return tailIn(t, ctx, strings.NewReader(""), args...)
}

// tailIn is tail with stdin as standard input.
func tailIn(t *testing.T, ctx context.Context, stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(ctx, append([]string{"tail"}, args...), env{stdin: stdin, stdout: &out, stderr: &errOut})
	return code, out.String(), errOut.String()
}

func tailServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// streamForever sends a numbered event every few milliseconds until the
// client leaves.
func streamForever(w http.ResponseWriter, r *http.Request) {
	s, err := sse.NewStream(w, r, sse.StreamOptions{})
	if err != nil {
		return
	}
	defer s.Close()
	for i := 1; ; i++ {
		if s.Send(sse.Event{ID: fmt.Sprint(i), Data: fmt.Sprint(i)}) != nil {
			return
		}
		select {
		case <-s.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestTailJSON(t *testing.T) {
	srv, _ := streamOnceTail(t, "retry: 20\nid: 1\nevent: greet\ndata: hi\ndata: there\n\n: comment\ndata: plain\n\n")
	code, stdout, stderr := tail(t, context.Background(), "--json", srv.URL)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var got []map[string]any
	for line := range strings.Lines(stdout) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		got = append(got, m)
	}
	want := []map[string]any{
		{"retry": 20.0},
		{"type": "greet", "data": "hi\nthere", "id": "1"},
		{"type": "message", "data": "plain", "id": "1"},
	}
	if len(got) != len(want) {
		t.Fatalf("stdout %q", stdout)
	}
	for i := range want {
		for k, v := range want[i] {
			if got[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v (%q)", i, k, got[i][k], v, stdout)
			}
		}
	}
	for _, s := range []string{"OPEN", "CLOSED"} {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr %q does not report state %s", stderr, s)
		}
	}
}

func TestTailHuman(t *testing.T) {
	srv := tailServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: greet\ndata: hello world\n\n")
	})
	code, stdout, stderr := tail(t, context.Background(), "--max-events", "1", srv.URL)
	if code != 0 || !strings.Contains(stdout, "hello world") || !strings.Contains(stdout, "greet") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestTailRequest(t *testing.T) {
	srv := tailServer(t, func(w http.ResponseWriter, r *http.Request) {
		checks := map[string][2]string{
			"Authorization": {r.Header.Get("Authorization"), "Bearer abc"},
			"X-Two":         {r.Header.Get("X-Two"), "a: b"},
			"Last-Event-ID": {r.Header.Get("Last-Event-ID"), "41"},
			"Accept":        {r.Header.Get("Accept"), "text/event-stream"},
			"topics":        {strings.Join(r.URL.Query()["topic"], " "), "a/b https://x/{id}"},
			"match":         {strings.Join(r.URL.Query()["match"], " "), "c *"},
			"urlpatterns":   {strings.Join(r.URL.Query()["match_urlpattern"], " "), "https://x/:id"},
			"q":             {r.URL.Query().Get("q"), "1"},
		}
		for k, v := range checks {
			if v[0] != v[1] {
				t.Errorf("%s = %q, want %q", k, v[0], v[1])
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})
	code, _, stderr := tail(t, context.Background(),
		"-H", "Authorization: Bearer abc", "-H", "X-Two:a: b", "--last-event-id", "41",
		"--topic", "a/b", "--topic", "https://x/{id}", "--match", "c", "--match", "*", "--match-urlpattern", "https://x/:id", srv.URL+"?q=1")
	if code != 0 {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestTailMaxEvents(t *testing.T) {
	srv := tailServer(t, streamForever)
	code, stdout, stderr := tail(t, context.Background(), "--json", "--max-events", "3", srv.URL)
	if n := strings.Count(stdout, "\n"); code != 0 || n != 3 {
		t.Errorf("exit %d, %d lines %q, stderr %q", code, n, stdout, stderr)
	}
}

func TestTailTimeout(t *testing.T) {
	srv := tailServer(t, func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewStream(w, r, sse.StreamOptions{})
		if err != nil {
			return
		}
		defer s.Close()
		<-s.Done()
	})
	start := time.Now()
	code, _, stderr := tail(t, context.Background(), "--timeout", "200ms", srv.URL)
	if code != 0 || time.Since(start) < 200*time.Millisecond || time.Since(start) > 10*time.Second {
		t.Errorf("exit %d after %v, stderr %q", code, time.Since(start), stderr)
	}
}

func TestTailInterrupt(t *testing.T) {
	srv := tailServer(t, streamForever)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(100*time.Millisecond, cancel)
	code, stdout, stderr := tail(t, ctx, "--json", srv.URL)
	if code != 0 || stdout == "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestTailFatal(t *testing.T) {
	for name, tc := range map[string]struct {
		h    http.HandlerFunc
		want string
	}{
		"status": {func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, "404 Not Found"},
		"content type": {func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<p>hi</p>")
		}, `"text/html"`},
	} {
		t.Run(name, func(t *testing.T) {
			srv := tailServer(t, tc.h)
			code, _, stderr := tail(t, context.Background(), srv.URL)
			if code != 1 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q, want 1 and %q", code, stderr, tc.want)
			}
		})
	}
}

func TestTailNoReconnect(t *testing.T) {
	t.Run("unreachable", func(t *testing.T) {
		defer goleak.VerifyNone(t)
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close() // nothing listens there any more
		code, _, stderr := tail(t, context.Background(), "--no-reconnect", srv.URL)
		if code != 1 || !strings.Contains(stderr, "refused") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("stream ends", func(t *testing.T) {
		var hits atomic.Int32
		srv := tailServer(t, func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: once\n\n")
		})
		code, stdout, stderr := tail(t, context.Background(), "--no-reconnect", "--json", srv.URL)
		if code != 0 || hits.Load() != 1 || strings.Count(stdout, "\n") != 1 {
			t.Errorf("exit %d after %d requests, stdout %q, stderr %q", code, hits.Load(), stdout, stderr)
		}
	})
}

func TestTailReconnects(t *testing.T) {
	var hits atomic.Int32
	srv := tailServer(t, func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		if n == 3 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if n == 2 && r.Header.Get("Last-Event-ID") != "a1" {
			t.Errorf("Last-Event-ID %q", r.Header.Get("Last-Event-ID"))
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "retry: 1\nid: a%d\ndata: %d\n\n", n, n)
	})
	code, stdout, stderr := tail(t, context.Background(), "--json", srv.URL)
	if code != 0 || strings.Count(stdout, `"data"`) != 2 || !strings.Contains(stderr, "reconnecting") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestTailUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"http://a", "http://b"},
		{"ftp://host/x"},
		{"/relative"},
		{"-H", "no colon", "http://a"},
		{"-H", "Bad Name: x", "http://a"},
		{"--max-events", "-1", "http://a"},
		{"--max-events", "many", "http://a"},
		{"--timeout", "-1s", "http://a"},
		{"--last-event-id", "a\nb", "http://a"},
		{"--unknown", "http://a"},
	} {
		code, stdout, stderr := tail(t, context.Background(), args...)
		if code != 2 || stdout != "" || stderr == "" {
			t.Errorf("tail %q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
	if code, _, stderr := tail(t, context.Background(), "-h"); code != 0 || !strings.Contains(stderr, "--no-reconnect") && !strings.Contains(stderr, "-no-reconnect") {
		t.Errorf("-h: exit %d, %q", code, stderr)
	}
}

func TestParseHeader(t *testing.T) {
	for in, want := range map[string][]string{
		"A: b":          {"A", "b"},
		"A:b":           {"A", "b"},
		"A:":            {"A", ""},
		"X-T:  a: b  ":  {"X-T", "a: b"},
		"":              nil,
		": v":           nil,
		"A B: v":        nil,
		"A: v\r\nB: w":  nil,
		"Ä: v":          nil,
		"A\x00: v":      nil,
		"A: \x00":       nil,
		"Last-Event-ID": nil,
	} {
		name, value, err := parseHeader(in)
		got := []string{name, value}
		if err != nil {
			got = nil
		}
		if !slices.Equal(got, want) {
			t.Errorf("parseHeader(%q) = %q, %q, %v; want %q", in, name, value, err, want)
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{"A: b", "X-T:  a: b  ", ": v", "A B: v", "A: v\r\nB: w"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, value, err := parseHeader(s)
		if err != nil {
			return
		}
		// Whatever it accepts must be a header net/http will send as is.
		h := http.Header{}
		h.Add(name, value)
		var b bytes.Buffer
		if err := h.Write(&b); err != nil {
			t.Fatal(err)
		}
		if got := b.String(); strings.Count(got, "\r\n") != 1 {
			t.Fatalf("%q written as %q", s, got)
		}
	})
}
