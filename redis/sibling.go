package redis

import (
	"context"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
)

// conn is the Redis client of a Log and of the logs opened beside it by
// Sibling: one pool of connections, dialed with one URL's credentials and
// TLS. Each open log holds a reference; the last to close closes the
// client, so the logs may be closed in any order.
type conn struct {
	url    string // also dialed by each Follow, for its blocking XREAD
	client *goredis.Client
	refs   atomic.Int64
}

// release drops one log's reference and closes the client with the last.
func (c *conn) release() error {
	if c.refs.Add(-1) > 0 {
		return nil
	}
	return c.client.Close()
}

// Sibling opens another log, configured by opts, on l's Redis client, so
// that a process using both keeps one pool of connections to Redis instead
// of one per log: ssehub's announcements log is l's sibling. It checks
// that Redis answers, as Open does.
//
// The two logs are independent but for the client: each must be closed,
// and the client is closed with the last of the logs sharing it, in
// whichever order they are closed; closing one ends its own Follows and
// sweep, never the other's. Each Follow still blocks on a connection of
// its own, dialed with the same URL.
//
// Sibling of a closed log returns hub.ErrClosed.
func (l *Log) Sibling(ctx context.Context, opts Options) (*Log, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, hub.ErrClosed
	}
	// Taken while l holds its own, so the client cannot be closed before.
	l.conn.refs.Add(1)
	l.mu.Unlock()
	return open(ctx, l.conn, opts)
}
