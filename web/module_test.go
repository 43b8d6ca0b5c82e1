package web_test

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/web"
)

func TestModuleServed(t *testing.T) {
	srv := newServer(t, web.Options{})
	want, err := os.ReadFile("static/ssehub.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, ctype, contains string }{
		{"/ssehub.js", "text/javascript; charset=utf-8", "export class HubEventSource extends EventTarget"},
		{"/ssehub.d.ts", "application/typescript; charset=utf-8", "export class HubEventSource extends EventTarget"},
	} {
		resp, body := get(t, srv.URL+tc.path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", tc.path, resp.Status)
		}
		if got := resp.Header.Get("Content-Type"); got != tc.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.ctype)
		}
		if !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
		if tc.path == "/ssehub.js" && body != string(want) {
			t.Errorf("GET %s: not the embedded static/ssehub.js", tc.path)
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") || strings.Contains(cc, "no-") {
			t.Errorf("GET %s: Cache-Control %q, want cacheable", tc.path, cc)
		}
		// A module script on another origin is fetched with CORS.
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("GET %s: Access-Control-Allow-Origin %q", tc.path, got)
		}
		etag := resp.Header.Get("ETag")
		if len(etag) < 10 || etag[0] != '"' {
			t.Fatalf("GET %s: ETag %q", tc.path, etag)
		}
		req, _ := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
		req.Header.Set("If-None-Match", etag)
		r2, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r2.Body.Close()
		if r2.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match: %s, want 304", tc.path, r2.Status)
		}
		req.Header.Set("If-None-Match", `"other"`)
		if r3, err := http.DefaultClient.Do(req); err != nil || r3.StatusCode != http.StatusOK {
			t.Errorf("GET %s with another ETag: %v %v, want 200", tc.path, r3.Status, err)
		} else {
			r3.Body.Close()
		}
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/ssehub.js", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /ssehub.js: %s", resp.Status)
	}
}

// node finds Node.js for the JavaScript tests. They are skipped when it is
// missing, except when SSEHUB_NODE_TESTS=1 (set by .ci/run).
func node(t testing.TB) string {
	for _, name := range []string{"node", "nodejs"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SSEHUB_NODE_TESTS") == "1" {
		t.Fatal("SSEHUB_NODE_TESTS=1 but no node found (install it, e.g. apt-get install nodejs)")
	}
	t.Skip("skipping: no node found (install it, e.g. apt-get install nodejs; SSEHUB_NODE_TESTS=1 makes this a failure)")
	return ""
}

// TestNode runs the module's own tests, jstest/*.test.mjs, with Node's test
// runner: the parser against the Go parser's vectors, and HubEventSource.
func TestNode(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), node(t), "--test", "--test-reporter=tap", "jstest/")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test jstest/: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "# fail 0") {
		t.Fatalf("node --test jstest/ reports failures:\n%s", out)
	}
	t.Logf("%s", lastLines(string(out), 9))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
