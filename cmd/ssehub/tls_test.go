package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/ssehub/ssehub/cmd/ssehub/ssehubtest"
	"github.com/ssehub/ssehub/mercure"
)

// testCert makes a self-signed certificate for 127.0.0.1 and localhost,
// named cn, and returns it with its PEM files' contents.
func testCert(t testing.TB, cn string) (cert *x509.Certificate, certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// tlsClient returns a client trusting roots that speaks only the protocol
// named: "h2" or "http/1.1".
func tlsClient(t testing.TB, proto string, roots ...*x509.Certificate) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	for _, c := range roots {
		pool.AddCert(c)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, Protocols: &http.Protocols{}}
	if proto == "h2" {
		tr.Protocols.SetHTTP2(true)
	} else {
		tr.Protocols.SetHTTP1(true)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// peerCert returns the certificate a new TLS handshake with addr shows.
func peerCert(t testing.TB, addr string) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// selfSignedLeaf reads the certificate --tls-self-signed made in dir.
func selfSignedLeaf(t testing.TB, dir string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, selfSignedCertFile))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s holds no PEM", selfSignedCertFile)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTLSBothProtocols serves one HTTPS port to an HTTP/1.1 client and an
// HTTP/2 client (chosen by ALPN, RFC 7301), delivers to both, serves the
// HTTP/1.1 one on the taken-over connection (its Connection: close says
// so, which net/http's client reads into Response.Close), and counts the subscribers per protocol in /metrics.
func TestTLSBothProtocols(t *testing.T) {
	dir := t.TempDir()
	r := startRun(t, "--data", dir, "--tls-self-signed", "--jwt-key", testKey, "--anonymous")
	if !strings.HasPrefix(r.base, "https://") {
		t.Fatalf("base URL %s, want https", r.base)
	}
	leaf := selfSignedLeaf(t, dir)
	h1, h2 := tlsClient(t, "http/1.1", leaf), tlsClient(t, "h2", leaf)

	const topic = "https://example.com/tls"
	var subs []*sub
	for _, c := range []*http.Client{h1, h2} {
		resp, err := openSubscription(t, c, r.base, "", "", topic)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch {
		case c == h1 && (resp.ProtoMajor != 1 || !resp.Close):
			t.Errorf("HTTP/1.1 client: %s, Close %v; want HTTP/1.1 on a taken-over connection (Connection: close)", resp.Proto, resp.Close)
		case c == h2 && resp.ProtoMajor != 2:
			t.Errorf("HTTP/2 client got %s", resp.Proto)
		}
		subs = append(subs, subscribe(t, c, r.base, "", "", topic))
	}
	id := mustPublish(t, h2, r.base, token(t, testKey, []string{"*"}, nil, time.Minute), url.Values{"topic": {topic}, "data": {"over tls"}})
	for i, s := range subs {
		if ev := s.next(); ev.ID != id || ev.Data != "over tls" {
			t.Errorf("subscriber %d got %+v, want %s", i, ev, id)
		}
	}
	_, text := get(t, h2, r.base+"/metrics")
	for proto, want := range map[string]float64{"HTTP/1.1": 1, "HTTP/2": 1, "HTTP/3": 0} {
		name := `ssehub_subscribers_by_protocol{protocol="` + proto + `"}`
		if got := metric(t, text, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// TestTLSSelfSignedKeptAndRenewed checks that --tls-self-signed keeps its
// certificate across restarts (so it is trusted once), makes a new one
// when the old one nears its end, and keeps the key private.
func TestTLSSelfSignedKeptAndRenewed(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	cp, kp, created, err := selfSigned(dir, now)
	if err != nil || !created {
		t.Fatalf("first call: created %v, err %v", created, err)
	}
	first, _ := os.ReadFile(cp)
	if fi, err := os.Stat(kp); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v), want 0600", fi.Mode(), err)
	}
	leaf := selfSignedLeaf(t, dir)
	if err := leaf.VerifyHostname("localhost"); err != nil {
		t.Error(err)
	}
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
	if leaf.IsCA {
		t.Error("the self-signed certificate is a CA: trusting it would let it sign for any name")
	}
	if _, _, created, err := selfSigned(dir, now.Add(24*time.Hour)); err != nil || created {
		t.Fatalf("second call: created %v, err %v; want the kept certificate", created, err)
	}
	if again, _ := os.ReadFile(cp); !bytes.Equal(again, first) {
		t.Fatal("the certificate changed on the second call")
	}
	if _, _, created, err := selfSigned(dir, leaf.NotAfter.Add(-selfSignedRenew/2)); err != nil || !created {
		t.Fatalf("near the end: created %v, err %v; want a new certificate", created, err)
	}

	// The hub prints how to trust it, with the key Chromium's allow-list
	// takes.
	var stderr strings.Builder
	cfg, err := parseConfig([]string{"--addr", "127.0.0.1:0", "--data", dir, "--tls-self-signed"}, noEnv, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	startConfig(t, cfg, runEnv{Stderr: &stderr})
	if want := "--ignore-certificate-errors-spki-list=" + spkiHash(selfSignedLeaf(t, dir)); !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
	}
	if !strings.Contains(stderr.String(), "curl --cacert "+cp) {
		t.Errorf("stderr lacks the curl command:\n%s", stderr.String())
	}
}

// writeCert writes certificate and key files, each renamed into place,
// with modification time mod if it is not zero. The time is set before
// the rename, so that a watcher never sees the file with another one.
func writeCert(t testing.TB, certPath, keyPath string, certPEM, keyPEM []byte, mod time.Time) {
	t.Helper()
	for _, f := range []struct {
		path string
		b    []byte
	}{{certPath, certPEM}, {keyPath, keyPEM}} {
		tmp := f.path + ".new"
		if err := os.WriteFile(tmp, f.b, 0o600); err != nil {
			t.Fatal(err)
		}
		if !mod.IsZero() {
			if err := os.Chtimes(tmp, mod, mod); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTLSReloadKeepsStreams replaces the certificate files under a running
// hub: new handshakes get the new certificate, and the streams opened
// before, on HTTP/1.1 and HTTP/2, keep receiving.
func TestTLSReloadKeepsStreams(t *testing.T) {
	dir := t.TempDir()
	cp, kp := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	a, aCert, aKey := testCert(t, "a")
	b, bCert, bKey := testCert(t, "b")
	writeCert(t, cp, kp, aCert, aKey, time.Time{})
	cfg, err := parseConfig([]string{"--addr", "127.0.0.1:0", "--data", dir, "--tls-cert", cp, "--tls-key", kp, "--jwt-key", testKey, "--anonymous"}, noEnv, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	r := startConfig(t, cfg, runEnv{CertCheck: 20 * time.Millisecond})
	addr := strings.TrimPrefix(r.base, "https://")
	if got := peerCert(t, addr); got.Subject.CommonName != "a" {
		t.Fatalf("serving %q, want a", got.Subject.CommonName)
	}
	h1, h2 := tlsClient(t, "http/1.1", a, b), tlsClient(t, "h2", a, b)
	const topic = "https://example.com/reload"
	s1 := subscribe(t, h1, r.base, "", "", topic)
	s2 := subscribe(t, h2, r.base, "", "", topic)

	writeCert(t, cp, kp, bCert, bKey, time.Time{})
	for deadline := time.Now().Add(waitLong); peerCert(t, addr).Subject.CommonName != "b"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the new certificate is not served")
		}
	}
	id := mustPublish(t, h2, r.base, token(t, testKey, []string{"*"}, nil, time.Minute), url.Values{"topic": {topic}, "data": {"after reload"}})
	for _, s := range []*sub{s1, s2} {
		if ev := s.next(); ev.ID != id {
			t.Errorf("after the reload a stream got %+v, want %s", ev, id)
		}
	}

	// A pair that does not match keeps the one in service.
	_, _, cKey := testCert(t, "c")
	writeCert(t, cp, kp, aCert, cKey, time.Time{})
	time.Sleep(100 * time.Millisecond) // several checks
	if got := peerCert(t, addr); got.Subject.CommonName != "b" {
		t.Fatalf("after a mismatched pair serving %q, want b still", got.Subject.CommonName)
	}
}

// TestTLSReloadOnSIGHUP checks that SIGHUP reloads the files even when
// their change cannot be seen from their size and modification time.
func TestTLSReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	cp, kp := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_, aCert, aKey := testCert(t, "a")
	var bCert, bKey []byte
	for len(bCert) != len(aCert) { // ECDSA signatures vary in length
		_, bCert, bKey = testCert(t, "b")
	}
	mod := time.Now().Add(-time.Hour).Truncate(time.Second)
	writeCert(t, cp, kp, aCert, aKey, mod)
	cfg, err := parseConfig([]string{"--addr", "127.0.0.1:0", "--data", dir, "--tls-cert", cp, "--tls-key", kp, "--jwt-key", testKey}, noEnv, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	r := startConfig(t, cfg, runEnv{CertCheck: 20 * time.Millisecond})
	addr := strings.TrimPrefix(r.base, "https://")
	before := fileStamps(t, cp, kp)
	writeCert(t, cp, kp, bCert, bKey, mod)
	if after := fileStamps(t, cp, kp); after != before {
		t.Fatalf("the files' sizes and times changed (%v, then %v): the test needs a change the check cannot see", before, after)
	}
	if got := peerCert(t, addr); got.Subject.CommonName != "a" {
		t.Fatalf("before SIGHUP serving %q, want a", got.Subject.CommonName)
	}
	// At once: the hub catches SIGHUP from the moment it is ready.
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(waitLong); peerCert(t, addr).Subject.CommonName != "b"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not reload the certificate")
		}
	}
}

// fileStamps is what the hub's check compares of the files at paths:
// their sizes and modification times.
func fileStamps(t testing.TB, paths ...string) string {
	t.Helper()
	var b strings.Builder
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %d %v; ", filepath.Base(p), fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String()
}

// TestHTTP2StreamFrames checks a subscription at the frame level: the
// response has no connection-specific header fields (RFC 9113 section
// 8.2.2), its first DATA frame is a comment (so a proxy waiting for DATA
// passes the headers on), and a graceful shutdown sends GOAWAY (RFC 9113
// section 6.8) naming the stream, which ends with END_STREAM, not reset.
// GOAWAY may come before or after the stream's end: net/http queues it
// from a shutdown hook on a goroutine of its own, and nothing tells the
// hub when it is written (a client that reopens on the connection in
// between has its request dropped, as bound does once draining, and
// retries).
func TestHTTP2StreamFrames(t *testing.T) {
	dir := t.TempDir()
	// No heartbeat comes in the test's time: the comment is the opening one.
	r := startRun(t, "--data", dir, "--tls-self-signed", "--jwt-key", testKey, "--anonymous", "--heartbeat", "1h")
	addr := strings.TrimPrefix(r.base, "https://")
	c := ssehubtest.DialH2(t, addr)
	c.Get(1, addr, mercure.Path+"?topic=x")
	fields := c.Headers(c.Next())
	status := ""
	for _, f := range fields {
		switch strings.ToLower(f.Name) {
		case ":status":
			status = f.Value
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			t.Errorf("connection-specific header field on HTTP/2: %s: %s", f.Name, f.Value)
		}
	}
	if status != "200" {
		t.Fatalf(":status %q, want 200 (%v)", status, fields)
	}
	d, ok := c.Next().(*http2.DataFrame)
	if !ok || !strings.HasPrefix(string(d.Data()), ":") {
		t.Fatalf("first frame after the headers: %v, want DATA with a comment", d)
	}

	c.Conn.SetDeadline(time.Now().Add(waitLong))
	stopped := make(chan error, 1)
	go func() { stopped <- r.stop() }()
	var goaway, ended bool
	for {
		f, err := c.Fr.ReadFrame()
		if err != nil {
			break // the server closed the connection
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			goaway = true
			// Section 6.8: the last stream the server may have acted on,
			// here the subscription's.
			if f.ErrCode != http2.ErrCodeNo || f.LastStreamID != 1 {
				t.Errorf("GOAWAY with %v, last stream %d; want NO_ERROR, 1", f.ErrCode, f.LastStreamID)
			}
		case *http2.DataFrame:
			ended = ended || f.StreamEnded()
		case *http2.RSTStreamFrame:
			t.Errorf("stream %d reset with %v, want it ended with END_STREAM", f.StreamID, f.ErrCode)
		case *http2.SettingsFrame:
			if !f.IsAck() {
				c.Fr.WriteSettingsAck()
			}
		}
	}
	if !goaway {
		t.Error("no GOAWAY at shutdown")
	}
	if !ended {
		t.Error("the stream did not end with END_STREAM (RFC 9113 section 8.1) before the connection closed")
	}
	if err := <-stopped; err != nil {
		t.Error(err)
	}
}

// TestH2C serves cleartext HTTP/2 with prior knowledge (RFC 9113 section
// 3.3) beside HTTP/1.1, as a proxy in front would use it.
func TestH2C(t *testing.T) {
	r := startRun(t, "--h2c", "--jwt-key", testKey, "--anonymous")
	tr := &http.Transport{Protocols: &http.Protocols{}}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	h2c := &http.Client{Transport: tr}
	resp, err := openSubscription(t, h2c, r.base, "", "", "x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("h2c client got %s", resp.Proto)
	}
	s := subscribe(t, h2c, r.base, "", "", "x")
	h1 := subscribe(t, newClient(t), r.base, "", "", "x")
	id := mustPublish(t, h2c, r.base, token(t, testKey, []string{"*"}, nil, time.Minute), url.Values{"topic": {"x"}, "data": {"d"}})
	for _, s := range []*sub{s, h1} {
		if ev := s.next(); ev.ID != id {
			t.Errorf("got %+v, want %s", ev, id)
		}
	}
	_, text := get(t, h2c, r.base+"/metrics")
	if got := metric(t, text, `ssehub_subscribers_by_protocol{protocol="HTTP/2"}`); got != 1 {
		t.Errorf("HTTP/2 subscribers %v, want 1", got)
	}
}

// TestHTTPSWithoutTLSFlagsIsPlain checks that the development defaults
// stay plain HTTP/1.1 only.
func TestHTTPSWithoutTLSFlagsIsPlain(t *testing.T) {
	r := startRun(t, "--jwt-key", testKey)
	if !strings.HasPrefix(r.base, "http://") {
		t.Fatalf("base %s", r.base)
	}
	tr := &http.Transport{Protocols: &http.Protocols{}}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/healthz", nil)
	if resp, err := (&http.Client{Transport: tr}).Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("cleartext HTTP/2 without --h2c answered %s", resp.Proto)
	}
}

// TestTLSHangUpNoticed checks that a subscriber hanging up on a taken-over
// TLS connection is noticed at once, through the socket under TLS, not at
// the next heartbeat or write (there is none within the test).
func TestTLSHangUpNoticed(t *testing.T) {
	dir := t.TempDir()
	r := startRun(t, "--data", dir, "--tls-self-signed", "--jwt-key", testKey, "--anonymous", "--heartbeat", "1h")
	leaf := selfSignedLeaf(t, dir)
	h1, h2 := tlsClient(t, "http/1.1", leaf), tlsClient(t, "h2", leaf)
	s := subscribe(t, h1, r.base, "", "", "x")
	count := func() float64 {
		_, text := get(t, h2, r.base+"/metrics")
		return metric(t, text, `ssehub_subscribers_by_protocol{protocol="HTTP/1.1"}`)
	}
	if n := count(); n != 1 {
		t.Fatalf("%v HTTP/1.1 subscribers, want 1", n)
	}
	s.cancel() // closes the body, and so the connection
	for deadline := time.Now().Add(5 * time.Second); count() != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the hang-up was not noticed within 5 s")
		}
	}
}
