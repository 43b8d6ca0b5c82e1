package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/demo"
	"github.com/ssehub/ssehub/internal/routes"
	"github.com/ssehub/ssehub/jetstream"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/redis"
	"github.com/ssehub/ssehub/web"
)

// Limits of the HTTP server. There is deliberately no WriteTimeout: it
// would cut every event stream after that long. The sse package bounds
// each write to a subscriber instead.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	// maxHeaderBytes leaves room for a token cookie and header (mercure
	// accepts tokens up to 16 KiB) and little else.
	maxHeaderBytes = 64 << 10
	healthTimeout  = 2 * time.Second
	// natsStartTimeout bounds how long the hub waits at start for NATS to
	// accept it and JetStream to serve its streams: hubs started together
	// with their NATS cluster (docker compose, Kubernetes) wait for it to
	// form instead of exiting, but not forever.
	natsStartTimeout = time.Minute
)

// minHMACKey is the shortest HMAC key accepted without a warning.
const minHMACKey = 32

// historyFileName is the bolt file in the data directory.
const historyFileName = "history.db"

// runEnv is what run takes from its caller besides the configuration.
type runEnv struct {
	// Logger receives the hub's logs; nil means slog.Default().
	Logger *slog.Logger
	// Stderr receives the ready-to-paste commands printed on the
	// development defaults; nil means os.Stderr.
	Stderr io.Writer
	// Ready, if set, is called with the hub's base URL once it serves.
	Ready func(baseURL string)
	// DemoInterval is the demo feed's interval; 0 means one second.
	DemoInterval time.Duration
	// NoGroupCommit gives every bolt append its own commit, as a baseline
	// for benchmarks.
	NoGroupCommit bool
	// CertCheck is how often --tls-cert and --tls-key are checked for a
	// change; 0 means defaultCertCheck.
	CertCheck time.Duration
	// ACME holds the ACME client's knobs for tests.
	ACME acmeOptions
}

// store is the hub's log together with its size, which every log of ours
// can report.
type store interface {
	hub.Log
	Len(ctx context.Context) (int, error)
}

// keys are the verification keys of each role.
type keys struct {
	pub, sub  []byte
	generated *keyFile // the generated key, when none was configured
}

