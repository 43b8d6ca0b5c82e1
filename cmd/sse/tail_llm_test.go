package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/llmtest"
)

// llmServer starts the LLM-shaped test server.
func llmServer(t *testing.T) (*httptest.Server, *llmtest.Server) {
	t.Helper()
	var h llmtest.Server
	return tailServer(t, h.ServeHTTP), &h
}

// bounded is a context that ends a tail that would otherwise run on (a
// request sent again and again), so that the test fails instead of hanging.
// It guards against a hang and times nothing: TestTailMaxEventSize's 8 MiB
// event took 17 s under -race at a load average of 39, so it is generous.
func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func lines(s []string) string { return strings.Join(s, "\n") + "\n" }

// TestTailCompletion: an OpenAI-shaped completion, POSTed once and printed
// data only up to its [DONE], in each wire form seen in the wild.
func TestTailCompletion(t *testing.T) {
	srv, h := llmServer(t)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{llmtest.PathDone, llmtest.Chunks()},
		{llmtest.PathBareCR, llmtest.Chunks()}, // WHATWG HTML 9.2.5: a bare CR ends a line
		{llmtest.PathNoSpace, func() (c []string) { // "data:" without a space, data over two lines
			for _, s := range llmtest.Chunks() {
				c = append(c, s[:len(s)/2]+"\n"+s[len(s)/2:])
			}
			return c
		}()},
	} {
		t.Run(tc.path, func(t *testing.T) {
			n := len(h.Requests())
			code, stdout, stderr := tail(t, bounded(t), "--data-only", "--done", "[DONE]",
				"-H", "Content-Type: application/json", "-H", "Authorization: Bearer sk-test",
				"-d", `{"model":"m","stream":true}`, srv.URL+tc.path)
			if code != 0 || stdout != lines(tc.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			reqs := h.Requests()[n:]
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != "POST" || string(r.Body) != `{"model":"m","stream":true}` ||
				r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Authorization") != "Bearer sk-test" {
				t.Errorf("request %s %q %v", r.Method, r.Body, r.Header)
			}
		})
	}
}

// TestTailIncomplete: with --done, a stream that ends any other way exits 1
// with a message, after one request.
func TestTailIncomplete(t *testing.T) {
	srv, h := llmServer(t)
	for _, tc := range []struct{ path, want string }{
		{llmtest.PathEOF, "server closed the stream"},
		{llmtest.PathCut, "unexpected EOF"},
		{llmtest.PathError, "server closed the stream"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			n := len(h.Requests())
			code, stdout, stderr := tail(t, bounded(t), "--json", "--done", "[DONE]", "-d", "{}", srv.URL+tc.path)
			if code != 1 || !strings.Contains(stderr, "completing event") || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr, tc.want)
			}
			if stdout == "" {
				t.Error("the events before the end were not printed")
			}
			if got := len(h.Requests()) - n; got != 1 {
				t.Errorf("%d requests, want 1", got)
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: a\n\n")
			http.NewResponseController(w).Flush()
			<-r.Context().Done()
		}))
		defer hang.Close()
		code, _, stderr := tail(t, bounded(t), "--done", "[DONE]", "--timeout", "100ms", "-d", "{}", hang.URL)
		if code != 1 || !strings.Contains(stderr, "--timeout") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
}

// TestTailSentOnce: a request with a body (or any method but GET and
// QUERY) is never sent again: the command ends with its stream.
func TestTailSentOnce(t *testing.T) {
	srv, h := llmServer(t)
	for _, tc := range []struct {
		args []string
		path string
		code int
		want string // in stderr
	}{
		{[]string{"-d", "{}"}, llmtest.PathEOF, 0, "CLOSED"},
		{[]string{"-X", "POST"}, llmtest.PathEOF, 0, "CLOSED"},
		{[]string{"-X", "DELETE"}, llmtest.PathEOF, 0, "CLOSED"},
		{[]string{"--request", "PATCH", "--data", "x"}, llmtest.PathEOF, 0, "CLOSED"},
		{[]string{"-d", "{}"}, llmtest.PathCut, 1, "unexpected EOF"},
		{[]string{"-d", "{}"}, llmtest.PathHalf, 1, "middle of an event"},
	} {
		t.Run(strings.Join(tc.args, " ")+" "+tc.path, func(t *testing.T) {
			n := len(h.Requests())
			code, stdout, stderr := tail(t, bounded(t), append(tc.args, "--data-only", srv.URL+tc.path)...)
			if code != tc.code || !strings.Contains(stderr, tc.want) || !strings.HasPrefix(lines(llmtest.Chunks()), stdout) || stdout == "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d and %q", code, stdout, stderr, tc.code, tc.want)
			}
			if got := len(h.Requests()) - n; got != 1 {
				t.Errorf("%d requests, want 1", got)
			}
		})
	}
}

