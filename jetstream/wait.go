package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
)

// Backoff between the attempts of waitFor.
const (
	firstWait = 250 * time.Millisecond
	maxWait   = 5 * time.Second
)

// waitFor calls try until it succeeds, fails for good, or ctx ends,
// waiting between attempts while its error says NATS or JetStream is not
// available yet: hubs started together with their NATS cluster (docker
// compose, Kubernetes) find the servers refusing connections, or the
// cluster still electing its meta leader, and must wait for it rather
// than exit. Each wait is logged once. When ctx ends first the error
// wraps both ctx's error and the last attempt's.
func waitFor(ctx context.Context, logger *slog.Logger, what string, try func() error) error {
	wait := firstWait
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err := try()
		if err == nil || !temporary(err) {
			return err
		}
		giveUp := func() error {
			return fmt.Errorf("jetstream: %s: gave up after %d attempts in %v (%w): %w",
				what, attempt, time.Since(start).Round(time.Millisecond), context.Cause(ctx), err)
		}
		if ctx.Err() != nil {
			return giveUp()
		}
		logger.Warn("jetstream: not available yet, waiting", "for", what, "attempt", attempt, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return giveUp()
		case <-t.C:
		}
		wait = min(2*wait, maxWait)
	}
}

// temporary reports whether err, from connecting or from a stream request
// (as classify wraps it), may go away by itself: no server accepts
// connections yet, nothing answers JetStream's API (no responders, a
// request timing out while the meta group elects its leader), or
// JetStream answers that it is unavailable for now (503, 408). A
// configuration mismatch, refused credentials, JetStream not enabled on
// the server or account, and any other answer are final.
func temporary(err error) bool {
	switch {
	case errors.Is(err, ErrConfigMismatch),
		errors.Is(err, njs.ErrJetStreamNotEnabled),
		errors.Is(err, njs.ErrJetStreamNotEnabledForAccount),
		errors.Is(err, nats.ErrAuthorization),
		errors.Is(err, nats.ErrAuthExpired),
		errors.Is(err, nats.ErrAuthRevoked):
		return false
	case errors.Is(err, nats.ErrNoServers):
		return true
	}
	return errors.Is(err, ErrUnavailable)
}
