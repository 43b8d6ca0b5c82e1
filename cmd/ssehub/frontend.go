package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// frontend is how clients reach the hub: plain HTTP/1.1 (with cleartext
// HTTP/2 for --h2c), or HTTPS with HTTP/1.1 and HTTP/2 chosen by ALPN, and
// where the certificates come from.
type frontend struct {
	cfg  Config
	log  *slog.Logger
	tls  *tls.Config // nil: plain HTTP
	self *selfSignedInfo
	acme *acmeManager  // with --acme-domain
	h3   *http3.Server // with --http3
	udp  net.PacketConn
	h3ok chan error // Serve's result

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
	hup, stopHUP := notifyHUP()
	f.wg.Go(func() {
		defer stopHUP()
		files.watch(ctx, interval, hup)
	})
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

// handler wraps the TCP listener's handler: with --http3 every answer
// advertises HTTP/3 on the same port (Alt-Svc, RFC 7838), which browsers
// switch to for later requests.
func (f *frontend) handler(h http.Handler) http.Handler {
	if !f.cfg.HTTP3 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.h3 != nil {
			f.h3.SetQUICHeaders(w.Header())
		}
		h.ServeHTTP(w, r)
	})
}

// listenHTTP3 serves h over HTTP/3 on the UDP port of the TCP listener's
// address addr, with --http3. Stop it with shutdown and close.
func (f *frontend) listenHTTP3(addr net.Addr, h http.Handler) error {
	if !f.cfg.HTTP3 {
		return nil
	}
	udp, err := net.ListenPacket("udp", addr.String())
	if err != nil {
		return fmt.Errorf("--http3: UDP %s: %w", addr, err)
	}
	f.udp = udp
	f.h3 = &http3.Server{
		Handler:        h,
		TLSConfig:      http3.ConfigureTLSConfig(f.tls),
		MaxHeaderBytes: maxHeaderBytes,
		IdleTimeout:    idleTimeout,
		Logger:         f.log,
		QUICConfig: &quic.Config{
			// Handshakes that do not finish are dropped as on TCP.
			HandshakeIdleTimeout: readHeaderTimeout,
			// Every open stream is a subscriber: allow as many per
			// connection as net/http's HTTP/2 does, so a page with many
			// EventSources is served on one connection.
			MaxIncomingStreams: 250,
			// QUIC pings keep NAT bindings open between heartbeats.
			KeepAlivePeriod: 30 * time.Second,
		},
	}
	f.h3ok = make(chan error, 1)
	go func() { f.h3ok <- f.h3.Serve(udp) }()
	return nil
}

// shutdown starts the graceful end of HTTP/3: GOAWAY to every connection
// (RFC 9114 section 5.2); streams end with the hub. The channel returned
// is closed once the clients have closed every connection, as they do
// when their requests are done, or at ctx's end, when the server closes
// the rest. Closing a connection before its client does could cut the
// end of a stream still in flight: a closed QUIC connection drops what it
// has not sent.
func (f *frontend) shutdown(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	if f.h3 == nil {
		close(done)
		return done
	}
	f.wg.Go(func() {
		defer close(done)
		if err := f.h3.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
			f.log.Warn("HTTP/3 connections still open at the shutdown deadline; closed them", "err", err)
		}
	})
	return done
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

// close stops watching, obtaining and renewing the certificates, and
// HTTP/3.
func (f *frontend) close() {
	f.cancel()
	f.wg.Wait()
	if f.h3 != nil {
		f.h3.Close()
		if err := <-f.h3ok; err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, quic.ErrServerClosed) {
			f.log.Warn("HTTP/3", "err", err)
		}
		f.udp.Close()
	}
	if f.acme != nil {
		f.acme.close()
	}
}
