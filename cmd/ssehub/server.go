package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
)

// bound applies the per-request limits the server's own timeouts cannot:
// a deadline for reading a body (mercure's, for every request that may
// have one), and the end of GET streams at shutdown.
// Once draining is set, a GET that arrives on a connection already open
// (keep-alive) has the connection dropped instead of an answer: for a
// stream that may be an EventSource reconnecting, which retries after a
// network error but gives up for good after an error status.
func bound(next http.Handler, streams context.Context, draining *atomic.Bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mercure.CloseAfterChunkedRequest(w, r)
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			if draining.Load() {
				panic(http.ErrAbortHandler) // the server closes the connection silently
			}
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			stop := context.AfterFunc(streams, cancel)
			defer stop()
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		// Errors mean the connection cannot take deadlines (HTTP/2 has
		// its own flow control); the body limit still applies.
		http.NewResponseController(w).SetReadDeadline(time.Now().Add(mercure.DefaultBodyReadTimeout))
		next.ServeHTTP(w, r)
	})
}

// healthz answers 200 "ok" when the hub and its log can serve, 503 with the
// reason when they cannot: the hub has met a corrupt history, or the log's
// own probe fails (bolt: a bounded read of the file and the last commit's
// outcome; the others: a round trip for the newest Seq).
func healthz(h *hub.Hub, l hub.Log) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		err := h.HistoryErr()
		if err == nil {
			if hc, ok := l.(interface{ Health(context.Context) error }); ok {
				err = hc.Health(ctx)
			} else {
				_, err = l.Last(ctx)
			}
		}
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "log: %v\n", err)
			return
		}
		io.WriteString(w, "ok")
	})
}

// baseURL is the URL clients reach the hub at: scheme, the configured host
// (or localhost for a wildcard one) and the port actually bound.
func baseURL(scheme, addr string, bound net.Addr) string {
	host, port, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	if ta, ok := bound.(*net.TCPAddr); ok {
		port = strconv.Itoa(ta.Port)
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}