// run serves the hub configured by cfg until ctx ends, then shuts it down
// gracefully within cfg.ShutdownTimeout. Configuration mistakes found only
// now, such as a key that does not parse, are *usageError. It opens what
// the hub stands on, wires the handlers (newHandler), serves, and leaves
// the shutdown sequence to serving.shutdown.
func run(ctx context.Context, cfg Config, env runEnv) (err error) {
	log := env.Logger
	if log == nil {
		log = slog.Default()
	}
	if env.Stderr == nil {
		env.Stderr = os.Stderr
	}
	k, err := resolveKeys(cfg, log)
	if err != nil {
		return err
	}
	st, where, err := openStore(ctx, cfg, env.NoGroupCommit, log)
	if err != nil {
		return err
	}
	defer func() {
		// Last: an append still waiting for its commit is committed or
		// fails, never lost silently.
		if cerr := st.Close(); cerr != nil && !errors.Is(cerr, hub.ErrClosed) {
			log.Error("closing the history", "err", cerr)
			err = cmpErr(err, cerr)
		}
	}()
	pres, err := openPresence(ctx, cfg, st)
	if err != nil {
		return err
	}
	if pres != nil {
		defer func() {
			// Before the store: it removes this node's entries there.
			if cerr := pres.Close(); cerr != nil && !errors.Is(cerr, hub.ErrClosed) {
				log.Warn("closing the presence", "err", cerr)
			}
		}()
	}
	ann, err := openAnnouncements(ctx, cfg, st, log)
	if err != nil {
		return err
	}
	if ann != nil {
		defer func() {
			// After the hub and the requests, whose subscriptions'
			// ends are announced here.
			if cerr := ann.Close(); cerr != nil && !errors.Is(cerr, hub.ErrClosed) {
				log.Warn("closing the announcements", "err", cerr)
			}
		}()
	}
	h, err := hub.New(hub.Options{Log: st, Announcements: ann, Logger: log, MaxSelectors: noBound(cfg.MaxSelectors), BaseURL: cfg.ResourceIdentifier})
	if err != nil {
		return err
	}
	// Closed here on the way out before serving; after it, shutdown closes
	// it within its deadline, which must not be waited out again.
	hubClosed := false
	defer func() {
		if !hubClosed {
			h.Close(context.Background())
		}
	}()

	fe, err := newFrontend(cfg, env, log)
	if err != nil {
		return err
	}
	defer fe.close()

	m := newMetrics(h, st.Len, log)
	mux, err := newHandler(ctx, cfg, k, h, st, pres, m, log)
	if err != nil {
		return err
	}
	s := &serving{log: log, hub: h, fe: fe}
	var streams context.Context
	streams, s.endStreams = context.WithCancel(context.Background())
	defer s.endStreams()
	handler := bound(mux, streams, &s.draining)
	s.srv = &http.Server{
		Handler:           fe.handler(handler),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	fe.configure(s.srv)

	ln, err := listen(ctx, cfg.Addr, cfg.ReusePort, userTimeout(cfg.Heartbeat))
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			return err
		}
		return fmt.Errorf("--addr %s: %w", cfg.Addr, err)
	}
	if err := fe.listenHTTP3(ln.Addr(), handler); err != nil {
		ln.Close()
		return err
	}
	served := make(chan error, 1)
	go func() { served <- fe.serve(s.srv, ln) }()

	if pres != nil {
		reapCtx, stopReaper := context.WithCancel(ctx)
		defer stopReaper()
		go mercure.RunReaper(reapCtx, h, pres, cfg.PresenceTTL/3, log)
	}

	var demoCtx context.Context
	demoCtx, s.stopDemo = context.WithCancel(ctx)
	defer s.stopDemo()
	demoDone := make(chan struct{})
	s.demoDone = demoDone
	if cfg.Demo {
		go func() {
			defer close(demoDone)
			demo.Run(demoCtx, h, env.DemoInterval, log)
		}()
	} else {
		close(demoDone)
	}

	base := baseURL(fe.scheme(), cfg.Addr, ln.Addr())
	log.Info("ssehub listening", "addr", ln.Addr().String(), "url", base, "history", where,
		"anonymous", cfg.Anonymous, "demo", cfg.Demo, "subscriptions", cfg.Subscriptions)
	fe.announce(env.Stderr, ln, base)
	announce(env.Stderr, log, cfg, base, k)
	if env.Ready != nil {
		env.Ready(base)
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	case err = <-served:
		err = fmt.Errorf("serving: %w", err)
		log.Error("shutting down", "err", err)
	}
	s.shutdown(cfg.ShutdownTimeout)
	hubClosed = true
	return err
}

