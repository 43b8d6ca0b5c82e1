// Command ssehub runs a Mercure hub for Server-Sent Events: subscribe and
// publish over HTTP, history kept on disk (or in Redis) for replay, JWT
// authorization, a demo page, a dashboard, /healthz and /metrics.
//
// With no configuration it runs for development on localhost:8080; see
// ssehub -h for the flags and their environment variables.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(ssehub(os.Args[1:], os.LookupEnv, os.Stderr))
}

// ssehub runs the hub with args and the environment and returns the exit
// status: 0 after a clean shutdown, 1 on failure, 2 on bad configuration.
func ssehub(args []string, lookupEnv func(string) (string, bool), stderr io.Writer) int {
	cfg, err := parseConfig(args, lookupEnv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "ssehub:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal starts a graceful shutdown; restoring the default
	// handling lets a second one end the process at once.
	context.AfterFunc(ctx, stop)
	err = run(ctx, cfg, runEnv{Logger: newLogger(cfg, stderr), Stderr: stderr})
	var ue *usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "ssehub:", err)
		return 2
	case err != nil:
		fmt.Fprintln(stderr, "ssehub:", err)
		return 1
	}
	return 0
}

// newLogger returns the logger cfg asks for, writing to w.
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
