package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
	goredis "github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/jetstream"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/sse"
)

// envPrefix starts the name of every flag's environment variable:
// --history-size is SSEHUB_HISTORY_SIZE.
const envPrefix = "SSEHUB_"

// defaultShutdownTimeout bounds a graceful shutdown when
// --shutdown-timeout is not given.
const defaultShutdownTimeout = 10 * time.Second

// Config is the hub's configuration, from flags and environment variables.
// parseConfig returns it validated and with its defaults resolved.
type Config struct {
	Addr    string // host:port to listen on
	DataDir string // holds the bolt history and the generated key

	// The keys as configured: an HMAC secret itself, or for RSA, ECDSA
	// and EdDSA the PEM text of a public key (read from a file when the
	// flag named one). Empty when not configured.
	JWTKey        string
	PublisherKey  string
	SubscriberKey string
	JWTAlg        string

	// Mercure 1.0: the trusted issuers of the configured keys, the hub's
	// resource identifier ("" derived per request), the access token
	// cookie's name and the protocol (0 both dialects, 1 only 1.0).
	JWTIssuers []string
	// Issuers are trusted issuers with their own key or JWKS (--issuer).
	Issuers            []IssuerConfig
	ResourceIdentifier string
	AccessTokenCookie  string
	Protocol           int

	Anonymous   bool
	CORSOrigins []string
	HistorySize int
	HistoryAge  time.Duration
	// DuplicateWindow: a publish whose ID and content equal an update
	// stored less than this ago is answered with that update (0: off).
	DuplicateWindow time.Duration
	// PresenceTTL: with a shared store and Subscriptions, how long a dead
	// node's subscriptions stay listed.
	PresenceTTL   time.Duration
	Heartbeat     time.Duration // 0 disables heartbeats
	Subscriptions bool
	Demo          bool

	// Bounds on open subscriptions (0: none), and the proxies trusted to
	// name the client in X-Forwarded-For for the per-client bound, and
	// the origin the client used (mercure.Options.TrustedProxies).
	MaxSubscriptions          int
	MaxSubscriptionsPerClient int
	// Bounds on distinct topic selectors: held by one client address
	// over its subscriptions, and in the whole hub (0: none).
	MaxSelectorsPerClient int
	MaxSelectors          int
	TrustedProxies        []netip.Prefix
	// NoHijack keeps HTTP/1.1 subscribers on net/http's connection
	// handling instead of the hijacked, goroutine-free streams.
	NoHijack bool
	// SkipCheck opens the bolt history without its consistency check.
	SkipCheck bool

	LogFormat string // "text" or "json"
	LogLevel  slog.Level

	// HTTPS: certificate and key files, reloaded when they change; or a
	// self-signed certificate for localhost kept in DataDir; or
	// certificates from an ACME CA for ACMEDomains, kept in DataDir.
	TLSCert       string
	TLSKey        string
	TLSSelfSigned bool
	ACMEDomains   []string
	ACMEEmail     string
	ACMECA        string
	ACMEProfile   string // the CA's certificate profile; "" for its default
	// ACMEHTTPAddr serves the ACME HTTP-01 challenge, and redirects
	// every other request to HTTPS, when ACME is on.
	ACMEHTTPAddr string
	// H2C serves cleartext HTTP/2 (prior knowledge) beside HTTP/1.1, for
	// a proxy in front that speaks it.
	H2C bool
	// HTTP3 serves HTTP/3 over QUIC on Addr's port (UDP), advertised to
	// HTTPS clients with Alt-Svc.
	HTTP3 bool

	Redis  string // Redis URL; empty keeps the history in DataDir
	NATS   NATSConfig
	Memory bool // keep the history in process memory only
	// HistoryBytes bounds the size of the --memory history (0: none).
	HistoryBytes    int64
	ReusePort       bool
	ShutdownTimeout time.Duration
}

// Defaults of the HTTPS flags.
const (
	// defaultACMECA is Let's Encrypt's production directory.
	defaultACMECA       = "https://acme-v02.api.letsencrypt.org/directory"
	defaultACMEHTTPAddr = ":80"
)

// TLS reports whether the hub serves HTTPS.
func (c *Config) TLS() bool {
	return c.TLSCert != "" || c.TLSSelfSigned || len(c.ACMEDomains) > 0
}