// newHandler wires the hub's HTTP face: the Mercure protocol and the pages
// (routes.New), the demo page's tokens on the development defaults, and
// the operational endpoints.
func newHandler(ctx context.Context, cfg Config, k keys, h *hub.Hub, st store, pres presence, m *metrics, log *slog.Logger) (*http.ServeMux, error) {
	var publishToken, subscribeToken func(*http.Request) (string, bool)
	if cfg.DevDefaults() {
		// The private panel's token receives the demo's private topic
		// only.
		subscribeToken = func(r *http.Request) (string, bool) {
			tok, err := mintAccessToken(k.sub, cfg.issuers(k)[0], resourceOf(cfg, r), nil, []string{demo.PrivateTopic}, pageTokenTTL, time.Now())
			if err != nil {
				log.ErrorContext(r.Context(), "minting the demo page's subscriber token", "err", err)
				return "", false
			}
			return tok, true
		}
		// The form's token is a Mercure 1.0 access token for the hub the
		// page was loaded from (the publish form is the same in both
		// dialects).
		publishToken = func(r *http.Request) (string, bool) {
			tok, err := mintAccessToken(k.pub, cfg.issuers(k)[0], resourceOf(cfg, r), []string{"*"}, nil, pageTokenTTL, time.Now())
			if err != nil {
				log.ErrorContext(r.Context(), "minting the demo page's token", "err", err)
				return "", false
			}
			return tok, true
		}
	}
	mopts := mercure.Options{
		PublisherKey:       k.pub,
		SubscriberKey:      k.sub,
		Algorithm:          cfg.JWTAlg,
		Anonymous:          cfg.Anonymous,
		CORSOrigins:        cfg.CORSOrigins,
		ResourceIdentifier: cfg.ResourceIdentifier,
		AccessTokenCookie:  cfg.AccessTokenCookie,
		Protocol:           cfg.Protocol,
		Subscriptions:      cfg.Subscriptions,
		Presence:           pres,
		Heartbeat:          cfg.Heartbeat,
		Logger:             log,
		ObservePublish:     m.observePublish,
		OnSubscriberChange: m.subscriberChange,

		MaxSubscriptions:          cfg.MaxSubscriptions,
		MaxSubscriptionsPerClient: cfg.MaxSubscriptionsPerClient,
		MaxSelectorsPerClient:     noBound(cfg.MaxSelectorsPerClient),
		TrustedProxies:            cfg.TrustedProxies,
		NoHijack:                  cfg.NoHijack,
	}
	if cfg.Heartbeat == 0 {
		mopts.Heartbeat = -1 // mercure reads 0 as its default
	}
	for _, iss := range cfg.issuers(k) {
		mopts.Issuers = append(mopts.Issuers, mercure.Issuer{ID: iss, PublisherKey: k.pub, SubscriberKey: k.sub, Algorithm: cfg.JWTAlg})
	}
	for _, is := range cfg.Issuers {
		mis := mercure.Issuer{ID: is.ID, Algorithm: is.Alg}
		if is.JWKS != "" {
			// The JWKS refreshes until ctx, the hub's life, ends.
			var err error
			if mis.JWKS, err = mercure.NewJWKS(ctx, is.JWKS, mercure.JWKSOptions{Logger: log}); err != nil {
				return nil, &usageError{fmt.Errorf("--issuer %s: %w", is.ID, err)}
			}
		} else {
			mis.PublisherKey, mis.SubscriberKey = []byte(is.Key), []byte(is.Key)
		}
		mopts.Issuers = append(mopts.Issuers, mis)
	}
	mux, err := routes.New(routes.Options{
		Hub:     h,
		Mercure: mopts,
		Web:     web.Options{PublishToken: publishToken, SubscribeToken: subscribeToken, HistorySize: st.Len, Logger: log},
		// The figures tell how busy the hub is: on a hub others can
		// reach, only to a token holder.
		AuthorizeStats: !cfg.DevDefaults(),
	})
	if oe := (*mercure.OptionError)(nil); errors.As(err, &oe) {
		return nil, &usageError{fmt.Errorf("%s: %w", mercureFlag(cfg, oe.Field), err)}
	} else if err != nil {
		return nil, err
	}
	mux.Handle("GET /healthz", healthz(h, st))
	mux.Handle("GET /metrics", m.handler())
	return mux, nil
}

// serving is a hub being served: what run started and shutdown stops.
type serving struct {
	log        *slog.Logger
	hub        *hub.Hub
	fe         *frontend
	srv        *http.Server
	draining   atomic.Bool        // set once GETs on open connections are dropped
	endStreams context.CancelFunc // ends the streams that do not come from the hub
	stopDemo   context.CancelFunc
	demoDone   <-chan struct{}
}

