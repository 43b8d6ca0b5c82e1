//go:build unix

package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/cmd/ssehub/ssehubtest"
)

// pebble is a Pebble ACME server (github.com/letsencrypt/pebble, the test
// CA Let's Encrypt publishes) run for one test on loopback.
type pebble struct {
	t         *testing.T
	directory string         // the ACME directory URL
	roots     *x509.CertPool // trusts Pebble's own HTTPS listener
	mgmt      string         // the management interface's base URL
	stop      func()         // kills the server and waits for its end
	mu        sync.Mutex
	out       bytes.Buffer
}

func (p *pebble) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *pebble) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// startPebble runs Pebble, validating HTTP-01 challenges on httpPort of
// the names asked for, issuing certificates valid for validity under its
// "shortlived" profile. It skips the test when Pebble is not installed,
// unless SSEHUB_ACME_TESTS=1 (set by .ci/run) makes that a failure.
func startPebble(t *testing.T, httpPort int, validity time.Duration) *pebble {
	t.Helper()
	bin, err := exec.LookPath("pebble")
	if err != nil {
		if os.Getenv("SSEHUB_ACME_TESTS") == "1" {
			t.Fatalf("pebble not found (SSEHUB_ACME_TESTS=1): %v", err)
		}
		t.Skip("pebble not installed: go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3")
	}
	dir := t.TempDir()
	cert, certPEM, keyPEM := testCert(t, "pebble")
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, certPath, keyPath, certPEM, keyPEM, time.Time{})
	listen, mgmt := ssehubtest.FreeAddr(t), ssehubtest.FreeAddr(t)
	_, tlsPort, _ := net.SplitHostPort(ssehubtest.FreeAddr(t)) // TLS-ALPN-01 is not used: nothing listens there
	var conf struct {
		Pebble map[string]any `json:"pebble"`
	}
	conf.Pebble = map[string]any{
		"listenAddress":           listen,
		"managementListenAddress": mgmt,
		"certificate":             certPath,
		"privateKey":              keyPath,
		"httpPort":                httpPort,
		"tlsPort":                 mustAtoi(t, tlsPort),
		"ocspResponderURL":        "",
		"retryAfter":              map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":            "ecdsa",
		"profiles": map[string]any{
			"default":    map[string]any{"description": "default", "validityPeriod": 7776000},
			"shortlived": map[string]any{"description": "short", "validityPeriod": uint64(validity / time.Second)},
		},
	}
	b, _ := json.Marshal(conf)
	confPath := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(confPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &pebble{t: t, directory: "https://" + listen + "/dir", mgmt: "https://" + mgmt, roots: x509.NewCertPool()}
	p.roots.AddCert(cert)
	cmd := exec.Command(bin, "-config", confPath)
	// No pauses before validating, no nonces refused at random (which
	// only slows the test), and no authorization reused: every issuance,
	// the renewal too, is validated over HTTP-01.
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	p.stop = sync.OnceFunc(func() {
		cmd.Process.Kill()
		<-exited
	})
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("pebble:\n%s", p.logs())
		}
	})
	for deadline := time.Now().Add(waitLong); ; time.Sleep(20 * time.Millisecond) {
		if c, err := tls.Dial("tcp", listen, &tls.Config{RootCAs: p.roots}); err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("pebble exited:\n%s", p.logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble not listening:\n%s", p.logs())
		}
	}
	return p
}

func mustAtoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// issuerRoots returns the roots Pebble signs certificates under (a new
// random hierarchy each run), read from its management interface.
func (p *pebble) issuerRoots() *x509.CertPool {
	p.t.Helper()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.roots}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(p.mgmt + "/roots/0")
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		p.t.Fatalf("pebble roots: %s", b)
	}
	return pool
}