// usageError is a configuration mistake: the process exits with status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// GeneratesKey reports whether no key is configured, so the hub uses the
// HMAC key it generates and keeps in DataDir.
func (c *Config) GeneratesKey() bool {
	return c.JWTKey == "" && c.PublisherKey == "" && c.SubscriberKey == ""
}

// DevDefaults reports whether the hub runs on the development defaults:
// a generated key, no --issuer and a loopback address. Only then does it
// hand out publish tokens (printed at start and to the demo page's form),
// since only the machine's own user can reach it.
func (c *Config) DevDefaults() bool {
	return c.GeneratesKey() && len(c.Issuers) == 0 && isLoopback(c.Addr)
}

// publisherKey and subscriberKey are the configured keys per role: the
// role's own flag wins over --jwt-key.
func (c *Config) publisherKey() string  { return cmp.Or(c.PublisherKey, c.JWTKey) }
func (c *Config) subscriberKey() string { return cmp.Or(c.SubscriberKey, c.JWTKey) }

// isLoopback reports whether addr's host can only be reached from this
// machine: "localhost" or a loopback IP. An empty host listens everywhere.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

const configUsage = `usage: ssehub [flags]

Runs a Mercure hub for Server-Sent Events. With no configuration it listens
on localhost:8080, keeps its history in ./ssehub-data, generates a signing
key there, prints a ready-to-paste publish command, lets anyone subscribe
and publishes a demo feed every second.

Every flag can also be set with the environment variable shown; a flag on
the command line wins over its variable.

flags:
`