// TestTailGetReconnectsUntilDone: GET keeps the browser's reconnection, also
// with --done.
func TestTailGetReconnectsUntilDone(t *testing.T) {
	var hits atomic.Int32
	srv := tailServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		if hits.Add(1) == 1 {
			io.WriteString(w, "retry: 1\nid: 1\ndata: a\n\n")
			return
		}
		if r.Header.Get("Last-Event-ID") != "1" {
			t.Errorf("Last-Event-ID %q", r.Header.Get("Last-Event-ID"))
		}
		io.WriteString(w, "data: b\n\ndata: [DONE]\n\ndata: after\n\n")
	})
	for _, method := range []string{"GET", "QUERY"} {
		hits.Store(0)
		code, stdout, stderr := tail(t, bounded(t), "-X", method, "--done", "[DONE]", "--data-only", srv.URL)
		if code != 0 || stdout != "a\nb\n" || hits.Load() != 2 {
			t.Errorf("%s: exit %d after %d requests, stdout %q, stderr %q", method, code, hits.Load(), stdout, stderr)
		}
	}
}

// TestTailData: -d sends its bytes exactly as curl --data-binary does.
func TestTailData(t *testing.T) {
	raw := "line 1\r\nline 2\n\x00\xff tail\n"
	file := filepath.Join(t.TempDir(), "body.bin")
	if err := os.WriteFile(file, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, h := llmServer(t)
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		body  string
		ctype string
	}{
		{"file", "", []string{"-d", "@" + file}, raw, "application/x-www-form-urlencoded"},
		{"stdin", raw, []string{"-d", "@-", "-H", "Content-Type: text/plain"}, raw, "text/plain"},
		{"literal", "", []string{"-d", "a=1", "--data", "b=@2"}, "a=1&b=@2", "application/x-www-form-urlencoded"},
		{"empty", "", []string{"-d", ""}, "", "application/x-www-form-urlencoded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(h.Requests())
			code, _, stderr := tailIn(t, bounded(t), strings.NewReader(tc.stdin), append(tc.args, "--done", "[DONE]", srv.URL+llmtest.PathDone)...)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			r := h.Requests()[n]
			if r.Method != "POST" || string(r.Body) != tc.body || r.Header.Get("Content-Type") != tc.ctype {
				t.Errorf("request %s %q (Content-Type %q), want POST %q (%q)", r.Method, r.Body, r.Header.Get("Content-Type"), tc.body, tc.ctype)
			}
		})
	}
}

// TestTailMaxEventSize: the default takes an 8 MiB event; the flag bounds
// it.
func TestTailMaxEventSize(t *testing.T) {
	srv, _ := llmServer(t)
	code, stdout, stderr := tail(t, bounded(t), "--data-only", "--done", "[DONE]", "-d", "{}", srv.URL+llmtest.PathBig)
	if code != 0 || stdout != llmtest.BigData()+"\n" {
		t.Errorf("exit %d, %d bytes out, stderr %q", code, len(stdout), stderr)
	}
	code, _, stderr = tail(t, bounded(t), "--max-event-size", "1000", "--done", "[DONE]", "-d", "{}", srv.URL+llmtest.PathBig)
	if code != 1 || !strings.Contains(stderr, "too large") || !strings.Contains(stderr, "--max-event-size") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestTailDataOnly: the data alone, multi-line data as it is, no retry
// lines.
func TestTailDataOnly(t *testing.T) {
	srv, _ := streamOnceTail(t, "retry: 10\nevent: x\nid: 1\ndata: a\ndata: b\n\ndata: \x1b[2J\n\n")
	code, stdout, stderr := tail(t, bounded(t), "--data-only", srv.URL)
	if code != 0 || stdout != "a\nb\n\x1b[2J\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// streamOnceTail serves one stream of body, then 204.
func streamOnceTail(t *testing.T, body string) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	srv := tailServer(t, func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) > 1 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, body)
	})
	return srv, &hits
}

// TestTailCredentialsStayAtOrigin: 'sse tail -H Authorization:…' sends the
// header to the URL's origin only, not after a redirect to another one, nor
// on reconnecting there.
func TestTailCredentialsStayAtOrigin(t *testing.T) {
	var hits atomic.Int32
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		if v := r.Header.Get("Authorization") + r.Header.Get("Cookie"); v != "" {
			t.Errorf("request %d to the other origin carries %q", n, v)
		}
		if n > 1 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "retry: 0\ndata: a\n\n")
	}))
	srv := tailServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/stream", http.StatusFound)
	})
	other.Start()
	t.Cleanup(other.Close)
	code, stdout, stderr := tail(t, bounded(t), "--data-only", "-H", "Authorization: Bearer secret", "-H", "Cookie: s=1", srv.URL)
	if code != 0 || stdout != "a\n" || hits.Load() != 2 {
		t.Errorf("exit %d after %d requests, stdout %q, stderr %q", code, hits.Load(), stdout, stderr)
	}
}

func TestTailUsageNewFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--json", "--data-only", "http://a"},
		{"--max-event-size", "0", "http://a"},
		{"-X", "BAD METHOD", "http://a"},
		{"-d", "@/nonexistent/body", "http://a"},
	} {
		code, stdout, stderr := tail(t, context.Background(), args...)
		if code != 2 || stdout != "" || stderr == "" {
			t.Errorf("tail %q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
	code, _, stderr := tail(t, context.Background(), "-h")
	for _, s := range []string{"Exit status", "--done", "-data-only", "-max-event-size", "-request", "curl"} {
		if code != 0 || !strings.Contains(stderr, s) {
			t.Errorf("-h: exit %d, no %q in %q", code, s, stderr)
		}
	}
}
