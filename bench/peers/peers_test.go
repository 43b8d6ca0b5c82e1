package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/quic-go/quic-go/http3"
)

// TestAdapters subscribes to and publishes through every adapter, as sse
// bench does, and checks that the update arrives. Adapters with a handler
// are served by net/http over plain HTTP/1.1 and over TLS HTTP/1.1; those
// with a server of their own are served over HTTPS and checked with each
// protocol they offer.
func TestAdapters(t *testing.T) {
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"mercure": map[string][]string{"publish": {"*"}, "subscribe": {"*"}},
	}).SignedString([]byte(testKey))
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, roots := testCertificate(t)
	for name, newAdapter := range adapters {
		t.Run(name, func(t *testing.T) {
			cfg := config{data: t.TempDir(), jwtKey: testKey, history: 100,
				addr: freeAddr(t), tlsCert: certFile, tlsKey: keyFile}
			a, err := newAdapter(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if a.handler != nil {
				mux := http.NewServeMux()
				mux.Handle(path, a.handler)
				srv := httptest.NewServer(mux)
				defer srv.Close()
				// Over TLS (HTTP/1.1) too, as bench/tls.sh serves them
				// with -tls-cert.
				tlsSrv := httptest.NewTLSServer(mux)
				defer tlsSrv.Close()
				// Streams never end on their own: close the library
				// first so that its handlers return.
				defer a.close(context.Background())
				roundTrip(t, http.DefaultClient, srv.URL, token, 1)
				roundTrip(t, tlsSrv.Client(), tlsSrv.URL, token, 1)
				return
			}
			defer a.close(context.Background())
			tlsConfig := &tls.Config{RootCAs: roots}
			for _, tc := range []struct {
				proto  string
				client *http.Client
				major  int
			}{
				{"h1", &http.Client{Transport: tcpTransport(tlsConfig, (*http.Protocols).SetHTTP1)}, 1},
				{"h2", &http.Client{Transport: tcpTransport(tlsConfig, (*http.Protocols).SetHTTP2)}, 2},
			} {
				t.Run(tc.proto, func(t *testing.T) {
					defer tc.client.CloseIdleConnections()
					roundTrip(t, tc.client, "https://"+cfg.addr, token, tc.major)
				})
			}
			// HTTP/3 is on, as Caddy ships it, but only publishing is
			// checked: the library's subscribe response carries
			// "Connection: keep-alive", which RFC 9114 section 4.2 makes
			// malformed and quic-go's client refuses.
			t.Run("h3", func(t *testing.T) {
				tr := &http3.Transport{TLSClientConfig: tlsConfig}
				defer tr.Close()
				form := url.Values{"topic": {"https://example.com/t/1"}, "data": {"x"}}
				req, _ := http.NewRequest(http.MethodPost, "https://"+cfg.addr+path, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 3 {
					t.Fatalf("publish: %s %s, want 200 over HTTP/3", resp.Proto, resp.Status)
				}
			})
		})
	}
}

const testKey = "peers-test-key-0123456789abcdef!"

// roundTrip subscribes at base with client, publishes until the update
// arrives, and checks the subscription's HTTP major version.
func roundTrip(t *testing.T, client *http.Client, base, token string, major int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	topic := "https://example.com/t/1"
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path+"?topic="+url.QueryEscape(topic), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("subscribe: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	if resp.ProtoMajor != major {
		t.Fatalf("subscribe: %s, want HTTP/%d", resp.Proto, major)
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
		preq, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(form.Encode()))
		preq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		preq.Header.Set("Authorization", "Bearer "+token)
		presp, err := client.Do(preq)
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
}

// tcpTransport is an HTTPS transport speaking only the protocol set sets.
func tcpTransport(c *tls.Config, set func(*http.Protocols, bool)) *http.Transport {
	var p http.Protocols
	set(&p, true)
	return &http.Transport{TLSClientConfig: c, Protocols: &p}
}

// freeAddr is a loopback address with a port that was free a moment ago,
// for servers that take an address rather than a listener (Caddy).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// testCertificate writes net/http/httptest's certificate for 127.0.0.1
// and its key as PEM files, as bench/tls.sh gives the servers files, and
// returns them with a pool trusting the certificate.
func testCertificate(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	srv.Close()
	pair := srv.TLS.Certificates[0]
	keyDER, err := x509.MarshalPKCS8PrivateKey(pair.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pair.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return certFile, keyFile, roots
}

// TestFloorHTTP2 checks the floor's HTTP/2 stream, the yardstick of idle
// memory per stream on net/http's HTTP/2 server: 200, an event stream
// opening with a comment, held open until the client leaves.
func TestFloorHTTP2(t *testing.T) {
	a, err := newFloor(config{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.close(context.Background())
	mux := http.NewServeMux()
	mux.Handle(path, a.handler)
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+path+"?topic=t", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" || line != ":\n" || err != nil {
		t.Errorf("HTTP/%d %d %q, first line %q (%v); want HTTP/2 200 text/event-stream opening with a comment", resp.ProtoMajor, resp.StatusCode, resp.Header.Get("Content-Type"), line, err)
	}
}