// parseConfig reads the configuration from args and from the environment
// through lookupEnv (os.LookupEnv in production). -h prints the usage to out
// and returns flag.ErrHelp; any invalid value yields a *usageError naming the
// flag.
func parseConfig(args []string, lookupEnv func(string) (string, bool), out io.Writer) (Config, error) {
	c := Config{}
	var cors, logLevel, pubKey, subKey, jwtKey, proxies string
	fs := flag.NewFlagSet("ssehub", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.Addr, "addr", "localhost:8080", "`host:port` to listen on")
	fs.StringVar(&c.DataDir, "data", "ssehub-data", "`directory` for the history (bolt) and the generated key")
	fs.StringVar(&jwtKey, "jwt-key", "", "one `key` for publishers' and subscribers' tokens (default: generated in the data directory)")
	fs.StringVar(&pubKey, "publisher-jwt-key", "", "`key` for publishers' tokens; wins over --jwt-key")
	fs.StringVar(&subKey, "subscriber-jwt-key", "", "`key` for subscribers' tokens; wins over --jwt-key")
	fs.StringVar(&c.JWTAlg, "jwt-alg", "HS256", "JWT `algorithm`: HS256/384/512 take the secret itself, RS*, PS*, ES* and EdDSA a PEM public key as text or file path")
	fs.Func("jwt-issuer", "trusted `issuer` (the iss claim) of Mercure 1.0 access tokens signed with the configured keys; repeatable", func(v string) error {
		if v == "" {
			return errors.New("must not be empty")
		}
		c.JWTIssuers = append(c.JWTIssuers, v)
		return nil
	})
	fs.Func("issuer", "`ISS,jwks=URL,alg=ALG` or ISS,key=K or ISS,key-file=PATH (alg= defaults to HS256 for a key): a trusted issuer of Mercure 1.0 access tokens with its own key or JWKS and its one algorithm; repeatable", func(v string) error {
		is, err := parseIssuer(v)
		if err == nil {
			c.Issuers = append(c.Issuers, is)
		}
		return err
	})
	fs.StringVar(&c.ResourceIdentifier, "resource-identifier", "", "the hub's OAuth resource identifier, the `URL` Mercure 1.0 tokens must name in aud, like https://example.com/.well-known/mercure (default: derived from each request)")
	fs.StringVar(&c.AccessTokenCookie, "access-token-cookie", mercure.DefaultAccessTokenCookie, "`name` of the cookie Mercure 1.0 access tokens are read from; browsers keep __Secure- cookies over HTTPS only")
	fs.IntVar(&c.Protocol, "protocol", 0, "Mercure `version` spoken: 0 both 0.x and 1.0, chosen per request; 1 only 1.0")
	fs.BoolVar(&c.Anonymous, "anonymous", false, "let subscribers in without a token (default: true on the development defaults or without a subscriber key)")
	fs.StringVar(&cors, "cors-origins", "", "comma-separated `origins` whose pages may subscribe and publish with cookies; * lets any other origin in without credentials")
	fs.IntVar(&c.HistorySize, "history-size", bolt.DefaultMaxLen, "most updates kept for replay")
	fs.DurationVar(&c.HistoryAge, "history-age", 0, "drop updates older than this `duration` (0: no age limit)")
	fs.DurationVar(&c.DuplicateWindow, "duplicate-window", hub.DefaultDuplicateWindow, "a publish whose id and content equal an update stored less than this `duration` ago is answered with that update and not stored again, so a retried publish is stored once; a reused id with other content is stored (0: off; with --nats, --history-age if that is shorter)")
	fs.DurationVar(&c.Heartbeat, "heartbeat", sse.DefaultHeartbeat, "idle `duration` after which subscribers get a keep-alive comment (0: none)")
	fs.BoolVar(&c.Subscriptions, "subscriptions", false, "enable the active subscriptions API and events")
	fs.DurationVar(&c.PresenceTTL, "presence-ttl", hub.DefaultPresenceTTL, "with --subscriptions and --redis or --nats: the subscriptions API lists every node's subscriptions, and a node silent for this `duration` has its subscriptions announced inactive")
	fs.IntVar(&c.MaxSubscriptions, "max-subscriptions", 0, "most subscriptions open at once; one more gets 503 and Retry-After (0: no bound)")
	fs.IntVar(&c.MaxSubscriptionsPerClient, "max-subscriptions-per-client", 0, "most subscriptions open at once from one client address; one more gets 429 (0: no bound)")
	fs.IntVar(&c.MaxSelectorsPerClient, "max-selectors-per-client", mercure.DefaultMaxSelectorsPerClient, "most distinct topic selectors one client address holds over its open subscriptions; one more gets 429 (0: no bound)")
	fs.IntVar(&c.MaxSelectors, "max-selectors", hub.DefaultMaxSelectors, "most distinct topic selectors in the whole hub; one more gets 503 (0: no bound)")
	fs.StringVar(&proxies, "trusted-proxies", "", "comma-separated proxy `addresses` or CIDR prefixes whose X-Forwarded-For names the client, and whose Forwarded or X-Forwarded-Proto/Host name the origin the resource identifier is derived from")
	fs.BoolVar(&c.SkipCheck, "skip-check", false, "open the history file without checking it for corruption first (the check reads the whole file, or for 10 s at most)")
	fs.BoolVar(&c.NoHijack, "no-hijack", false, "serve HTTP/1.1 subscribers through net/http rather than on taken-over connections (more memory per idle subscriber)")
	fs.BoolVar(&c.Demo, "demo", false, "publish the demo topic every second (default: true on the development defaults)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log `format`: text or json")
	fs.StringVar(&logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "serve HTTPS (HTTP/1.1 and HTTP/2) with the certificate chain in this PEM `file`, read again when it changes or on SIGHUP")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM `file` of --tls-cert's private key")
	fs.BoolVar(&c.TLSSelfSigned, "tls-self-signed", false, "serve HTTPS with a certificate for localhost generated in the data directory (prints how to trust it)")
	// Names on the command line replace those of the environment
	// rather than add to them, like every other flag's value.
	var onCommandLine, domainsReset bool
	fs.Func("acme-domain", "serve HTTPS with certificates from --acme-ca for this `name` (repeatable, or comma-separated)", func(v string) error {
		if onCommandLine && !domainsReset {
			c.ACMEDomains, domainsReset = nil, true
		}
		for d := range strings.SplitSeq(v, ",") {
			if d = strings.TrimSpace(d); d != "" {
				c.ACMEDomains = append(c.ACMEDomains, d)
			}
		}
		return nil
	})
	fs.StringVar(&c.ACMEEmail, "acme-email", "", "contact `address` for the ACME account (expiry notices)")
	fs.StringVar(&c.ACMECA, "acme-ca", defaultACMECA, "ACME directory `URL`")
	fs.StringVar(&c.ACMEProfile, "acme-profile", "", "ACME certificate `profile` to ask for, such as Let's Encrypt's shortlived (6 days) (default: the CA's)")
	fs.StringVar(&c.ACMEHTTPAddr, "acme-http-addr", defaultACMEHTTPAddr, "`host:port` answering ACME HTTP-01 challenges and redirecting everything else to HTTPS, with --acme-domain")
	fs.BoolVar(&c.H2C, "h2c", false, "serve cleartext HTTP/2 (prior knowledge) beside HTTP/1.1, for a proxy in front that speaks it")
	fs.BoolVar(&c.HTTP3, "http3", false, "serve HTTP/3 over QUIC on --addr's UDP port too, advertised with Alt-Svc (needs HTTPS)")
	fs.StringVar(&c.Redis, "redis", "", "keep the history in the Redis at this `URL` (redis://host:port/db) instead of the data directory, shared by every hub using it")
	fs.StringVar(&c.NATS.URLs, "nats", "", "keep the history in a NATS JetStream stream on the servers at these comma-separated `URLs` (nats://host:4222,...) instead of the data directory, shared by every hub using it")
	fs.IntVar(&c.NATS.Replicas, "nats-replicas", 0, "`replicas` of the JetStream stream, 1 to 5 (default: 3 when the cluster has 3 or more servers, else 1)")
	fs.StringVar(&c.NATS.Stream, "nats-stream", jetstream.DefaultStream, "`name` of the JetStream stream holding the history")
	fs.StringVar(&c.NATS.Creds, "nats-creds", "", "NATS user credentials `file` (JWT and NKey seed)")
	fs.StringVar(&c.NATS.NKey, "nats-nkey", "", "NATS NKey seed `file`")
	fs.StringVar(&c.NATS.CA, "nats-ca", "", "PEM `file` of the CAs that sign the NATS servers' certificates")
	fs.StringVar(&c.NATS.Cert, "nats-cert", "", "PEM client certificate `file` for NATS (with --nats-key)")
	fs.StringVar(&c.NATS.Key, "nats-key", "", "PEM client key `file` for NATS (with --nats-cert)")
	fs.BoolVar(&c.Memory, "memory", false, "keep the history in process memory only: no disk write before a publish is answered, and lost at exit (bounded by --history-size, --history-bytes and --history-age)")
	c.HistoryBytes = hub.DefaultMemoryLogMaxBytes
	fs.Var((*byteSize)(&c.HistoryBytes), "history-bytes", "with --memory, most `bytes` of updates kept for replay: a number with an optional KiB, MiB or GiB (0: no bound)")
	fs.BoolVar(&c.ReusePort, "reuse-port", false, "listen with SO_REUSEPORT, so several hubs (sharing --redis or --nats) can serve one port")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", defaultShutdownTimeout, "bound on a graceful shutdown")
	fs.Usage = func() {
		fmt.Fprint(out, configUsage)
		printFlags(out, fs)
	}

	// Environment variables first, so that the command line overrides them.
	set := map[string]bool{}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		v, ok := lookupEnv(envName(f.Name))
		if !ok || envErr != nil {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			envErr = usagef("%s (--%s): invalid value %q: %v", envName(f.Name), f.Name, v, err)
		}
		set[f.Name] = true
	})
	if envErr != nil {
		return c, envErr
	}
	onCommandLine = true
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, &usageError{err}
	}
	if fs.NArg() > 0 {
		return c, usagef("unexpected argument %q: ssehub takes flags only", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	if err := c.LogLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return c, usagef("--log-level %q: want debug, info, warn or error", logLevel)
	}
	for o := range strings.SplitSeq(cors, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.CORSOrigins = append(c.CORSOrigins, o)
		}
	}
	for p := range strings.SplitSeq(proxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return c, usagef("--trusted-proxies: %q is neither an IP address nor a CIDR prefix", p)
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		c.TrustedProxies = append(c.TrustedProxies, pfx.Masked())
	}
	if err := c.validate(); err != nil {
		return c, err
	}
	if err := c.readKeys(jwtKey, pubKey, subKey); err != nil {
		return c, err
	}
	if set["history-bytes"] && !c.Memory {
		return c, usagef("--history-bytes: bounds the --memory history only; bolt and Redis keep theirs outside the process (bound them with --history-size and --history-age)")
	}
	if !set["anonymous"] {
		c.Anonymous = c.DevDefaults() || c.subscriberKey() == "" && !c.GeneratesKey()
	}
	if !set["demo"] {
		c.Demo = c.DevDefaults()
	}
	if !c.Anonymous && !c.GeneratesKey() && c.subscriberKey() == "" {
		return c, usagef("--anonymous=false: without --subscriber-jwt-key or --jwt-key nobody could subscribe")
	}
	return c, nil
}

