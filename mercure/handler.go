package mercure

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/flushpool"
	"github.com/ssehub/ssehub/internal/hijack"
)

// Defaults for Options' zero values. Heartbeat and WriteTimeout default to
// those of package sse.
const (
	DefaultAlgorithm = "HS256"
	// DefaultCookieName is the cookie Mercure 0.x hubs read a token from.
	DefaultCookieName = "mercureAuthorization"
	// DefaultAccessTokenCookie is the cookie Mercure 1.0 reads an access
	// token from. Browsers refuse a __Secure- cookie set over plain HTTP,
	// so a hub served without TLS needs another name.
	DefaultAccessTokenCookie = "__Secure-mercure_access_token"
	DefaultMaxBodyBytes      = 1 << 20
	DefaultMaxTopics         = 100
	// DefaultMaxSelectorsPerClient is ten subscriptions' worth of
	// distinct selectors per client address: plenty for the tabs of one
	// user, and few enough that the clients of one address cannot make
	// the hub compile and index selectors without bound.
	DefaultMaxSelectorsPerClient = 10 * DefaultMaxTopics
	// DefaultBodyReadTimeout bounds reading one publish request's body.
	DefaultBodyReadTimeout = 30 * time.Second
	// DefaultRetryAfter is what a refused subscriber is told to wait: long
	// enough for a storm of reconnections to spread out, short enough that
	// an EventSource user barely notices.
	DefaultRetryAfter = 5 * time.Second
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
	// CookieName is the cookie a Mercure 0.x token is read from; empty
	// means "mercureAuthorization".
	CookieName string

	// Issuers are the trusted issuers of Mercure 1.0 access tokens (RFC
	// 9068), each with its own keys. Without any, 1.0 tokens are refused
	// and 1.0 clients are anonymous subscribers at most.
	Issuers []Issuer
	// ResourceIdentifier is the hub's OAuth 2.0 resource identifier: the
	// audience its 1.0 access tokens must name, the resource of its RFC
	// 9728 metadata, and the base of relative URL patterns (pass the same
	// to hub.Options.BaseURL). Empty means derived from each request as
	// <scheme>://<host>/.well-known/mercure, with the scheme and host a
	// trusted proxy names (TrustedProxies).
	ResourceIdentifier string
	// AccessTokenCookie is the cookie a Mercure 1.0 access token is read
	// from; empty means DefaultAccessTokenCookie. Browsers store a cookie
	// named __Secure-... only over HTTPS: a hub on plain HTTP needs
	// another name.
	AccessTokenCookie string
	// Protocol is the protocol spoken: 0 both Mercure 0.x and 1.0, chosen
	// per request; 1 Mercure 1.0 only, for operators whose clients have
	// all migrated: 0.x requests then get the answers of a 1.0 hub.
	Protocol int

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
	// Presence, when set, makes the subscriptions API list the active
	// subscriptions of every node sharing it (see hub.Presence), and
	// RunReaper announce the end of a dead node's subscriptions. Without
	// it the API lists this node's.
	Presence hub.Presence

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
	// TrustedProxies are the proxies whose forwarding headers are
	// believed: X-Forwarded-For names the client address for the
	// per-client bounds, and, without a ResourceIdentifier, Forwarded
	// (RFC 7239) or X-Forwarded-Proto and X-Forwarded-Host name the origin
	// the client used, from which the resource identifier is derived.
	// Empty means those headers are ignored: the client is the
	// connection's remote address, the origin the request's Host.
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
	accessCookie string
	issuers      map[string]*issuer // by issuer identifier
	resource     string             // "" derived per request
	only1        bool               // Mercure 1.0 only
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
	presence     hub.Presence
	noHijack     bool
	sendBuffer   int
	streams      hijack.Engine  // taken-over subscriber connections
	flushers     flushpool.Pool // writers of the streams net/http keeps (HTTP/2, HTTP/3)
}

// ErrInvalidOptions is wrapped by every error of [New] about its Options.
var ErrInvalidOptions = errors.New("mercure: invalid options")

// OptionError is the error of [New] for an Options field it cannot use. It
// unwraps to [ErrInvalidOptions] and to what is wrong with the field.
type OptionError struct {
	Field string // the field's name in Options, such as "SubscriberKey"
	Err   error
}

func (e *OptionError) Error() string   { return e.Err.Error() }
func (e *OptionError) Unwrap() []error { return []error{ErrInvalidOptions, e.Err} }

