package main

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// acmeDirName is the certificate storage of --acme-domain in the data
// directory: accounts, keys, certificates, ARI state and the locks that
// let several hubs sharing it take turns.
const acmeDirName = "acme"

// acmeHTTPShutdown bounds the shutdown of the challenge listener.
const acmeHTTPShutdown = 2 * time.Second

// acmeManager obtains and renews the certificates of --acme-domain with
// certmagic (the library Caddy, and so the reference Mercure hub, runs
// on), and answers the HTTP-01 challenge on --acme-http-addr, where every
// other request is redirected to HTTPS.
//
// certmagic rather than x/crypto/acme/autocert: certmagic renews on the
// CA's ACME Renewal Information (RFC 9773) and otherwise when a third of
// the lifetime is left, so 6-day certificates renew after 4 days, where
// autocert renews a fixed RenewBefore (30 days by default) ahead, longer
// than such a certificate lives; certmagic also selects ACME profiles,
// retries with backoff, and locks its storage so several hubs can share
// it.
type acmeManager struct {
	cache  *certmagic.Cache
	magic  *certmagic.Config
	issuer *certmagic.ACMEIssuer
	srv    *http.Server
	served chan error
	cancel context.CancelFunc
	// httpsPort is where redirects go: the port the hub listens on,
	// omitted from URLs when 443.
	httpsPort atomic.Value // string
}

// acmeOptions are runEnv's knobs for tests: a CA of their own and faster
// renewal checks.
type acmeOptions struct {
	// Roots are trusted for the CA's directory, beside the system's;
	// nil means the system's only.
	Roots *x509.CertPool
	// RenewCheck is how often certificates are checked for renewal; 0
	// means certmagic's default (10 minutes).
	RenewCheck time.Duration
}

// newACME starts answering challenges on cfg.ACMEHTTPAddr and starts
// obtaining certificates in the background: the hub serves meanwhile, and
// handshakes for a name get its certificate once it is there. Stop it with
// close.
func newACME(cfg Config, opts acmeOptions, log *slog.Logger) (*acmeManager, error) {
	host, portText, err := net.SplitHostPort(cfg.ACMEHTTPAddr)
	if err != nil {
		return nil, usagef("--acme-http-addr %q: %v", cfg.ACMEHTTPAddr, err)
	}
	ln, err := net.Listen("tcp", cfg.ACMEHTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("--acme-http-addr %s: %w", cfg.ACMEHTTPAddr, err)
	}
	port, _ := strconv.Atoi(portText)
	if port == 0 {
		port = ln.Addr().(*net.TCPAddr).Port
	}
	zl := zap.New(slogCore{h: log.Handler()}).Named("acme")
	m := &acmeManager{served: make(chan error, 1)}
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return m.magic, nil },
		RenewCheckInterval: opts.RenewCheck,
		Logger:             zl,
	})
	m.magic = certmagic.New(m.cache, certmagic.Config{
		Storage: &certmagic.FileStorage{Path: filepath.Join(cfg.DataDir, acmeDirName)},
		Logger:  zl,
	})
	m.issuer = certmagic.NewACMEIssuer(m.magic, certmagic.ACMEIssuer{
		CA:     cfg.ACMECA,
		Email:  cfg.ACMEEmail,
		Agreed: true,
		// HTTP-01 only, answered by the listener below: certmagic finds
		// the port taken and leaves the answers to HTTPChallengeHandler.
		DisableTLSALPNChallenge: true,
		ListenHost:              host,
		AltHTTPPort:             port,
		Profile:                 cfg.ACMEProfile,
		TrustedRoots:            opts.Roots,
		Logger:                  zl,
	})
	m.magic.Issuers = []certmagic.Issuer{m.issuer}
	m.srv = &http.Server{
		Handler:           m.issuer.HTTPChallengeHandler(http.HandlerFunc(m.redirect)),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	m.httpsPort.Store("443")
	go func() { m.served <- m.srv.Serve(ln) }()

	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	if err := m.magic.ManageAsync(ctx, cfg.ACMEDomains); err != nil {
		m.close()
		return nil, fmt.Errorf("--acme-domain: %w", err)
	}
	log.Info("acme: managing certificates", "domains", cfg.ACMEDomains, "ca", cfg.ACMECA,
		"challenge_addr", ln.Addr().String(), "storage", filepath.Join(cfg.DataDir, acmeDirName))
	return m, nil
}

// listening tells the manager the HTTPS listener's address, for redirects.
func (m *acmeManager) listening(addr net.Addr) {
	if ta, ok := addr.(*net.TCPAddr); ok {
		m.httpsPort.Store(strconv.Itoa(ta.Port))
	}
}

// redirect sends a plain-HTTP request to the same URL over HTTPS, with
// 308 so that a publish keeps its method and body (RFC 9110 section
// 15.4.9).
func (m *acmeManager) redirect(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" || strings.ContainsAny(host, "/?#@") {
		http.Error(w, "Host: missing or invalid; use HTTPS", http.StatusBadRequest)
		return
	}
	if port := m.httpsPort.Load().(string); port != "443" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]" // an IPv6 literal
	}
	http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
}

// close stops obtaining and renewing, and the challenge listener.
func (m *acmeManager) close() {
	m.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), acmeHTTPShutdown)
	defer cancel()
	if err := m.srv.Shutdown(ctx); err != nil {
		m.srv.Close()
	}
	if err := <-m.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		m.magic.Logger.Warn("challenge listener", zap.Error(err))
	}
	m.cache.Stop()
}

// slogCore is a zapcore.Core writing to a slog.Handler, so that
// certmagic's logs go where the hub's go, in the same format.
type slogCore struct {
	h slog.Handler
}

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	}
	return slog.LevelError
}

func (c slogCore) Enabled(l zapcore.Level) bool {
	return c.h.Enabled(context.Background(), slogLevel(l))
}

func (c slogCore) With(fields []zapcore.Field) zapcore.Core {
	return slogCore{h: c.h.WithAttrs(slogAttrs(fields))}
}

func (c slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	r := slog.NewRecord(e.Time, slogLevel(e.Level), cmp.Or(e.LoggerName, "acme")+": "+e.Message, 0)
	r.AddAttrs(slogAttrs(fields)...)
	return c.h.Handle(context.Background(), r)
}

func (c slogCore) Sync() error { return nil }

// slogAttrs turns zap fields into slog attributes, sorted by key.
func slogAttrs(fields []zapcore.Field) []slog.Attr {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields))
	for k, v := range enc.Fields {
		attrs = append(attrs, slog.Any(k, v))
	}
	slices.SortFunc(attrs, func(a, b slog.Attr) int { return strings.Compare(a.Key, b.Key) })
	return attrs
}