// validate checks the values that need no file access.
func (c *Config) validate() error {
	ids := slices.Clone(c.JWTIssuers)
	for _, is := range c.Issuers {
		if slices.Contains(ids, is.ID) {
			return usagef("--issuer %s: the issuer is configured twice (each --issuer and --jwt-issuer names a different one)", is.ID)
		}
		ids = append(ids, is.ID)
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return usagef("--addr %q: want host:port: %v", c.Addr, err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || port == "" {
		return usagef("--addr %q: port %q is not a number from 0 to 65535", c.Addr, port)
	} else if n == 0 && c.ReusePort {
		return usagef("--addr %q: --reuse-port needs a fixed port", c.Addr)
	}
	if strings.ContainsAny(host, " /") {
		return usagef("--addr %q: invalid host %q", c.Addr, host)
	}
	if !c.shared() && c.DataDir == "" {
		return usagef("--data: must not be empty")
	}
	switch m := jwt.GetSigningMethod(c.JWTAlg); {
	case m == nil || c.JWTAlg == "none":
		return usagef("--jwt-alg %q: want HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA", c.JWTAlg)
	}
	switch {
	case c.HistorySize <= 0:
		return usagef("--history-size %d: must be at least 1", c.HistorySize)
	case c.HistoryAge < 0:
		return usagef("--history-age %v: must not be negative", c.HistoryAge)
	case c.PresenceTTL < 300*time.Millisecond:
		return usagef("--presence-ttl %v: must be at least 300ms (nodes renew their presence every third of it)", c.PresenceTTL)
	case c.DuplicateWindow < 0:
		return usagef("--duplicate-window %v: must not be negative (0: off)", c.DuplicateWindow)
	case c.Heartbeat < 0:
		return usagef("--heartbeat %v: must not be negative (0 disables heartbeats)", c.Heartbeat)
	case c.MaxSubscriptions < 0:
		return usagef("--max-subscriptions %d: must not be negative", c.MaxSubscriptions)
	case c.MaxSubscriptionsPerClient < 0:
		return usagef("--max-subscriptions-per-client %d: must not be negative", c.MaxSubscriptionsPerClient)
	case c.MaxSelectorsPerClient < 0:
		return usagef("--max-selectors-per-client %d: must not be negative (0: no bound)", c.MaxSelectorsPerClient)
	case c.MaxSelectors < 0:
		return usagef("--max-selectors %d: must not be negative (0: no bound)", c.MaxSelectors)
	case c.ShutdownTimeout <= 0:
		return usagef("--shutdown-timeout %v: must be positive", c.ShutdownTimeout)
	}
	switch c.Protocol {
	case 0, 1:
	default:
		return usagef("--protocol %d: want 0 (Mercure 0.x and 1.0) or 1 (1.0 only)", c.Protocol)
	}
	if c.ResourceIdentifier != "" {
		if u, err := url.Parse(c.ResourceIdentifier); err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" {
			return usagef("--resource-identifier %q: want an absolute URL like https://example.com/.well-known/mercure", c.ResourceIdentifier)
		}
	}
	if c.AccessTokenCookie == "" || strings.ContainsAny(c.AccessTokenCookie, " \t;,=\"") {
		return usagef("--access-token-cookie %q: not a cookie name", c.AccessTokenCookie)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return usagef("--log-format %q: want text or json", c.LogFormat)
	}
	if err := c.validateTLS(); err != nil {
		return err
	}
	if n := btoi(c.Memory) + btoi(c.Redis != "") + btoi(c.NATS.URLs != ""); n > 1 {
		return usagef("--memory, --redis and --nats: the history is kept in one place; choose one")
	}
	if err := c.NATS.check(); err != nil {
		return err
	}

	if c.Redis != "" {
		if _, err := goredis.ParseURL(c.Redis); err != nil {
			// The URL may hold a password: name the flag, not the value.
			return usagef("--redis: want redis://[[user]:password@]host:port/db or rediss://...: %v", err)
		}
	}
	for _, o := range c.CORSOrigins {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			return usagef("--cors-origins: %q is not an origin like https://example.com or *", o)
		}
	}
	return nil
}