// shutdown is the graceful shutdown, bounded by timeout: stop accepting,
// end the streams so that clients reconnect (elsewhere, or here after a
// restart), let the requests in flight finish. run closes the log after.
func (s *serving) shutdown(timeout time.Duration) {
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s.stopDemo()
	<-s.demoDone
	// Close the hub only once the listener is closed (Shutdown runs its
	// hooks right after) and GETs on open connections are dropped, so that
	// no subscriber meets a closed hub and gets a 503, which a browser
	// would not retry.
	listenerClosed := make(chan struct{})
	s.srv.RegisterOnShutdown(func() { close(listenerClosed) })
	shut := make(chan error, 1)
	go func() { shut <- s.srv.Shutdown(sctx) }()
	h3done := s.fe.shutdown(sctx)
	select {
	case <-listenerClosed:
	case <-sctx.Done():
	}
	s.draining.Store(true)
	if err := s.hub.Close(sctx); err != nil {
		s.log.Warn("closing the hub", "err", err)
	}
	// Streams that do not come from the hub, like the dashboard's, end
	// with their request's context.
	s.endStreams()
	if err := <-shut; err != nil {
		s.log.Warn("connections still open at the shutdown deadline; closing them", "err", err)
		s.srv.Close()
	}
	select {
	case <-h3done:
	case <-sctx.Done():
	}
	s.log.Info("ssehub stopped")
}

