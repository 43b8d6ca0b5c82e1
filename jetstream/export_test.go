package jetstream

import (
	"context"
	"time"
)

// PresenceOnClock is Log.Presence on a node whose clock is now.
func PresenceOnClock(ctx context.Context, l *Log, ttl time.Duration, now func() time.Time) (*Presence, error) {
	return l.presence(ctx, ttl, now)
}