// validateTLS checks that the HTTPS flags make one consistent choice.
func (c *Config) validateTLS() error {
	switch {
	case c.TLSCert != "" && c.TLSKey == "":
		return usagef("--tls-cert: set --tls-key too")
	case c.TLSKey != "" && c.TLSCert == "":
		return usagef("--tls-key: set --tls-cert too")
	case c.TLSCert != "" && c.TLSSelfSigned:
		return usagef("--tls-self-signed and --tls-cert: choose one certificate source")
	case c.TLSCert != "" && len(c.ACMEDomains) > 0:
		return usagef("--acme-domain and --tls-cert: choose one certificate source")
	case c.TLSSelfSigned && len(c.ACMEDomains) > 0:
		return usagef("--acme-domain and --tls-self-signed: choose one certificate source")
	case c.H2C && c.TLS():
		return usagef("--h2c: cleartext HTTP/2 is for a hub without HTTPS; over HTTPS HTTP/2 is on already")
	case c.HTTP3 && !c.TLS():
		return usagef("--http3: needs HTTPS (--tls-cert, --tls-self-signed or --acme-domain)")
	case c.TLSSelfSigned && c.DataDir == "":
		return usagef("--tls-self-signed: needs --data to keep the certificate in")
	}
	for _, d := range c.ACMEDomains {
		if strings.ContainsAny(d, "/:@ ") || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") {
			return usagef("--acme-domain %q: want a host name like hub.example.com", d)
		}
	}
	if len(c.ACMEDomains) > 0 {
		if c.DataDir == "" {
			return usagef("--acme-domain: needs --data to keep the certificates in")
		}
		u, err := url.Parse(c.ACMECA)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return usagef("--acme-ca %q: want the https:// URL of an ACME directory", c.ACMECA)
		}
		if _, port, err := net.SplitHostPort(c.ACMEHTTPAddr); err != nil || port == "" {
			return usagef("--acme-http-addr %q: want host:port", c.ACMEHTTPAddr)
		}
		if c.ACMEEmail != "" && !strings.Contains(c.ACMEEmail, "@") {
			return usagef("--acme-email %q: want an email address", c.ACMEEmail)
		}
	}
	return nil
}

