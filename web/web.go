// Package web serves the hub's own pages: a demo page at "/" that follows the
// demo feed and lets a developer subscribe and publish, and a dashboard at
// "/dashboard" with the hub's live figures. The pages are plain HTML, CSS and
// JavaScript embedded in the binary: no build step, nothing loaded from
// elsewhere. They talk to the hub the way any client does, with the browser's
// own EventSource and fetch against the Mercure endpoint. The handler also
// serves ssehub.js, a browser client for what EventSource cannot do
// (headers, tokens, QUERY, resuming after a reload), at "/ssehub.js".
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/demo"
	"github.com/ssehub/ssehub/mercure"
)

// DefaultHubPath is where the pages find the Mercure endpoint when
// Options.HubPath is empty: where package mercure serves it.
const DefaultHubPath = mercure.Path

// StatsPath is the dashboard's stream of figures, the resource a token must
// cover where Options.AdmitStats asks for one.
const StatsPath = "/dashboard/events"

// The handler's own paths.
const (
	assetsPath = "/assets/"
	statsPath  = StatsPath
	tokenPath  = "/publish-token"
	// subscribeTokenPath hands out the private panel's subscriber token.
	subscribeTokenPath = "/subscribe-token"
)

//go:embed static
var files embed.FS

// Options configures the pages. Hub is required.
type Options struct {
	// Hub supplies the dashboard's live figures (Hub.Stats).
	Hub *hub.Hub
	// HubPath is the Mercure endpoint the pages subscribe and publish to:
	// a path on the pages' own origin, or the absolute URL of a hub on
	// another origin (which must allow the pages' origin with CORS).
	// Empty means DefaultHubPath.
	HubPath string
	// DemoTopic is the topic the demo page follows; empty means demo.Topic.
	DemoTopic string
	// AccessTokenCookie is the cookie the hub reads Mercure 1.0 access
	// tokens from (mercure.Options.AccessTokenCookie), which the pages name
	// where a plain EventSource needs one; empty means
	// mercure.DefaultAccessTokenCookie.
	AccessTokenCookie string
	// PublishToken, when it returns true, hands the demo page's publish
	// form a short-lived publish token. Offer one in development only: nil,
	// or false, leaves the form explaining what publishing needs.
	PublishToken func(r *http.Request) (string, bool)
	// SubscribeToken, when it returns true, hands the demo page's private
	// panel a short-lived token that receives the private updates of
	// demo.PrivateTopic. Development only, as PublishToken: without it the
	// panel asks the visitor for a token.
	SubscribeToken func(r *http.Request) (string, bool)
	// HistorySize, if set, reports how many updates the hub's log keeps,
	// for the dashboard. It is called at most about once a second, however
	// many dashboards are open.
	HistorySize func(ctx context.Context) (int, error)
	// AdmitStats, if set, is the gate of the dashboard's stream of figures,
	// which is as long-lived as a subscription: it authorizes the request
	// and counts the stream against the hub's subscription limits, and
	// returns the function ending the count and, if not zero, when the
	// stream must end (its token's expiry); or it answers the request
	// itself and returns false. mercure.Handler.Admit is one. Nil lets
	// every stream in: for the development defaults only.
	AdmitStats func(w http.ResponseWriter, r *http.Request) (release func(), until time.Time, ok bool)
	// Logger receives the handler's logs; nil means slog.Default().
	Logger *slog.Logger
}

// handler serves the pages. It holds no goroutine: the figures stream runs
// in the goroutine of its request.
type handler struct {
	opts      Options
	hubOrigin string // the hub's origin when it is not the pages' own, for CSP
	pages     *pages
	module    file // ssehub.js
	types     file // ssehub.d.ts
	assets    http.Handler
	sampler   *sampler // shared by the figures streams
	log       *slog.Logger
}

// New checks opts and returns the handler of the pages. It serves "/",
// "/dashboard", their assets under "/assets/", the browser client
// ssehub.js at "/ssehub.js" with its types at "/ssehub.d.ts", the dashboard's stream of
// figures at "/dashboard/events" and, when opts.PublishToken is set, the
// publish-token endpoint at "/publish-token" and, when opts.SubscribeToken
// is set, the subscribe-token endpoint at "/subscribe-token"; any other path
// is 404.
func New(opts Options) (http.Handler, error) {
	if opts.Hub == nil {
		return nil, errors.New("web: Options.Hub is required")
	}
	if opts.HubPath == "" {
		opts.HubPath = DefaultHubPath
	}
	if opts.DemoTopic == "" {
		opts.DemoTopic = demo.Topic
	}
	if opts.AccessTokenCookie == "" {
		opts.AccessTokenCookie = mercure.DefaultAccessTokenCookie
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &handler{opts: opts, log: opts.Logger}
	h.sampler = h.newSampler()
	u, err := url.Parse(opts.HubPath)
	switch {
	case err != nil:
		return nil, fmt.Errorf("web: invalid Options.HubPath: %w", err)
	case u.IsAbs():
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return nil, errors.New("web: invalid Options.HubPath: an absolute URL must be http or https with a host")
		}
		h.hubOrigin = u.Scheme + "://" + u.Host
	case u.Host != "" || len(u.Path) == 0 || u.Path[0] != '/':
		return nil, errors.New("web: invalid Options.HubPath: want a path starting with / or an absolute URL")
	}
	static, err := fs.Sub(files, "static")
	if err != nil {
		return nil, err // the embedded tree always has it
	}
	if h.pages, err = parsePages(static); err != nil {
		return nil, err
	}
	if h.module, err = readFile(static, "ssehub.js", "text/javascript; charset=utf-8"); err != nil {
		return nil, err
	}
	if h.types, err = readFile(static, "ssehub.d.ts", "application/typescript; charset=utf-8"); err != nil {
		return nil, err
	}
	h.assets = http.StripPrefix(assetsPath, http.FileServerFS(assetFS{static}))
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.secure(w)
	switch p := r.URL.Path; {
	case p == "/" || p == "/dashboard":
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		h.page(w, r)
	case p == modulePath || p == moduleTypesPath:
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		if p == modulePath {
			h.module.serve(w, r)
		} else {
			h.types.serve(w, r)
		}
	case p == statsPath:
		if !allow(w, r, http.MethodGet) {
			return
		}
		h.stats(w, r)
	case p == tokenPath && h.opts.PublishToken != nil:
		if !allow(w, r, http.MethodPost) {
			return
		}
		h.token(w, r, h.opts.PublishToken, needToken)
	case p == subscribeTokenPath && h.opts.SubscribeToken != nil:
		if !allow(w, r, http.MethodPost) {
			return
		}
		h.token(w, r, h.opts.SubscribeToken, needSubscribeToken)
	case strings.HasPrefix(p, assetsPath) && p != assetsPath:
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		h.assets.ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}

// secure sets the headers every response carries. The content security
// policy allows nothing but this origin and the hub's.
func (h *handler) secure(w http.ResponseWriter) {
	connect := "'self'"
	if h.hubOrigin != "" {
		connect += " " + h.hubOrigin
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'self'; connect-src "+connect+
		"; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
}

// allow answers 405 with an Allow header unless r uses one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	if slices.Contains(methods, r.Method) {
		return true
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	http.Error(w, "method "+r.Method+" not allowed", http.StatusMethodNotAllowed)
	return false
}

// assetFS serves the static tree minus the page templates, which are only
// ever served rendered.
type assetFS struct{ fs.FS }

func (a assetFS) Open(name string) (fs.File, error) {
	if strings.HasSuffix(name, ".html") {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return a.FS.Open(name)
}
