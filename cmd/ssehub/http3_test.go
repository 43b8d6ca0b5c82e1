package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/ssehub/ssehub/cmd/ssehub/ssehubtest"
	"github.com/ssehub/ssehub/mercure"
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
	if err := s.ended(); err != nil {
		t.Errorf("the HTTP/3 stream ended with %v, want its end", err)
	}
}

// TestHTTP3GoAway checks the graceful shutdown of HTTP/3 at the frame
// level, with a raw client: the hub sends GOAWAY on its control stream
// (RFC 9114 section 5.2) with the first request stream it did not process,
// 4, since it processes the open subscription on stream 0; that stream
// then ends cleanly, with FIN after whole frames, not reset nor cut by the
// connection's close (section 4.1: a response ends with the stream); and
// once the client closes the connection, its requests done, the hub
// exits.
func TestHTTP3GoAway(t *testing.T) {
	dir := t.TempDir()
	// No heartbeat comes in the test's time: the comment is the opening one.
	r := startRun(t, "--data", dir, "--tls-self-signed", "--http3", "--jwt-key", testKey, "--anonymous", "--heartbeat", "1h")
	addr := strings.TrimPrefix(r.base, "https://")
	roots := x509.NewCertPool()
	roots.AddCert(selfSignedLeaf(t, dir))
	c := ssehubtest.DialH3(t, addr, roots)
	// Section 6.2.1: SETTINGS is the first frame of each control stream.
	if f, ok, err := c.ControlFrame(waitLong); !ok || f.Type != ssehubtest.H3Settings {
		t.Fatalf("first control frame %#x (%v), want SETTINGS", f.Type, err)
	}

	s := c.Get(addr, mercure.Path+"?topic=x")
	if s.Str.StreamID() != 0 {
		t.Fatalf("request on stream %d, want 0", s.Str.StreamID())
	}
	f, err := s.Next()
	if err != nil {
		t.Fatal(err)
	}
	fields, err := ssehubtest.Fields(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(fields) == 0 || fields[0].Name != ":status" || fields[0].Value != "200" {
		t.Fatalf("response fields %v, want :status 200 first", fields)
	}
	if f, err := s.Next(); err != nil || f.Type != ssehubtest.H3Data || !strings.HasPrefix(string(f.Payload), ":") {
		t.Fatalf("first frame after the headers: %#x %q (%v), want DATA with a comment", f.Type, f.Payload, err)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- r.stop() }()
	f, ok, err := c.ControlFrame(waitLong)
	if !ok {
		t.Fatalf("no GOAWAY at shutdown: %v", err)
	}
	if id, err := ssehubtest.GoAwayID(f); err != nil || id != 4 {
		t.Fatalf("GOAWAY %d (%v), want 4: stream 0 was processed, the next client stream is not", id, err)
	}
	for {
		f, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the subscription ended with %v, want FIN", err)
		}
		if f.Type != ssehubtest.H3Data {
			t.Errorf("frame %#x on the stream after GOAWAY, want DATA", f.Type)
		}
	}
	// What quic-go's client does once a GOAWAY came and its last request
	// ended.
	c.Conn.CloseWithError(ssehubtest.H3NoError, "")
	select {
	case err := <-stopped:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(waitLong):
		t.Fatal("the hub did not stop once the client closed its connection")
	}
	var appErr *quic.ApplicationError
	if err := context.Cause(c.Conn.Context()); !errors.As(err, &appErr) || appErr.Remote || appErr.ErrorCode != ssehubtest.H3NoError {
		t.Errorf("connection closed with %v, want the client's H3_NO_ERROR", err)
	}
}