// duplicateWindow is DuplicateWindow as the stores' options take it: there
// 0 is their default and negative is off.
func (c *Config) duplicateWindow() time.Duration {
	if c.DuplicateWindow == 0 {
		return -1
	}
	return c.DuplicateWindow
}

// shared reports whether the history lives in a store other hubs may
// share.
func (c *Config) shared() bool { return c.Redis != "" || c.NATS.URLs != "" }

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// NATSConfig is the configuration of the JetStream log (--nats…).
type NATSConfig struct {
	URLs     string // comma-separated server URLs; empty: no JetStream
	Replicas int    // 0: by the cluster's size
	Stream   string
	Creds    string // credentials file
	NKey     string // NKey seed file
	CA       string // PEM file of the servers' CAs
	Cert     string // PEM client certificate file, with Key
	Key      string
}

// check validates the --nats flags without connecting.
func (n NATSConfig) check() error {
	if n.URLs == "" {
		for flag, v := range map[string]string{"--nats-creds": n.Creds, "--nats-nkey": n.NKey, "--nats-ca": n.CA, "--nats-cert": n.Cert, "--nats-key": n.Key} {
			if v != "" {
				return usagef("%s: needs --nats", flag)
			}
		}
		return nil
	}
	for u := range strings.SplitSeq(n.URLs, ",") {
		pu, err := url.Parse(strings.TrimSpace(u))
		if err != nil || pu.Host == "" || (pu.Scheme != "nats" && pu.Scheme != "tls") {
			// The URL may hold a password: name the flag, not the value.
			return usagef("--nats: want comma-separated nats://host:port or tls://host:port URLs")
		}
	}
	if n.Replicas < 0 || n.Replicas > 5 {
		return usagef("--nats-replicas %d: want 1 to 5, or 0 for the default", n.Replicas)
	}
	if (n.Cert == "") != (n.Key == "") {
		return usagef("--nats-cert and --nats-key: give both or neither")
	}
	if n.Creds != "" && n.NKey != "" {
		return usagef("--nats-creds and --nats-nkey: give one")
	}
	if err := (jetstream.Options{Stream: n.Stream, Replicas: n.Replicas}).Validate(); err != nil {
		return usagef("--nats-stream %q: %v", n.Stream, err)
	}
	return nil
}

