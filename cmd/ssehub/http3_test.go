package main

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// h3Client returns a client speaking HTTP/3 only (quic-go's), trusting
// roots.
func h3Client(t testing.TB, roots ...*x509.Certificate) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	for _, c := range roots {
		pool.AddCert(c)
	}
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(func() { tr.Close() })
	return &http.Client{Transport: tr}
}

// TestHTTP3 serves subscribers over HTTP/3 (RFC 9114) beside HTTPS on
// TCP, which advertises it (Alt-Svc, RFC 7838 section 3): each event
// reaches the HTTP/3 subscriber before the next is published, so streams
// flush per event; /metrics counts it; a shutdown ends the stream and
// returns promptly.
func TestHTTP3(t *testing.T) {
	dir := t.TempDir()
	r := startRun(t, "--data", dir, "--tls-self-signed", "--http3", "--jwt-key", testKey, "--anonymous")
	leaf := selfSignedLeaf(t, dir)
	h2, h3 := tlsClient(t, "h2", leaf), h3Client(t, leaf)

	resp, err := h2.Get(r.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	port := r.base[strings.LastIndex(r.base, ":")+1:]
	if alt := resp.Header.Get("Alt-Svc"); !strings.Contains(alt, `h3=":`+port+`"`) {
		t.Errorf("Alt-Svc %q, want h3 on port %s", alt, port)
	}

	resp, err = openSubscription(t, h3, r.base, "", "", "x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 3 {
		t.Fatalf("HTTP/3 client got %s", resp.Proto)
	}
	s := subscribe(t, h3, r.base, "", "", "x")
	tok := token(t, testKey, []string{"*"}, nil, time.Minute)
	for i := range 3 {
		id := mustPublish(t, h2, r.base, tok, url.Values{"topic": {"x"}, "data": {strings.Repeat("e", i+1)}})
		if ev := s.next(); ev.ID != id {
			t.Fatalf("event %d: got %+v, want %s", i, ev, id)
		}
	}
	_, text := get(t, h2, r.base+"/metrics")
	if got := metric(t, text, `ssehub_subscribers_by_protocol{protocol="HTTP/3"}`); got != 1 {
		t.Errorf("HTTP/3 subscribers %v, want 1", got)
	}

	start := time.Now()
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("shutdown with an HTTP/3 subscriber took %v", took)
	}
	s.ended()
}
