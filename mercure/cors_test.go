package mercure

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestNewCORSRejectsNonOrigins(t *testing.T) {
	for _, o := range []string{"example.com", "https://example.com/path", "https://example.com?q", "://x"} {
		if _, err := newCORS([]string{o}); err == nil || !strings.Contains(err.Error(), "origin") {
			t.Errorf("newCORS(%q) = %v, want an error", o, err)
		}
	}
}

func TestCORSHeaders(t *testing.T) {
	c, err := newCORS([]string{"https://app.example.com", "http://localhost:8080"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, origin, reqMethod string
		wantAllow                       string
		wantPreflight                   bool
	}{
		{"allowed", "GET", "https://app.example.com", "", "https://app.example.com", false},
		{"allowed with port", "GET", "http://localhost:8080", "", "http://localhost:8080", false},
		{"scheme case", "GET", "HTTPS://app.example.com", "", "HTTPS://app.example.com", false},
		{"not allowed", "GET", "https://evil.example.com", "", "", false},
		{"suffix trick", "GET", "https://app.example.com.evil.com", "", "", false},
		{"null origin", "GET", "null", "", "", false},
		{"no origin", "GET", "", "", "", false},
		{"preflight", "OPTIONS", "https://app.example.com", "POST", "https://app.example.com", true},
		{"preflight refused", "OPTIONS", "https://evil.example.com", "POST", "", true},
		{"plain OPTIONS", "OPTIONS", "https://app.example.com", "", "https://app.example.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, Path, nil)
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if tt.reqMethod != "" {
				r.Header.Set("Access-Control-Request-Method", tt.reqMethod)
			}
			w := httptest.NewRecorder()
			if got := c.apply(w, r); got != tt.wantPreflight {
				t.Fatalf("preflight = %v", got)
			}
			h := w.Header()
			if got := h.Get("Access-Control-Allow-Origin"); got != tt.wantAllow {
				t.Fatalf("Access-Control-Allow-Origin = %q, want %q", got, tt.wantAllow)
			}
			if cred := h.Get("Access-Control-Allow-Credentials"); (cred == "true") != (tt.wantAllow != "") {
				t.Fatalf("Access-Control-Allow-Credentials = %q", cred)
			}
			if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
				t.Fatalf("Vary = %q, want Origin", h.Values("Vary"))
			}
			// Mercure 1.0, "Subscription" and "Subscription API": the
			// resume answer and the Link cursor are exposed.
			if exp := h.Get("Access-Control-Expose-Headers"); tt.wantAllow != "" && !tt.wantPreflight &&
				(!strings.Contains(exp, "Mercure-Last-Event-ID") || !strings.Contains(exp, "Link")) {
				t.Fatalf("Access-Control-Expose-Headers = %q", exp)
			}
			if tt.wantPreflight {
				c.preflight(w, r)
				if tt.wantAllow == "" {
					if w.Code != http.StatusForbidden {
						t.Fatalf("refused preflight: status %d", w.Code)
					}
					return
				}
				if w.Code != http.StatusNoContent ||
					!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
					!strings.Contains(h.Get("Access-Control-Allow-Methods"), "QUERY") ||
					!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
					!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Content-Type") {
					t.Fatalf("preflight answer %d %v", w.Code, h)
				}
			}
		})
	}
}

// TestCORSWildcardWithoutCredentials: "*" answers every other origin with
// "Access-Control-Allow-Origin: *" and no Allow-Credentials, so browsers
// refuse a credentialed request (Fetch standard, "CORS protocol and
// credentials"): a page on any site reads public updates, never a
// visitor's private ones (issue 19, item 2). An origin listed beside "*"
// keeps its credentials.
func TestCORSWildcardWithoutCredentials(t *testing.T) {
	c, err := newCORS([]string{"*", "https://app.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, method, origin, reqMethod string
		wantAllow, wantCred             string
		wantStatus                      int // of the preflight answer
	}{
		{"any origin", "GET", "https://any.example", "", "*", "", 0},
		{"null origin", "GET", "null", "", "*", "", 0},
		{"no origin", "GET", "", "", "", "", 0},
		{"listed origin", "GET", "https://app.example.com", "", "https://app.example.com", "true", 0},
		{"any origin preflight", "OPTIONS", "https://any.example", "POST", "*", "", http.StatusNoContent},
		{"listed origin preflight", "OPTIONS", "https://app.example.com", "POST", "https://app.example.com", "true", http.StatusNoContent},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, Path, nil)
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if tt.reqMethod != "" {
				r.Header.Set("Access-Control-Request-Method", tt.reqMethod)
			}
			w := httptest.NewRecorder()
			if c.apply(w, r) {
				c.preflight(w, r)
				if w.Code != tt.wantStatus || !strings.Contains(w.Header().Get("Access-Control-Allow-Headers"), "Authorization") {
					t.Fatalf("preflight: %d %v", w.Code, w.Header())
				}
			}
			h := w.Header()
			if got := h.Get("Access-Control-Allow-Origin"); got != tt.wantAllow {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tt.wantAllow)
			}
			if got := h.Get("Access-Control-Allow-Credentials"); got != tt.wantCred {
				t.Errorf("Access-Control-Allow-Credentials = %q, want %q", got, tt.wantCred)
			}
		})
	}
}

func TestCORSDisabledSetsNothing(t *testing.T) {
	var c cors
	r := httptest.NewRequest("GET", Path, nil)
	r.Header.Set("Origin", "https://any.example")
	w := httptest.NewRecorder()
	c.apply(w, r)
	if len(w.Header()) != 0 {
		t.Fatalf("headers %v", w.Header())
	}
}
