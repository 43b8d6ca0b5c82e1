// Package routes wires the HTTP face of a hub the way cmd/ssehub serves it:
// the Mercure handler at mercure.Path (with the subscriptions API below
// it) and the pages of package web at /, over one hub. cmd/ssehub adds its
// operational endpoints to the returned mux; tests serve it as it is, so
// that they run the wiring the binary runs.
package routes

import (
	"errors"
	"net/http"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/web"
)

// Options configures the routes. Hub is required; the Hub fields of Mercure
// and Web are set to it.
type Options struct {
	Hub     *hub.Hub
	Mercure mercure.Options
	Web     web.Options
	// AuthorizeStats makes the dashboard's stream of figures require a
	// subscriber token covering web.StatsPath. Off the development
	// defaults it must be set. The stream counts against the Mercure
	// subscription limits in any case (unless Web.AdmitStats is set).
	AuthorizeStats bool
}

// New returns a mux serving the Mercure protocol and the pages of opts.
// Its errors wrap those of mercure.New and web.New, so that errors.As
// finds their types.
func New(opts Options) (*http.ServeMux, error) {
	if opts.Hub == nil {
		return nil, errors.New("routes: Options.Hub is required")
	}
	opts.Mercure.Hub, opts.Web.Hub = opts.Hub, opts.Hub
	if opts.Web.AccessTokenCookie == "" {
		// The pages name the cookie the hub reads.
		opts.Web.AccessTokenCookie = opts.Mercure.AccessTokenCookie
	}
	m, err := mercure.New(opts.Mercure)
	if err != nil {
		return nil, err
	}
	if opts.Web.AdmitStats == nil {
		opts.Web.AdmitStats = func(w http.ResponseWriter, r *http.Request) (func(), time.Time, bool) {
			return m.Admit(w, r, web.StatsPath, opts.AuthorizeStats)
		}
	}
	pages, err := web.New(opts.Web)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(mercure.Path, m)
	mux.Handle(mercure.Path+"/", m)     // the subscriptions API
	mux.Handle(mercure.MetadataPath, m) // RFC 9728 metadata
	mux.Handle("/", pages)
	return mux, nil
}
