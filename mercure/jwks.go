package mercure

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Defaults of [JWKSOptions].
const (
	// DefaultJWKSRefresh is how often a JWKS is fetched again, so that a
	// key its issuer withdrew stops verifying tokens.
	DefaultJWKSRefresh = time.Hour
	// DefaultJWKSUnknownKID is the least time between two fetches caused
	// by tokens naming a kid the cached set lacks: a flood of made-up kids
	// costs the JWKS server one request per interval, not one per token.
	DefaultJWKSUnknownKID = 5 * time.Minute
	// DefaultJWKSTimeout bounds one fetch of the set.
	DefaultJWKSTimeout = 10 * time.Second
)

// JWKSOptions configure [NewJWKS]. The zero value uses the defaults above
// and [http.DefaultClient].
type JWKSOptions struct {
	Client *http.Client
	// Refresh is the interval of the periodic fetch, UnknownKID the least
	// interval between fetches for unknown kids, Timeout the bound on one
	// fetch; zero means the default.
	Refresh    time.Duration
	UnknownKID time.Duration
	Timeout    time.Duration
	// Logger receives failed fetches; nil means slog.Default().
	Logger *slog.Logger
}

// JWKS is an issuer's JSON Web Key Set (RFC 7517) fetched from a URL and
// cached: fetched again periodically and, at a bounded rate, when a token
// names a kid the cache lacks (the issuer rotated its keys). A token's
// key is looked up by its kid, or among all keys of the set without one.
type JWKS struct {
	url string
	kf  keyfunc.Keyfunc
}

// NewJWKS starts fetching the set at rawURL; the periodic refresh stops
// when ctx is done. A set that cannot be fetched now is not an error (the
// issuer's server may come up later): tokens fail to verify until it can.
func NewJWKS(ctx context.Context, rawURL string, opts JWKSOptions) (*JWKS, error) {
	if u, err := url.Parse(rawURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("mercure: JWKS URL %q: want an http or https URL", rawURL)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	noErr := true
	timeout := cmpOr(opts.Timeout, DefaultJWKSTimeout)
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{rawURL}, keyfunc.Override{
		Client:                    opts.Client,
		HTTPTimeout:               timeout,
		NoErrorReturnFirstHTTPReq: &noErr,
		RefreshInterval:           cmpOr(opts.Refresh, DefaultJWKSRefresh),
		RefreshUnknownKID:         rate.NewLimiter(rate.Every(cmpOr(opts.UnknownKID, DefaultJWKSUnknownKID)), 1),
		// The deadline of a token's wait for the limiter and of the fetch
		// it then makes: a token whose kid is unknown while the limiter
		// is spent for longer is refused at once (the limiter refuses a
		// wait past the deadline), and a stalled JWKS server holds the
		// request no longer than one fetch's timeout.
		RateLimitWaitMax: timeout,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				log.WarnContext(ctx, "fetching a JWKS", "url", u, "err", err)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("mercure: JWKS %q: %w", rawURL, err)
	}
	return &JWKS{url: rawURL, kf: kf}, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// keyfunc returns the jwt.Keyfunc that finds a token's key in s for the
// pinned algorithm alg: the parser has already refused any other alg, and
// the key found must be of the type and size alg needs.
func (s *JWKS) keyfunc(ctx context.Context, alg string) jwt.Keyfunc {
	find := s.kf.KeyfuncCtx(ctx)
	return func(t *jwt.Token) (any, error) {
		k, err := find(t)
		if err != nil {
			return nil, fmt.Errorf("JWKS %s: %w", s.url, err)
		}
		if set, ok := k.(jwt.VerificationKeySet); ok {
			// No kid: any key of the set that fits alg may verify it.
			var fit jwt.VerificationKeySet
			for _, k := range set.Keys {
				if checkKey(alg, k) == nil {
					fit.Keys = append(fit.Keys, k)
				}
			}
			if len(fit.Keys) == 0 {
				return nil, fmt.Errorf("JWKS %s: no key for %s", s.url, alg)
			}
			return fit, nil
		}
		if err := checkKey(alg, k); err != nil {
			return nil, fmt.Errorf("JWKS %s: key %v: %w", s.url, t.Header["kid"], err)
		}
		return k, nil
	}
}

// errKeyType means a key does not fit the configured algorithm.
var errKeyType = errors.New("key does not fit the algorithm")

// checkKey reports whether key, a parsed public key, fits alg: its type,
// its curve, and for RSA at least 2048 bits.
func checkKey(alg string, key crypto.PublicKey) error {
	switch jwt.GetSigningMethod(alg).(type) {
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		k, ok := key.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("%w: %s needs an RSA key", errKeyType, alg)
		}
		if k.N.BitLen() < 2048 {
			return errors.New("RSA keys shorter than 2048 bits are not accepted")
		}
	case *jwt.SigningMethodECDSA:
		k, ok := key.(*ecdsa.PublicKey)
		if !ok {
			return fmt.Errorf("%w: %s needs an ECDSA key", errKeyType, alg)
		}
		if want := curveFor(alg); want != nil && k.Curve != want {
			return fmt.Errorf("curve %s does not fit %s", k.Curve.Params().Name, alg)
		}
	case *jwt.SigningMethodEd25519:
		if _, ok := key.(ed25519.PublicKey); !ok {
			return fmt.Errorf("%w: %s needs an Ed25519 key", errKeyType, alg)
		}
	default:
		return fmt.Errorf("%w: %s is not an asymmetric algorithm", errKeyType, alg)
	}
	return nil
}
