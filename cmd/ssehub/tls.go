package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Files of --tls-self-signed in the data directory.
const (
	selfSignedCertFile = "tls-localhost.crt"
	selfSignedKeyFile  = "tls-localhost.key"
)

// Lifetime of the --tls-self-signed certificate, and how long before its
// end a start makes a new one.
const (
	selfSignedValidity = 365 * 24 * time.Hour
	selfSignedRenew    = 30 * 24 * time.Hour
)

// defaultCertCheck is how often --tls-cert and --tls-key are checked for
// a change when runEnv.CertCheck is zero.
const defaultCertCheck = 5 * time.Second

// certFiles serves the certificate and key of two PEM files, read again
// when either file changes or when reload is called (on SIGHUP).
// Connections keep the certificate of their handshake, so a reload ends no
// stream: only new handshakes see the new certificate. A pair that does not
// load (a half-written renewal, a key that does not match) leaves the
// previous one in service.
type certFiles struct {
	certPath, keyPath string
	log               *slog.Logger

	cur   atomic.Pointer[tls.Certificate]
	mu    sync.Mutex // serialises reloads; guards stamp
	stamp fileStamp  // of the files as last read
}

// fileStamp tells whether a file changed: renewal tools write new files
// and rename them into place, or rewrite them; either changes the
// modification time or the size of what the path names.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// loadCertFiles reads the pair once; an error names the flag at fault.
func loadCertFiles(certPath, keyPath string, log *slog.Logger) (*certFiles, error) {
	c := &certFiles{certPath: certPath, keyPath: keyPath, log: log}
	c.stamp, _ = c.stat()
	cert, err := readKeyPair(certPath, keyPath)
	if err != nil {
		return nil, err
	}
	c.cur.Store(cert)
	return c, nil
}

// readKeyPair reads a certificate chain and its key, both PEM files.
func readKeyPair(certPath, keyPath string) (*tls.Certificate, error) {
	certPEM, err := readPEMFile(certPath)
	if err != nil {
		return nil, usagef("--tls-cert: %v", err)
	}
	keyPEM, err := readPEMFile(keyPath)
	if err != nil {
		return nil, usagef("--tls-key: %v", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, usagef("--tls-cert %s and --tls-key %s: %v", certPath, keyPath, err)
	}
	return &cert, nil
}

func (c *certFiles) stat() (fileStamp, error) {
	var s fileStamp
	ci, err := os.Stat(c.certPath)
	if err != nil {
		return s, err
	}
	ki, err := os.Stat(c.keyPath)
	if err != nil {
		return s, err
	}
	return fileStamp{certMod: ci.ModTime(), keyMod: ki.ModTime(), certSize: ci.Size(), keySize: ki.Size()}, nil
}

// GetCertificate is the tls.Config hook: the pair last read.
func (c *certFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cur.Load(), nil
}

// reload reads the files again if they changed since the last read, or
// always when force is set. It reports whether a new certificate is in
// service.
func (c *certFiles) reload(force bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.stat()
	if err != nil {
		if force {
			c.log.Warn("tls: cannot reload the certificate; keeping the one in service", "err", err)
		}
		return false
	}
	if !force && st == c.stamp {
		return false
	}
	// Remember what was seen even if it does not load, so that a broken
	// pair is reported once, not at every check; the next write retries.
	c.stamp = st
	cert, err := readKeyPair(c.certPath, c.keyPath)
	if err != nil {
		c.log.Warn("tls: cannot reload the certificate; keeping the one in service", "err", err)
		return false
	}
	c.cur.Store(cert)
	attrs := []any{"cert", c.certPath}
	if cert.Leaf != nil {
		attrs = append(attrs, "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter)
	}
	c.log.Info("tls: certificate reloaded", attrs...)
	return true
}

// notifyHUP catches SIGHUP for watch. Call it before the hub reports
// itself ready, not in watch's goroutine: until it is called, SIGHUP has
// its default action and ends the process. stop undoes it.
func notifyHUP() (hup <-chan os.Signal, stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	return ch, func() { signal.Stop(ch) }
}

// watch reloads the pair when the files change (checked every interval)
// or when hup delivers SIGHUP, until ctx ends.
func (c *certFiles) watch(ctx context.Context, interval time.Duration, hup <-chan os.Signal) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			c.reload(true)
		case <-t.C:
			c.reload(false)
		}
	}
}

// selfSigned returns the paths of the --tls-self-signed pair in dir,
// making a new one when there is none yet, it does not load, or it ends
// within selfSignedRenew. created reports a new pair, which the user has to
// trust again.
func selfSigned(dir string, now time.Time) (certPath, keyPath string, created bool, err error) {
	certPath, keyPath = filepath.Join(dir, selfSignedCertFile), filepath.Join(dir, selfSignedKeyFile)
	if cert, err := readKeyPair(certPath, keyPath); err == nil && cert.Leaf != nil && now.Add(selfSignedRenew).Before(cert.Leaf.NotAfter) {
		return certPath, keyPath, false, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", false, fmt.Errorf("--data: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", false, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return "", "", false, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"ssehub development"}},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    now.Add(-time.Hour), // a clock a little behind still accepts it
		NotAfter:     now.Add(selfSignedValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		// A leaf, not a CA: trusting it lets it vouch for localhost only,
		// never sign certificates for other names.
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", false, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", false, err
	}
	// The key first: a certificate in place always has its key.
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", false, fmt.Errorf("--tls-self-signed: %w", err)
	}
	if err := writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", false, fmt.Errorf("--tls-self-signed: %w", err)
	}
	return certPath, keyPath, true, nil
}

// writeFileAtomic writes b to path through a temporary file renamed into
// place, so that a reader sees the old content or the new, never a part.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// spkiHash is the base64 SHA-256 of a certificate's public key, as
// Chromium's --ignore-certificate-errors-spki-list takes it.
func spkiHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// announceSelfSigned prints how to trust the --tls-self-signed
// certificate.
func announceSelfSigned(w io.Writer, log *slog.Logger, certPath string, cert *tls.Certificate, created bool, base string) {
	if cert.Leaf == nil {
		return
	}
	spki := spkiHash(cert.Leaf)
	log.Info("tls: self-signed certificate for localhost", "cert", certPath, "created", created,
		"not_after", cert.Leaf.NotAfter, "spki_sha256", spki)
	fmt.Fprintf(w, `
ssehub serves HTTPS with a self-signed certificate for localhost: %s
To trust it (once; again only when the file is replaced):
  curl:       curl --cacert %s %s/healthz
  Chromium:   chromium --ignore-certificate-errors-spki-list=%s
  Debian:     sudo cp %s /usr/local/share/ca-certificates/ssehub-localhost.crt && sudo update-ca-certificates
  macOS:      sudo security add-trusted-cert -d -r trustAsRoot -k /Library/Keychains/System.keychain %s
  Firefox:    Settings > Privacy & Security > Certificates > View Certificates > Servers > Add Exception: %s

`, certPath, certPath, base, spki, certPath, certPath, base)
}
