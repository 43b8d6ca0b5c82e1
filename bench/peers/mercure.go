package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/dunglas/mercure"
)

// newMercure serves the Mercure hub as a library (github.com/dunglas/mercure),
// with its bolt transport when durable, else its in-memory one.
func newMercure(cfg config, durable bool) (*adapter, error) {
	if cfg.jwtKey == "" {
		return nil, errors.New("-jwt-key: required by the mercure servers")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := mercureOptions([]byte(cfg.jwtKey), logger)
	if durable {
		t, err := mercure.NewBoltTransport(mercure.NewSubscriberList(mercure.DefaultSubscriberListCacheSize), logger,
			filepath.Join(cfg.data, "mercure.db"), "", cfg.history, mercure.BoltDefaultCleanupFrequency)
		if err != nil {
			return nil, err
		}
		opts = append(opts, mercure.WithTransport(t))
	}
	h, err := mercure.NewHub(context.Background(), opts...)
	if err != nil {
		return nil, err
	}
	return &adapter{handler: h, close: h.Stop}, nil
}

// mercureOptions are the hub options every mercure peer shares: tokens
// signed with HS256 and key for publishers and subscribers.
func mercureOptions(key []byte, logger *slog.Logger) []mercure.Option {
	return []mercure.Option{
		mercure.WithPublisherJWT(key, "HS256"),
		mercure.WithSubscriberJWT(key, "HS256"),
		mercure.WithLogger(logger),
	}
}