// options returns the nats.go options the flags ask for.
func (n NATSConfig) options() ([]nats.Option, error) {
	var opts []nats.Option
	if n.Creds != "" {
		opts = append(opts, nats.UserCredentials(n.Creds))
	}
	if n.NKey != "" {
		o, err := nats.NkeyOptionFromSeed(n.NKey)
		if err != nil {
			return nil, fmt.Errorf("--nats-nkey: %w", err)
		}
		opts = append(opts, o)
	}
	if n.CA != "" {
		opts = append(opts, nats.RootCAs(n.CA))
	}
	if n.Cert != "" {
		opts = append(opts, nats.ClientCert(n.Cert, n.Key))
	}
	return opts, nil
}

// hmacAlg reports whether alg signs with a shared secret.
func hmacAlg(alg string) bool {
	_, ok := jwt.GetSigningMethod(alg).(*jwt.SigningMethodHMAC)
	return ok
}

// readKeys stores the configured keys in c. For asymmetric algorithms a
// value that is not PEM text is the path of a PEM file.
func (c *Config) readKeys(jwtKey, pubKey, subKey string) error {
	read := func(name, v string) (string, error) {
		if v == "" || hmacAlg(c.JWTAlg) || strings.Contains(v, "-----BEGIN") {
			return v, nil
		}
		b, err := readPEMFile(v)
		if err != nil {
			return "", usagef("--%s: not PEM text, and cannot read it as a file: %v", name, err)
		}
		if !strings.Contains(string(b), "-----BEGIN") {
			return "", usagef("--%s: file %s holds no PEM block", name, v)
		}
		return string(b), nil
	}
	var err error
	if c.JWTKey, err = read("jwt-key", jwtKey); err != nil {
		return err
	}
	if c.PublisherKey, err = read("publisher-jwt-key", pubKey); err != nil {
		return err
	}
	if c.SubscriberKey, err = read("subscriber-jwt-key", subKey); err != nil {
		return err
	}
	switch {
	case c.GeneratesKey() && !hmacAlg(c.JWTAlg):
		return usagef("--jwt-alg %s: needs a public key in --jwt-key or --publisher-jwt-key; only HMAC keys are generated", c.JWTAlg)
	case c.publisherKey() == "" && !c.GeneratesKey():
		return usagef("--subscriber-jwt-key: set --publisher-jwt-key or --jwt-key too: publishing always needs a key")
	}
	return nil
}

// maxPEMFile bounds a key file: a public key in PEM is a few KiB at most.
const maxPEMFile = 64 << 10

// readPEMFile reads a key file, refusing anything but a regular file of
// modest size, so that a mistyped path such as /dev/zero cannot hang or
// exhaust the process.
func readPEMFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPEMFile+1))
	if err == nil && len(b) > maxPEMFile {
		err = fmt.Errorf("%s is larger than %d bytes", path, maxPEMFile)
	}
	return b, err
}

