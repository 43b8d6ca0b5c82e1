package mercure

import (
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/hijack"
)

// Defaults for Options' zero values.
const (
	DefaultAlgorithm    = "HS256"
	DefaultMaxBodyBytes = 1 << 20
	DefaultMaxTopics    = 100
	// DefaultMaxSelectorsPerClient is ten subscriptions' worth of
	// distinct selectors per client address: plenty for the tabs of one
	// user, and few enough that the clients of one address cannot make
	// the hub compile and index selectors without bound.
	DefaultMaxSelectorsPerClient = 10 * DefaultMaxTopics
	// DefaultSendBuffer is room for bursts of events, a bounded price for
	// a client that stops reading. Linux doubles the value for its
	// bookkeeping.
	DefaultSendBuffer = hijack.DefaultSendBuffer
)

// Options configures a Handler. Hub and PublisherKey are required.
type Options struct {
	// Hub is the broker updates are published to and read from.
	Hub *hub.Hub

	// PublisherKey verifies publishers' tokens: the secret itself for HMAC
	// algorithms, PEM text of the public key for RSA, ECDSA and EdDSA.
	PublisherKey []byte
	// SubscriberKey verifies subscribers' tokens, in the same forms. Empty
	// means subscriber tokens cannot be verified and are rejected, which
	// leaves only anonymous subscribers.
	SubscriberKey []byte
	// Algorithm is the one JWT algorithm accepted for PublisherKey (and for
	// SubscriberKey unless SubscriberAlgorithm is set). Empty means HS256.
	Algorithm string
	// SubscriberAlgorithm, if set, is the algorithm for SubscriberKey.
	SubscriberAlgorithm string
	// CookieName is the cookie a token is read from; empty means
	// "mercureAuthorization".
	CookieName string

	// Anonymous lets subscribers without a token in; they get public
	// updates only.
	Anonymous bool
	// CORSOrigins are the origins whose pages may subscribe and publish
	// with credentials (cookies). "*" lets every other origin's pages in
	// without credentials only ("Access-Control-Allow-Origin: *", as the
	// Fetch standard requires): they read public updates, or use a token
	// they hold in an Authorization header. A cookie-authorized publish is
	// accepted only from an origin listed explicitly, never through "*",
	// which keeps other sites from forging it.
	CORSOrigins []string
	// Subscriptions enables the active subscriptions API and events.
	Subscriptions bool

	// Heartbeat is the idle time after which a subscriber gets a comment
	// to keep its connection open: 0 means sse.DefaultHeartbeat, negative
	// none.
	Heartbeat time.Duration
	// WriteTimeout bounds each write to a subscriber; 0 means the sse
	// package's default.
	WriteTimeout time.Duration
	// MaxBodyBytes bounds a publish request's body; larger bodies get 413.
	// 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxTopics bounds the topics of one update and the selectors of one
	// subscription. 0 means DefaultMaxTopics.
	MaxTopics int
	// BodyReadTimeout bounds reading a publish request's body, so that a
	// client trickling one cannot hold a handler forever; the request gets
	// 408 then. It is a per-request read deadline, which, unlike
	// http.Server.ReadTimeout, leaves subscribers' streams alone. 0 means
	// DefaultBodyReadTimeout, negative none.
	BodyReadTimeout time.Duration

	// MaxSubscriptions bounds the subscriptions open at once on this
	// handler; one more gets 503 with Retry-After. 0 means no bound.
	MaxSubscriptions int
	// MaxSubscriptionsPerClient bounds the subscriptions open at once from
	// one client address; one more gets 429 with Retry-After. 0 means no
	// bound.
	MaxSubscriptionsPerClient int
	// MaxSelectorsPerClient bounds the distinct topic selectors one
	// client address holds over its open subscriptions (a selector in
	// several of them counts once); a subscription that would go beyond
	// gets 429 with Retry-After. 0 means DefaultMaxSelectorsPerClient,
	// negative no bound. MaxTopics bounds the selectors of one
	// subscription, and hub.Options.MaxSelectors those of the whole hub
	// (503 beyond).
	MaxSelectorsPerClient int
	// TrustedProxies are the proxies whose X-Forwarded-For header names
	// the client address for the per-client bounds. Empty means the
	// header is ignored and the client is the connection's remote address.
	TrustedProxies []netip.Prefix
	// RetryAfter is the wait a refused subscriber is told to observe; 0
	// means DefaultRetryAfter.
	RetryAfter time.Duration

	// NoHijack serves every subscriber through net/http's ResponseWriter.
	// By default an HTTP/1.1 subscriber's connection is taken over
	// (hijacked) once its stream opens, on Linux, so that an idle
	// subscriber holds no goroutine and none of net/http's per-connection
	// buffers: its events and heartbeats are written by a few shared
	// goroutines, and its hang-up is noticed through one shared epoll
	// instance. HTTP/2 subscribers always go through net/http. Taken-over
	// connections are not tracked by http.Server: Shutdown and Close leave
	// them open, and closing the Hub ends them.
	NoHijack bool

	// SendBuffer caps the kernel's send buffer (SO_SNDBUF) of a taken-over
	// subscriber connection. Left to autotuning, Linux grows it to several
	// MiB per connection: a client that stops reading then pins that much
	// of the machine's memory, and the hub spends CPU filling it, before a
	// write blocks and the client is found out. 0 means DefaultSendBuffer;
	// negative leaves the kernel's autotuning.
	SendBuffer int

	// Logger receives the handler's logs; nil means slog.Default().
	Logger *slog.Logger
	// ObservePublish, if set, is called with the duration of every
	// successful publish (until the update is stored and queued).
	ObservePublish func(time.Duration)
	// OnSubscriberChange, if set, is called with +1 when a subscriber's
	// stream opens and -1 when it ends, and the major HTTP version the
	// stream is served over (1, 2 or 3), so that a caller can count them
	// per protocol.
	OnSubscriberChange func(protoMajor, delta int)
}