// servedCert completes a handshake with the hub at addr for serverName
// and returns the leaf it shows, verified against roots; nil if the hub
// has no certificate yet.
func servedCert(addr, serverName string, roots *x509.CertPool) (*x509.Certificate, error) {
	conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: serverName, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// TestACMEIssueAndRenewWithPebble runs the hub against a real ACME server:
// it answers the HTTP-01 challenge on its challenge port (RFC 8555 section
// 8.3; Pebble validates for real, connecting to that port), serves HTTPS
// and HTTP/2 with the certificate it got, redirects plain HTTP to HTTPS,
// and renews the certificate before it ends, streams staying open across
// the renewal.
func TestACMEIssueAndRenewWithPebble(t *testing.T) {
	httpAddr := ssehubtest.FreeAddr(t)
	_, httpPort, _ := net.SplitHostPort(httpAddr)
	const validity = 15 * time.Second
	pb := startPebble(t, mustAtoi(t, httpPort), validity)

	dir := t.TempDir()
	cfg, err := parseConfig([]string{"--addr", "127.0.0.1:0", "--data", dir,
		"--acme-domain", "localhost", "--acme-ca", pb.directory, "--acme-email", "hub@example.com",
		"--acme-profile", "shortlived", "--acme-http-addr", httpAddr,
		"--jwt-key", testKey, "--anonymous"}, noEnv, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	r := startConfig(t, cfg, runEnv{ACME: acmeOptions{Roots: pb.roots, RenewCheck: 500 * time.Millisecond}},
		// certmagic keeps one rate limiter per CA and account for the
		// process's life, in a package-level map (acmeclient.go's
		// rateLimiters, "TODO: stop rate limiter when it is
		// garbage-collected"): it has a Stop, but nothing may call it
		// while the map holds it for later users of that CA.
		goleak.IgnoreAnyFunction("github.com/caddyserver/certmagic.(*RingBufferRateLimiter).loop"))
	addr := strings.TrimPrefix(r.base, "https://")
	_, hubPort, _ := net.SplitHostPort(addr)
	roots := pb.issuerRoots()

	var first *x509.Certificate
	for deadline := time.Now().Add(waitLong); first == nil; time.Sleep(50 * time.Millisecond) {
		if first, err = servedCert(addr, "localhost", roots); first == nil && time.Now().After(deadline) {
			t.Fatalf("no certificate from pebble in time: %v", err)
		}
	}
	if got := first.NotAfter.Sub(first.NotBefore); got > validity {
		t.Fatalf("certificate valid for %v, want the shortlived profile's %v", got, validity)
	}
	if n := strings.Count(pb.logs(), "Attempting to validate w/ HTTP"); n == 0 {
		t.Fatalf("pebble validated no HTTP-01 challenge:\n%s", pb.logs())
	}

	// The hub serves with it, HTTP/2 included.
	h2 := tlsClient(t, "h2")
	h2.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: roots, ServerName: "localhost"}
	h2base := "https://localhost:" + hubPort
	s := subscribe(t, h2, h2base, "", "", "https://example.com/acme")
	id := mustPublish(t, h2, h2base, token(t, testKey, []string{"*"}, nil, time.Minute), url.Values{"topic": {"https://example.com/acme"}, "data": {"1"}})
	if ev := s.next(); ev.ID != id {
		t.Fatalf("got %+v, want %s", ev, id)
	}

	// Plain HTTP on the challenge port goes to HTTPS, method kept.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Post("http://localhost:"+httpPort+"/.well-known/mercure?topic=x", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://localhost:" + hubPort + "/.well-known/mercure?topic=x"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("plain HTTP: %d Location %q, want 308 %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}

	// Renewal, before the first certificate ends.
	var renewed *x509.Certificate
	for renewed == nil || renewed.SerialNumber.Cmp(first.SerialNumber) == 0 {
		if time.Now().After(first.NotAfter) {
			t.Fatalf("not renewed before the certificate ended at %v", first.NotAfter)
		}
		time.Sleep(100 * time.Millisecond)
		renewed, _ = servedCert(addr, "localhost", roots)
	}
	if n := strings.Count(pb.logs(), "Attempting to validate w/ HTTP"); n < 2 {
		t.Errorf("%d HTTP-01 validations, want one per issuance", n)
	}
	id = mustPublish(t, h2, h2base, token(t, testKey, []string{"*"}, nil, time.Minute), url.Values{"topic": {"https://example.com/acme"}, "data": {"2"}})
	if ev := s.next(); ev.ID != id {
		t.Fatalf("after the renewal the stream got %+v, want %s", ev, id)
	}

	// The hub first, then the CA: certmagic's ACME client keeps its
	// connections to the CA open until the CA closes them (an
	// http.Transport without IdleConnTimeout, in an http.Client the
	// issuer does not expose, so the hub cannot close them); the leak
	// check then finds no goroutine of certmagic's but its rate limiter.
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	pb.stop()
}

// TestACMERedirect checks the plain-HTTP answers beside the challenge:
// 308 to the same URL over HTTPS, the port only when it is not 443, and
// 400 for a Host that would make the redirect point elsewhere.
func TestACMERedirect(t *testing.T) {
	m := &acmeManager{}
	m.httpsPort.Store("443")
	for _, tc := range []struct {
		port, host, uri string
		code            int
		want            string
	}{
		{"443", "hub.example:80", "/.well-known/mercure?topic=a", 308, "https://hub.example/.well-known/mercure?topic=a"},
		{"8443", "hub.example", "/x", 308, "https://hub.example:8443/x"},
		{"443", "[::1]:80", "/", 308, "https://[::1]/"},
		{"443", "", "/", 400, ""},
		{"443", "evil.example@hub.example", "/", 400, ""},
	} {
		m.httpsPort.Store(tc.port)
		req := httptest.NewRequest(http.MethodPost, tc.uri, nil)
		req.Host = tc.host
		rec := httptest.NewRecorder()
		m.redirect(rec, req)
		if rec.Code != tc.code || rec.Header().Get("Location") != tc.want {
			t.Errorf("Host %q %s (HTTPS on %s): %d %q, want %d %q", tc.host, tc.uri, tc.port, rec.Code, rec.Header().Get("Location"), tc.code, tc.want)
		}
	}
}