// envName is the environment variable of flag name.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// printFlags lists the flags with their double-dash names, environment
// variables and defaults.
func printFlags(out io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(out, "  --%s", f.Name)
		if arg != "" {
			fmt.Fprintf(out, " %s", arg)
		}
		fmt.Fprintf(out, "  (env %s)\n      %s", envName(f.Name), usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0s" && !strings.Contains(usage, "(default") {
			fmt.Fprintf(out, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(out)
	})
}

// byteSize is a flag.Value for a size in bytes: digits and an optional
// unit, B, KiB, MiB or GiB (K, M and G mean the same).
type byteSize int64

var byteUnits = []struct {
	suffix string
	shift  uint
}{
	{"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"G", 30}, {"M", 20}, {"K", 10}, {"B", 0},
}

func (b *byteSize) String() string {
	if b == nil {
		return "0"
	}
	n := int64(*b)
	for _, u := range byteUnits[:3] {
		if n != 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func (b *byteSize) Set(s string) error {
	num, shift := s, uint(0)
	for _, u := range byteUnits {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			num, shift = v, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	switch {
	case err != nil || num == "" || num[0] < '0' || num[0] > '9':
		return errors.New("want a number of bytes with an optional KiB, MiB or GiB, like 256MiB")
	case n > math.MaxInt64>>shift:
		return errors.New("too large")
	}
	*b = byteSize(n << shift)
	return nil
}

// IssuerConfig is one --issuer: a trusted issuer of Mercure 1.0 access
// tokens with its own key (an HMAC secret or PEM public key text) or JWKS
// URL, and the one algorithm its tokens may use.
type IssuerConfig struct {
	ID   string
	Key  string
	JWKS string
	Alg  string
}

// parseIssuer reads an --issuer value: the issuer identifier, then
// comma-separated name=value options. The identifier is compared exactly
// with the iss claim, so it may not contain a comma; a secret that does
// goes in key-file=.
func parseIssuer(v string) (IssuerConfig, error) {
	id, rest, _ := strings.Cut(v, ",")
	is := IssuerConfig{ID: id}
	if id == "" || strings.Contains(id, "=") {
		return is, fmt.Errorf("%q: want ISS,jwks=URL,alg=ALG or ISS,key=K or ISS,key-file=PATH, starting with the issuer identifier", v)
	}
	seen := map[string]bool{}
	for opt := range strings.SplitSeq(rest, ",") {
		name, val, ok := strings.Cut(opt, "=")
		if !ok || val == "" {
			return is, fmt.Errorf("issuer %s: %q: want name=value (jwks, key, key-file, alg)", id, opt)
		}
		if seen[name] {
			return is, fmt.Errorf("issuer %s: %s given twice", id, name)
		}
		seen[name] = true
		switch name {
		case "jwks":
			if u, err := url.Parse(val); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return is, fmt.Errorf("issuer %s: jwks %q: want an http or https URL", id, val)
			}
			is.JWKS = val
		case "key":
			is.Key = val
		case "key-file":
			b, err := readPEMFile(val)
			if err != nil {
				return is, fmt.Errorf("issuer %s: key-file: %v", id, err)
			}
			// A secret file usually ends with a newline that is not part
			// of the secret.
			is.Key = strings.TrimRight(string(b), "\r\n")
		case "alg":
			is.Alg = val
		default:
			return is, fmt.Errorf("issuer %s: unknown option %q (jwks, key, key-file, alg)", id, name)
		}
	}
	if seen["key"] && seen["key-file"] || (seen["key"] || seen["key-file"]) == seen["jwks"] {
		return is, fmt.Errorf("issuer %s: give exactly one of jwks=, key= or key-file=", id)
	}
	if is.JWKS != "" && is.Alg == "" {
		return is, fmt.Errorf("issuer %s: jwks= needs alg= (RS256, PS256, ES256, EdDSA, …): the algorithm is pinned, never taken from the token", id)
	}
	is.Alg = cmp.Or(is.Alg, "HS256")
	switch m := jwt.GetSigningMethod(is.Alg); {
	case m == nil || is.Alg == "none":
		return is, fmt.Errorf("issuer %s: alg %q: want HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA", id, is.Alg)
	case is.JWKS != "" && hmacAlg(is.Alg):
		return is, fmt.Errorf("issuer %s: alg %s: a JWKS is public, so it needs an asymmetric algorithm", id, is.Alg)
	case is.Key != "" && !hmacAlg(is.Alg) && !strings.Contains(is.Key, "-----BEGIN"):
		return is, fmt.Errorf("issuer %s: alg %s needs a PEM public key in key= or key-file=", id, is.Alg)
	}
	return is, nil
}
