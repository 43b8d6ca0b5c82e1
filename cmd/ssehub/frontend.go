package main

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// frontend is how clients reach the hub: plain HTTP/1.1 (with cleartext
// HTTP/2 for --h2c), or HTTPS with HTTP/1.1 and HTTP/2 chosen by ALPN, and
// where the certificates come from.
type frontend struct {
	cfg  Config
	log  *slog.Logger
	tls  *tls.Config // nil: plain HTTP
	self *selfSignedInfo
	acme *acmeManager // with --acme-domain

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// selfSignedInfo is what announce prints about a --tls-self-signed pair.
type selfSignedInfo struct {
	certPath string
	created  bool
	files    *certFiles
}

// newFrontend prepares the certificates cfg asks for and starts watching
// them. Call close when the server has stopped.
func newFrontend(cfg Config, env runEnv, log *slog.Logger) (*frontend, error) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &frontend{cfg: cfg, log: log, cancel: cancel}
	if len(cfg.ACMEDomains) > 0 {
		m, err := newACME(cfg, env.ACME, log)
		if err != nil {
			cancel()
			return nil, err
		}
		f.acme = m
		f.tls = serverTLSConfig(m.magic.GetCertificate)
		return f, nil
	}
	certPath, keyPath := cfg.TLSCert, cfg.TLSKey
	if cfg.TLSSelfSigned {
		var created bool
		var err error
		certPath, keyPath, created, err = selfSigned(cfg.DataDir, time.Now())
		if err != nil {
			cancel()
			return nil, err
		}
		f.self = &selfSignedInfo{certPath: certPath, created: created}
	}
	if certPath == "" {
		return f, nil
	}
	files, err := loadCertFiles(certPath, keyPath, log)
	if err != nil {
		cancel()
		return nil, err
	}
	if f.self != nil {
		f.self.files = files
	}
	f.tls = serverTLSConfig(files.GetCertificate)
	interval := env.CertCheck
	if interval <= 0 {
		interval = defaultCertCheck
	}
	f.wg.Go(func() { files.watch(ctx, interval) })
	return f, nil
}

// serverTLSConfig is the hub's TLS configuration around a certificate
// source. ServeTLS adds the ALPN protocols of the server's Protocols.
func serverTLSConfig(get func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: get,
	}
}

// scheme is the hub's URL scheme.
func (f *frontend) scheme() string {
	if f.tls != nil {
		return "https"
	}
	return "http"
}

// configure sets the protocols and TLS of srv: HTTP/2 wherever it is
// asked for or free (over TLS, browsers pick it by ALPN), HTTP/1.1 always.
func (f *frontend) configure(srv *http.Server) {
	var p http.Protocols
	p.SetHTTP1(true)
	if f.tls != nil {
		p.SetHTTP2(true)
		srv.TLSConfig = f.tls
	}
	if f.cfg.H2C {
		p.SetUnencryptedHTTP2(true)
	}
	srv.Protocols = &p
}

// serve serves srv on ln until srv shuts down.
func (f *frontend) serve(srv *http.Server, ln net.Listener) error {
	if f.tls != nil {
		// The certificate comes from TLSConfig.GetCertificate.
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}

// announce tells the user what they need to know about the certificate:
// how to trust a self-signed one. ln is the hub's listener.
func (f *frontend) announce(w io.Writer, ln net.Listener, base string) {
	if f.acme != nil {
		f.acme.listening(ln.Addr())
	}
	if f.self != nil {
		announceSelfSigned(w, f.log, f.self.certPath, f.self.files.cur.Load(), f.self.created, base)
	}
}

// close stops watching, obtaining and renewing the certificates.
func (f *frontend) close() {
	f.cancel()
	f.wg.Wait()
	if f.acme != nil {
		f.acme.close()
	}
}