// Handler serves the Mercure protocol at Path and, when enabled, the active
// subscriptions API below it. It is safe for concurrent use.
type Handler struct {
	hub          *hub.Hub
	pub, sub     *verifier // sub is nil without a SubscriberKey
	cookieName   string
	anonymous    bool
	cors         cors
	subsEnabled  bool
	heartbeat    time.Duration
	writeTimeout time.Duration
	maxBody      int64
	maxTopics    int
	bodyTimeout  time.Duration
	limits       limiter
	trusted      []netip.Prefix
	retryAfter   time.Duration
	log          *slog.Logger
	observePub   func(time.Duration)
	onSubChange  func(protoMajor, delta int)
	subs         registry
	noHijack     bool
	sendBuffer   int
	streams      hijack.Engine // taken-over subscriber connections
}

// New checks opts, parses the keys and returns a Handler.
func New(opts Options) (*Handler, error) {
	if opts.Hub == nil {
		return nil, errors.New("mercure: Options.Hub is required")
	}
	if len(opts.PublisherKey) == 0 {
		return nil, errors.New("mercure: Options.PublisherKey is required: publishing always needs a token")
	}
	alg := opts.Algorithm
	if alg == "" {
		alg = DefaultAlgorithm
	}
	subAlg := opts.SubscriberAlgorithm
	if subAlg == "" {
		subAlg = alg
	}
	h := &Handler{
		hub:          opts.Hub,
		cookieName:   opts.CookieName,
		anonymous:    opts.Anonymous,
		subsEnabled:  opts.Subscriptions,
		heartbeat:    opts.Heartbeat,
		writeTimeout: opts.WriteTimeout,
		maxBody:      opts.MaxBodyBytes,
		maxTopics:    opts.MaxTopics,
		bodyTimeout:  opts.BodyReadTimeout,
		limits: limiter{
			maxTotal:         opts.MaxSubscriptions,
			maxPerClient:     opts.MaxSubscriptionsPerClient,
			maxSelsPerClient: opts.MaxSelectorsPerClient,
		},
		trusted:     opts.TrustedProxies,
		retryAfter:  opts.RetryAfter,
		log:         opts.Logger,
		observePub:  opts.ObservePublish,
		onSubChange: opts.OnSubscriberChange,
		noHijack:    opts.NoHijack,
		sendBuffer:  opts.SendBuffer,
	}
	switch {
	case h.limits.maxSelsPerClient == 0:
		h.limits.maxSelsPerClient = DefaultMaxSelectorsPerClient
	case h.limits.maxSelsPerClient < 0:
		h.limits.maxSelsPerClient = 0 // the limiter's "no bound"
	}
	if h.sendBuffer == 0 {
		h.sendBuffer = DefaultSendBuffer
	}
	var err error
	if h.pub, err = newVerifier("publisher", opts.PublisherKey, alg); err != nil {
		return nil, err
	}
	if len(opts.SubscriberKey) > 0 {
		if h.sub, err = newVerifier("subscriber", opts.SubscriberKey, subAlg); err != nil {
			return nil, err
		}
	}
	if h.cors, err = newCORS(opts.CORSOrigins); err != nil {
		return nil, err
	}
	if h.cookieName == "" {
		h.cookieName = DefaultCookieName
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	if h.maxTopics <= 0 {
		h.maxTopics = DefaultMaxTopics
	}
	if h.bodyTimeout == 0 {
		h.bodyTimeout = DefaultBodyReadTimeout
	}
	if h.retryAfter <= 0 {
		h.retryAfter = DefaultRetryAfter
	}
	if opts.MaxSubscriptions < 0 || opts.MaxSubscriptionsPerClient < 0 {
		return nil, errors.New("mercure: Options.MaxSubscriptions and MaxSubscriptionsPerClient must not be negative")
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h, nil
}

// ServeHTTP routes r to subscribing (GET), publishing (POST), CORS
// preflight (OPTIONS) or the subscriptions API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	preflight := h.cors.apply(w, r)
	path := r.URL.Path
	switch {
	case path == Path:
		switch {
		case preflight:
			h.cors.preflight(w, r)
		case r.Method == http.MethodGet:
			h.subscribe(w, r)
		case r.Method == http.MethodPost:
			h.publish(w, r)
		default:
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
		}
	case h.subsEnabled && (path == subscriptionsPath || strings.HasPrefix(path, subscriptionsPath+"/")):
		switch {
		case preflight:
			h.cors.preflight(w, r)
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			h.subscriptionsAPI(w, r)
		default:
			w.Header().Set("Allow", "GET, HEAD, OPTIONS")
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
		}
	default:
		http.NotFound(w, r)
	}
}