// New checks opts, parses the keys and returns a Handler. An error about
// opts is an [*OptionError] naming the field.
func New(opts Options) (*Handler, error) {
	bad := func(field string, err error) error { return &OptionError{Field: field, Err: err} }
	switch {
	case opts.Hub == nil:
		return nil, bad("Hub", errors.New("mercure: Options.Hub is required"))
	case len(opts.PublisherKey) == 0:
		return nil, bad("PublisherKey", errors.New("mercure: Options.PublisherKey is required: publishing always needs a token"))
	case opts.MaxSubscriptions < 0:
		return nil, bad("MaxSubscriptions", errors.New("mercure: Options.MaxSubscriptions must not be negative"))
	case opts.MaxSubscriptionsPerClient < 0:
		return nil, bad("MaxSubscriptionsPerClient", errors.New("mercure: Options.MaxSubscriptionsPerClient must not be negative"))
	}
	opts = withDefaults(opts)
	h := &Handler{
		hub:          opts.Hub,
		cookieName:   opts.CookieName,
		accessCookie: opts.AccessTokenCookie,
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
		presence:    opts.Presence,
		noHijack:    opts.NoHijack,
		sendBuffer:  opts.SendBuffer,
	}
	if h.limits.maxSelsPerClient < 0 {
		h.limits.maxSelsPerClient = 0 // the limiter's "no bound"
	}
	var err error
	if h.pub, err = newVerifier("publisher", opts.PublisherKey, opts.Algorithm); err != nil {
		return nil, bad("PublisherKey", err)
	}
	if len(opts.SubscriberKey) > 0 {
		if h.sub, err = newVerifier("subscriber", opts.SubscriberKey, opts.SubscriberAlgorithm); err != nil {
			return nil, bad("SubscriberKey", err)
		}
	}
	if h.cors, err = newCORS(opts.CORSOrigins); err != nil {
		return nil, bad("CORSOrigins", err)
	}
	switch opts.Protocol {
	case 0:
	case 1:
		h.only1 = true
	default:
		return nil, bad("Protocol", fmt.Errorf("mercure: Options.Protocol %d: want 0 (Mercure 0.x and 1.0) or 1 (1.0 only)", opts.Protocol))
	}
	if h.resource = opts.ResourceIdentifier; h.resource != "" {
		if u, err := url.Parse(h.resource); err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" {
			return nil, bad("ResourceIdentifier", fmt.Errorf("mercure: Options.ResourceIdentifier %q: want an absolute URL like https://example.com/.well-known/mercure", h.resource))
		}
	}
	h.issuers = make(map[string]*issuer, len(opts.Issuers))
	for _, is := range opts.Issuers {
		if h.issuers[is.ID] != nil {
			return nil, bad("Issuers", fmt.Errorf("mercure: issuer %q configured twice", is.ID))
		}
		v, err := newIssuer(is)
		if err != nil {
			return nil, bad("Issuers", err)
		}
		v.pub.checkSelector = h.hub.CheckSelector
		if v.sub != nil {
			v.sub.checkSelector = h.hub.CheckSelector
		}
		h.issuers[is.ID] = v
	}
	return h, nil
}

// withDefaults returns opts with the defaults in place of zero values.
func withDefaults(opts Options) Options {
	if opts.Algorithm == "" {
		opts.Algorithm = DefaultAlgorithm
	}
	if opts.SubscriberAlgorithm == "" {
		opts.SubscriberAlgorithm = opts.Algorithm
	}
	if opts.CookieName == "" {
		opts.CookieName = DefaultCookieName
	}
	if opts.AccessTokenCookie == "" {
		opts.AccessTokenCookie = DefaultAccessTokenCookie
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxTopics <= 0 {
		opts.MaxTopics = DefaultMaxTopics
	}
	if opts.MaxSelectorsPerClient == 0 {
		opts.MaxSelectorsPerClient = DefaultMaxSelectorsPerClient
	}
	if opts.BodyReadTimeout == 0 {
		opts.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = DefaultRetryAfter
	}
	if opts.SendBuffer == 0 {
		opts.SendBuffer = DefaultSendBuffer
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return opts
}

// ServeHTTP routes r to subscribing (GET, HEAD, QUERY), publishing (POST),
// CORS preflight (OPTIONS), the subscriptions API or the RFC 9728 metadata
// (at MetadataPath, where the caller must route it too).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	CloseAfterChunkedRequest(w, r)
	preflight := h.cors.apply(w, r)
	path := r.URL.Path
	switch {
	case path == Path:
		switch {
		case preflight:
			h.cors.preflight(w, r)
		case r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == methodQuery:
			if l := h.subscribe(w, r); l != nil {
				l.wait() // with a shallow stack: see liveSub
			}
		case r.Method == http.MethodPost:
			h.publish(w, r)
		default:
			w.Header().Set("Allow", "GET, HEAD, QUERY, POST, OPTIONS")
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
		}
	case path == MetadataPath:
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			h.metadata(w, r)
		default:
			w.Header().Set("Allow", "GET, HEAD")
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

// CloseAfterChunkedRequest makes the server close an HTTP/1.x connection
// after answering r when r's body came chunked. RFC 9112, section 6.1: a
// server MUST close the connection after responding to a request with both
// Content-Length and Transfer-Encoding, a classic request-smuggling shape
// whose next pipelined request may be a smuggled one. net/http reads such
// a body as chunked and deletes Content-Length from r.Header before any
// handler runs, so the two cannot be told apart here: every chunked request
// closes its connection, which RFC 9112 allows (a server "MAY close the
// transport connection at any time", section 9.5) and which costs only a
// new connection for the rare client that sends chunked bodies. Call it
// before writing the response; the Handler does for its own requests, and
// a server should for all of its others.
func CloseAfterChunkedRequest(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 && len(r.TransferEncoding) > 0 {
		w.Header().Set("Connection", "close")
	}
}
