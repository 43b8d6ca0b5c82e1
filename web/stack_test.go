package web_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/demo"
	"github.com/ssehub/ssehub/internal/routes"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/web"
)

// testIssuer issues the tests' Mercure 1.0 access tokens.
const testIssuer = "https://issuer.ssehub.test"

// testKey signs every token of the tests: publisher and subscriber.
var testKey = []byte("ssehub web test key: not a secret, 32+ bytes long")

// demoInterval is fast so the tests see many updates in little time.
const demoInterval = 100 * time.Millisecond

// stack is a hub as the binary wires it: a bolt log on a file, the hub,
// the Mercure handler and the pages (routes.New, as cmd/ssehub builds them)
// on one loopback server, and the demo feed.
// It can be stopped and started again on the same file and port.
type stack struct {
	t      *testing.T
	path   string   // the bolt file
	addr   string   // host:port, fixed after the first start
	cors   []string // origins allowed to subscribe with credentials
	noDemo bool     // run without the demo feed
	noAnon bool     // refuse anonymous subscribers
	tls    bool     // serve HTTPS, with HTTP/2, on a self-signed certificate
	// maxSubs bounds the hub's subscriptions (503 with Retry-After: 1
	// beyond); 0 means no bound.
	maxSubs int
	// login, when set, makes the cookie GET /test-login sets for the hub
	// at hubURL (as the request names it): what the application sharing
	// the hub's site sets at sign-in (Mercure 1.0, "Cookie").
	login func(hubURL string) *http.Cookie
	// authorizeStats makes the dashboard's figures need a token, as off
	// the development defaults.
	authorizeStats bool
	// accessCookie is the hub's Mercure 1.0 access token cookie; empty
	// means mercure.DefaultAccessTokenCookie.
	accessCookie string

	log      *bolt.Log
	hub      *hub.Hub
	srv      *http.Server
	stopDemo context.CancelFunc
	demoDone chan struct{}
	served   chan struct{}
}

// newStack starts a stack on a fresh file and a free loopback port.
func newStack(t *testing.T, cors ...string) *stack {
	s := &stack{t: t, path: filepath.Join(t.TempDir(), "hub.db"), addr: "127.0.0.1:0", cors: cors}
	s.start()
	t.Cleanup(s.stop)
	return s
}

// newQuietStack starts a stack without the demo feed.
func newQuietStack(t *testing.T) *stack {
	s := &stack{t: t, path: filepath.Join(t.TempDir(), "hub.db"), addr: "127.0.0.1:0", noDemo: true}
	s.start()
	t.Cleanup(s.stop)
	return s
}

// URL is the stack's base URL on 127.0.0.1.
func (s *stack) URL() string { return s.scheme() + "://" + s.addr }

// HubURL is the stack's Mercure endpoint as host (e.g. "localhost") names it.
func (s *stack) HubURL(host string) string {
	_, port, _ := net.SplitHostPort(s.addr)
	return s.scheme() + "://" + net.JoinHostPort(host, port) + mercure.Path
}

func (s *stack) scheme() string {
	if s.tls {
		return "https"
	}
	return "http"
}

