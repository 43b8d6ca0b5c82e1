package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
	"github.com/caddyserver/caddy/v2/modules/filestorage"
	"github.com/dunglas/mercure"
)

// caddyHandlerName is caddyMercure's name in a route's handle list; its
// module ID is "http.handlers." followed by it.
const caddyHandlerName = "peers_mercure"

// Caddy settings of the mercure-caddy peer.
const (
	// caddyGracePeriod bounds Caddy's graceful stop. Streams end before it
	// (caddyMercure stops its hub when Caddy announces it is stopping);
	// it only matters for a stream that does not notice.
	caddyGracePeriod = caddy.Duration(2 * time.Second)
	// caddyLogLevel keeps Caddy and the hub as quiet as the other peers.
	caddyLogLevel = "WARN"
)

// caddyMercure is a Caddy HTTP handler serving the Mercure hub library,
// as the reference hub ships: inside Caddy, behind Caddy's server, TLS,
// HTTP/2 and HTTP/3. The official module (github.com/dunglas/mercure/caddy)
// cannot be had here, so this one stands in for it with the options of
// mercure-local: the keys and the in-memory transport.
type caddyMercure struct {
	// JWTKey is the HS256 key of publishers' and subscribers' tokens.
	JWTKey string `json:"jwt_key"`

	hub *mercure.Hub
}

// CaddyModule tells Caddy the module's ID and how to make one.
func (*caddyMercure) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers." + caddyHandlerName,
		New: func() caddy.Module { return new(caddyMercure) },
	}
}

// Provision builds the hub. Caddy stops its servers gracefully, waiting
// for streams, which never end on their own: the hub is stopped as soon
// as Caddy says it is stopping, so that its streams end first.
func (m *caddyMercure) Provision(ctx caddy.Context) error {
	if m.JWTKey == "" {
		return errors.New("jwt_key: required")
	}
	h, err := mercure.NewHub(ctx, mercureOptions([]byte(m.JWTKey), ctx.Slogger())...)
	if err != nil {
		return err
	}
	m.hub = h
	events, err := ctx.App("events")
	if err != nil {
		return err
	}
	return events.(*caddyevents.App).On("stopping", hubStopper{h})
}

// Cleanup stops the hub when Caddy unloads the configuration, also one
// that failed to start. Stopping a stopped hub does nothing.
func (m *caddyMercure) Cleanup() error {
	if m.hub == nil {
		return nil
	}
	return m.hub.Stop(context.Background())
}

// ServeHTTP hands the request to the hub; the route matched its path.
func (m *caddyMercure) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	m.hub.ServeHTTP(w, r)
	return nil
}

// hubStopper stops a hub on a Caddy event.
type hubStopper struct{ hub *mercure.Hub }

func (s hubStopper) Handle(ctx context.Context, _ caddy.Event) error {
	return s.hub.Stop(ctx)
}

// newCaddyMercure runs Caddy with caddyMercure on cfg.addr: HTTPS with
// HTTP/1.1, HTTP/2 and HTTP/3 (QUIC on the same port) when cfg has a
// certificate, plain HTTP/1.1 otherwise. Caddy listens once this returns;
// its state is the process's, so one runs at a time.
func newCaddyMercure(cfg config) (*adapter, error) {
	if cfg.jwtKey == "" {
		return nil, errors.New("-jwt-key: required by the mercure servers")
	}
	if _, err := caddy.GetModule("http.handlers." + caddyHandlerName); err != nil {
		caddy.RegisterModule(new(caddyMercure))
	}
	c, err := caddyConfig(cfg)
	if err != nil {
		return nil, err
	}
	if err := caddy.Run(c); err != nil {
		return nil, fmt.Errorf("caddy: %w", err)
	}
	return &adapter{close: func(context.Context) error { return caddy.Stop() }}, nil
}

// caddyConfig is the Caddy configuration of newCaddyMercure: no admin
// endpoint, nothing saved outside cfg.data, and no automatic HTTPS (no
// ACME, no redirect): the certificate is cfg's files.
func caddyConfig(cfg config) (*caddy.Config, error) {
	handler := caddyconfig.JSONModuleObject(caddyMercure{JWTKey: cfg.jwtKey}, "handler", caddyHandlerName, nil)
	srv := &caddyhttp.Server{
		Listen: []string{cfg.addr},
		Routes: caddyhttp.RouteList{{
			MatcherSetsRaw: caddyhttp.RawMatcherSets{{"path": caddyconfig.JSON([]string{path}, nil)}},
			HandlersRaw:    []json.RawMessage{handler},
		}},
		AutoHTTPS: &caddyhttp.AutoHTTPSConfig{Disabled: true},
		Protocols: []string{"h1"},
	}
	apps := caddy.ModuleMap{}
	if cfg.tlsCert != "" {
		// One policy with no matcher: every handshake, certificates
		// chosen from the tls app's.
		srv.TLSConnPolicies = caddytls.ConnectionPolicies{{}}
		srv.Protocols = []string{"h1", "h2", "h3"}
		apps["tls"] = caddyconfig.JSON(caddytls.TLS{
			CertificatesRaw: caddy.ModuleMap{"load_files": caddyconfig.JSON(caddytls.FileLoader{
				{Certificate: cfg.tlsCert, Key: cfg.tlsKey},
			}, nil)},
			DisableOCSPStapling: true,
			DisableStorageClean: true,
		}, nil)
	}
	apps["http"] = caddyconfig.JSON(caddyhttp.App{
		GracePeriod: caddyGracePeriod,
		Servers:     map[string]*caddyhttp.Server{"peers": srv},
	}, nil)
	persist := false
	return &caddy.Config{
		Admin:      &caddy.AdminConfig{Disabled: true, Config: &caddy.ConfigSettings{Persist: &persist}},
		Logging:    &caddy.Logging{Logs: map[string]*caddy.CustomLog{"default": {BaseLog: caddy.BaseLog{Level: caddyLogLevel}}}},
		StorageRaw: caddyconfig.JSONModuleObject(filestorage.FileStorage{Root: filepath.Join(cfg.data, "caddy")}, "module", "file_system", nil),
		AppsRaw:    apps,
	}, nil
}