// noBound maps a flag's 0, "no bound", to the options' negative value for
// it (their 0 is the default).
func noBound(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

func noBound64(n int64) int64 {
	if n == 0 {
		return -1
	}
	return n
}

// cmpErr returns the first non-nil error.
func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// openStore opens the log the configuration names: Redis, memory, or a
// bolt file in the data directory. where describes it for the logs.
func openStore(ctx context.Context, cfg Config, noGroupCommit bool, log *slog.Logger) (s store, where string, err error) {
	if cfg.Memory {
		l := hub.NewMemoryLog(hub.MemoryLogOptions{MaxLen: cfg.HistorySize, MaxAge: cfg.HistoryAge, MaxBytes: noBound64(cfg.HistoryBytes), DuplicateWindow: cfg.duplicateWindow()})
		return l, "memory", nil
	}
	if cfg.Redis != "" {
		where = cfg.Redis
		if u, err := url.Parse(cfg.Redis); err == nil {
			where = u.Redacted()
		}
		l, err := redis.Open(ctx, cfg.Redis, redis.Options{MaxLen: cfg.HistorySize, MaxAge: cfg.HistoryAge, DuplicateWindow: cfg.duplicateWindow(), Logger: log})
		if err != nil {
			return nil, "", fmt.Errorf("--redis %s: %w", where, err)
		}
		return l, where, nil
	}
	if cfg.NATS.URLs != "" {
		where = redactURLs(cfg.NATS.URLs)
		nopts, err := cfg.NATS.options()
		if err != nil {
			return nil, "", err
		}
		sctx, cancel := context.WithTimeout(ctx, natsStartTimeout)
		defer cancel()
		l, err := jetstream.Open(sctx, cfg.NATS.URLs, jetstream.Options{
			Stream:   cfg.NATS.Stream,
			Replicas: cfg.NATS.Replicas,
			MaxLen:   cfg.HistorySize,
			MaxAge:   cfg.HistoryAge,
			// JetStream's window cannot exceed the stream's max age.
			DuplicateWindow: capWindow(cfg.duplicateWindow(), cfg.HistoryAge),
			NATS:            nopts,
			Logger:          log,
		})
		if err != nil {
			return nil, "", fmt.Errorf("--nats %s: %w", where, err)
		}
		return l, where, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, "", fmt.Errorf("--data: %w", err)
	}
	where = filepath.Join(cfg.DataDir, historyFileName)
	l, err := bolt.Open(where, bolt.Options{
		MaxLen:          cfg.HistorySize,
		MaxAge:          cfg.HistoryAge,
		DuplicateWindow: cfg.duplicateWindow(),
		NoGroupCommit:   noGroupCommit,
		SkipCheck:       cfg.SkipCheck,
		Logger:          log,
	})
	if err != nil {
		return nil, "", fmt.Errorf("--data %s: %w", cfg.DataDir, err)
	}
	return l, where, nil
}

// presence is a hub.Presence the hub closes.
type presence interface {
	hub.Presence
	Close() error
}

// openPresence starts this node's presence in the shared store, for the
// subscriptions API and events of a cluster: with --subscriptions and a
// store other nodes share. Otherwise it returns nil.
func openPresence(ctx context.Context, cfg Config, st store) (presence, error) {
	if !cfg.Subscriptions {
		return nil, nil
	}
	switch l := st.(type) {
	case *redis.Log:
		p, err := l.Presence(ctx, cfg.PresenceTTL)
		if err != nil {
			return nil, fmt.Errorf("--redis: %w", err)
		}
		return p, nil
	case *jetstream.Log:
		p, err := l.Presence(ctx, cfg.PresenceTTL)
		if err != nil {
			return nil, fmt.Errorf("--nats: %w", err)
		}
		return p, nil
	}
	return nil, nil
}

// Retention of the announcements log: it need only cover a hub's lag in
// following it, for announced events are live-only.
const (
	announcementsMaxLen = 100_000
	announcementsMaxAge = 5 * time.Minute
)

// openAnnouncements opens the log that carries the subscription events of
// a cluster between its nodes (see hub.Options.Announcements), beside the
// shared store st and on its connection: with --subscriptions and --redis
// or --nats. Otherwise it returns nil, and events reach this node's
// subscribers only. The connection is closed with the last of the two.
func openAnnouncements(ctx context.Context, cfg Config, st store, log *slog.Logger) (hub.Log, error) {
	if !cfg.Subscriptions {
		return nil, nil
	}
	switch l := st.(type) {
	case *redis.Log:
		a, err := l.Sibling(ctx, redis.Options{
			Prefix: redis.DefaultPrefix + ":announcements",
			MaxLen: announcementsMaxLen, MaxAge: announcementsMaxAge, Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("--redis: the announcements log: %w", err)
		}
		return a, nil
	case *jetstream.Log:
		sctx, cancel := context.WithTimeout(ctx, natsStartTimeout)
		defer cancel()
		a, err := l.Sibling(sctx, jetstream.Options{
			Stream:          cmp.Or(cfg.NATS.Stream, jetstream.DefaultStream) + "_ANNOUNCEMENTS",
			Replicas:        cfg.NATS.Replicas,
			MaxLen:          announcementsMaxLen,
			MaxAge:          announcementsMaxAge,
			DuplicateWindow: capWindow(cfg.duplicateWindow(), announcementsMaxAge),
			Logger:          log,
		})
		if err != nil {
			return nil, fmt.Errorf("--nats: the announcements stream: %w", err)
		}
		return a, nil
	}
	return nil, nil
}

// capWindow returns the duplicate window w, at most maxAge when that is
// set.
func capWindow(w, maxAge time.Duration) time.Duration {
	if maxAge > 0 && w > maxAge {
		return maxAge
	}
	return w
}

// redactURLs hides the passwords of comma-separated URLs.
func redactURLs(urls string) string {
	var out []string
	for u := range strings.SplitSeq(urls, ",") {
		if pu, err := url.Parse(strings.TrimSpace(u)); err == nil {
			u = pu.Redacted()
		}
		out = append(out, u)
	}
	return strings.Join(out, ",")
}

// mercureFlag names the flag that sets field of mercure.Options.
func mercureFlag(cfg Config, field string) string {
	switch field {
	case "PublisherKey":
		if cfg.PublisherKey != "" {
			return "--publisher-jwt-key"
		}
		return "--jwt-key"
	case "SubscriberKey":
		if cfg.SubscriberKey != "" {
			return "--subscriber-jwt-key"
		}
		return "--jwt-key"
	case "CORSOrigins":
		return "--cors-origins"
	case "MaxSubscriptions":
		return "--max-subscriptions"
	case "MaxSubscriptionsPerClient":
		return "--max-subscriptions-per-client"
	case "Issuers":
		return "--jwt-issuer or --issuer"
	case "ResourceIdentifier":
		return "--resource-identifier"
	case "Protocol":
		return "--protocol"
	}
	return "mercure.Options." + field
}