func (s *stack) start() {
	t := s.t
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var err error
	if s.log, err = bolt.Open(s.path, bolt.Options{Logger: logger}); err != nil {
		t.Fatal(err)
	}
	if s.hub, err = hub.New(hub.Options{Log: s.log, Logger: logger}); err != nil {
		t.Fatal(err)
	}
	mux, err := routes.New(routes.Options{
		Hub:            s.hub,
		AuthorizeStats: s.authorizeStats,
		Mercure: mercure.Options{
			PublisherKey:  testKey,
			SubscriberKey: testKey,
			// Mercure 1.0 access tokens (accessToken) beside 0.x ones.
			Issuers:           []mercure.Issuer{{ID: testIssuer, PublisherKey: testKey, SubscriberKey: testKey}},
			Anonymous:         !s.noAnon,
			MaxSubscriptions:  s.maxSubs,
			RetryAfter:        time.Second,
			CORSOrigins:       s.cors,
			AccessTokenCookie: s.accessCookie,
			Logger:            logger,
		},
		Web: web.Options{
			PublishToken: func(*http.Request) (string, bool) {
				return token(t, "publish", []string{"*"}), true
			},
			// The private panel's token is a Mercure 1.0 access token
			// for the hub the page was loaded from, as the binary's.
			SubscribeToken: func(r *http.Request) (string, bool) {
				return accessToken(t, s.scheme()+"://"+r.Host+mercure.Path, 10*time.Minute, demo.PrivateTopic), true
			},
			HistorySize: s.log.Len,
			Logger:      logger,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.login != nil {
		mux.HandleFunc("GET /test-login", func(w http.ResponseWriter, r *http.Request) {
			http.SetCookie(w, s.login(s.scheme()+"://"+r.Host+mercure.Path))
			io.WriteString(w, "signed in")
		})
	}
	// The port stays the same across restarts: SO_REUSEADDR, which Go sets
	// on Linux, lets the listener take it again at once.
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: mux, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelError)}
	if s.tls {
		// ServeTLS offers HTTP/2 and HTTP/1.1, as the binary's HTTPS does.
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	}
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		if s.tls {
			s.srv.ServeTLS(ln, "", "")
		} else {
			s.srv.Serve(ln)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	s.stopDemo, s.demoDone = cancel, make(chan struct{})
	go func() {
		defer close(s.demoDone)
		if !s.noDemo {
			demo.Run(ctx, s.hub, demoInterval, logger)
		}
	}()
}

// stop stops the stack as a shutdown of the binary does: the feed, the
// hub (which ends every subscriber's stream), the server, the log.
func (s *stack) stop() {
	if s.hub == nil {
		return
	}
	s.stopDemo()
	<-s.demoDone
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.hub.Close(ctx); err != nil {
		s.t.Errorf("hub.Close: %v", err)
	}
	s.srv.Close()
	<-s.served
	if err := s.log.Close(); err != nil {
		s.t.Errorf("log.Close: %v", err)
	}
	s.hub = nil
}

// token returns a JWT for the tests' key granting selectors for kind
// ("publish" or "subscribe").
func token(t *testing.T, kind string, selectors []string) string {
	var c mercure.Claims
	switch kind {
	case "publish":
		c.Publish = selectors
	case "subscribe":
		c.Subscribe = selectors
	default:
		t.Fatalf("token kind %q", kind)
	}
	tok, err := mercure.NewToken(testKey, c, "", time.Now(), 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// accessToken returns a Mercure 1.0 access token (RFC 9068, typ at+jwt)
// for the hub at hubURL, valid for ttl, that may subscribe to the private
// updates of the exact topics.
func accessToken(t *testing.T, hubURL string, ttl time.Duration, topics ...string) string {
	t.Helper()
	sels := make([]hub.Selector, len(topics))
	for i, topic := range topics {
		sels[i] = hub.Selector{Syntax: hub.SyntaxExact, Text: topic}
	}
	tok, err := mercure.NewAccessToken(testKey, mercure.AccessToken{Issuer: testIssuer, Audience: []string{hubURL}, Subject: "urn:ssehub:web-test", Subscribe: sels}, time.Now(), ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// grantedToken returns a Mercure 1.0 access token for the hub at hubURL,
// valid for ten minutes, with the publish and subscribe grants given.
func grantedToken(t *testing.T, hubURL string, publish, subscribe []hub.Selector) string {
	t.Helper()
	tok, err := mercure.NewAccessToken(testKey, mercure.AccessToken{Issuer: testIssuer, Audience: []string{hubURL}, Subject: "urn:ssehub:web-test", Publish: publish, Subscribe: subscribe}, time.Now(), 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// publish posts an update to the hub at hubURL as a publisher would.
func publish(t *testing.T, hubURL string, form url.Values) string {
	t.Helper()
	id, err := mercure.Publish(t.Context(), nil, hubURL, token(t, "publish", []string{"*"}), form)
	if err != nil {
		t.Fatalf("publish %v: %v", form, err)
	}
	return id
}

// subscribe opens a subscription from Go and keeps it open until the test
// ends or the returned func is called.
func subscribe(t *testing.T, hubURL, topic string) (closeFn func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, hubURL+"?topic="+url.QueryEscape(topic), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		resp.Body.Close()
		t.Fatalf("subscribe: %s", resp.Status)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(io.Discard, resp.Body)
	}()
	var stopped bool
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		resp.Body.Close()
		<-done
	}
	t.Cleanup(stop)
	return stop
}

// selfSigned makes a certificate for 127.0.0.1 and localhost, valid for an
// hour. Browsers are told to accept it (--ignore-certificate-errors).
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
