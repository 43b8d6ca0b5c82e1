// Command peers serves the Mercure shape that sse bench loads (subscribe
// with GET /.well-known/mercure?topic=T, publish with a form POST to the
// same path answering 200) over other Go SSE libraries, so that ssehub can
// be measured beside them with the same generator.
//
// Usage:
//
//	peers -server NAME [-addr 127.0.0.1:8090] [-data DIR] [-jwt-key KEY]
//
// Servers: go-sse (github.com/tmaxmax/go-sse), r3labs (github.com/r3labs/sse/v2),
// eventsource (github.com/launchdarkly/eventsource), mercure (the Mercure
// hub as a library with its bolt transport), mercure-local (its
// in-memory transport), mercure-caddy (mercure-local as a handler inside
// Caddy, github.com/caddyserver/caddy/v2, serving on its own, as the
// reference hub ships) and floor (no library: one write(2) per subscriber
// and nothing else, the yardstick under every server's figures).
//
// The three plain SSE libraries have no authorization: their adapters
// ignore tokens. Every adapter gives each update an id, as the hubs do.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
)

// path is where every adapter serves, as Mercure hubs do.
const path = "/.well-known/mercure"

// adapter is one library behind the Mercure shape.
type adapter struct {
	// handler serves behind main's net/http server; nil for an adapter
	// that runs a server of its own (Caddy), listening on config.addr
	// from the moment it is built.
	handler http.Handler
	close   func(context.Context) error
}

// adapters builds each server by name.
var adapters = map[string]func(cfg config) (*adapter, error){
	"go-sse":        newGoSSE,
	"r3labs":        newR3labs,
	"eventsource":   newEventsource,
	"mercure":       func(cfg config) (*adapter, error) { return newMercure(cfg, true) },
	"mercure-local": func(cfg config) (*adapter, error) { return newMercure(cfg, false) },
	"mercure-caddy": newCaddyMercure,
	"floor":         newFloor,
}

type config struct {
	addr, data, jwtKey string
	history            uint64
	// tlsCert and tlsKey are PEM files: serve HTTPS when set.
	tlsCert, tlsKey string
}

func main() {
	os.Exit(run())
}

func run() int {
	var cfg config
	var name string
	names := make([]string, 0, len(adapters))
	for n := range adapters {
		names = append(names, n)
	}
	sort.Strings(names)
	flag.StringVar(&name, "server", "", "library to serve: "+strings.Join(names, ", "))
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:8090", "host:port to listen on")
	flag.StringVar(&cfg.data, "data", "peers-data", "directory for the mercure bolt database")
	flag.StringVar(&cfg.jwtKey, "jwt-key", "", "HS256 key of publishers' and subscribers' tokens (mercure only; required there)")
	flag.Uint64Var(&cfg.history, "history-size", 100000, "updates the mercure bolt transport keeps")
	flag.StringVar(&cfg.tlsCert, "tls-cert", "", "serve HTTPS (HTTP/1.1 and HTTP/2, as Caddy does in front of the reference hub; mercure-caddy adds HTTP/3) with this PEM certificate")
	flag.StringVar(&cfg.tlsKey, "tls-key", "", "PEM key of -tls-cert")
	flag.Parse()
	newAdapter, ok := adapters[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "peers: -server %q: want one of %s\n", name, strings.Join(names, ", "))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := newAdapter(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		return 2
	}
	if a.handler == nil {
		slog.Info("peers: serving", "server", name, "addr", cfg.addr)
		<-ctx.Done()
		if err := a.close(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "peers:", err)
			return 1
		}
		return 0
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		return 1
	}
	mux := http.NewServeMux()
	mux.Handle(path, a.handler)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// Streams never end on their own: close the library first so its
		// handlers return, then the listener.
		if err := a.close(sctx); err != nil {
			slog.Warn("peers: closing the library", "err", err)
		}
		srv.Shutdown(sctx)
		srv.Close()
	}()
	slog.Info("peers: serving", "server", name, "addr", ln.Addr().String())
	serve := func() error { return srv.Serve(ln) }
	if cfg.tlsCert != "" {
		serve = func() error { return srv.ServeTLS(ln, cfg.tlsCert, cfg.tlsKey) }
	}
	if err := serve(); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "peers:", err)
		return 1
	}
	return 0
}

// publishForm reads a Mercure publish form: its first topic and its data.
func publishForm(w http.ResponseWriter, r *http.Request) (topic, data string, ok bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
		return "", "", false
	}
	topic = r.PostForm.Get("topic")
	if topic == "" {
		http.Error(w, "topic: missing", http.StatusBadRequest)
		return "", "", false
	}
	return topic, r.PostForm.Get("data"), true
}

// mercureShape routes GET to subscribe and POST to publish.
func mercureShape(subscribe, publish http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			if r.URL.Query().Get("topic") == "" {
				http.Error(w, "topic: missing", http.StatusBadRequest)
				return
			}
			subscribe(w, r)
		case http.MethodPost:
			publish(w, r)
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}
