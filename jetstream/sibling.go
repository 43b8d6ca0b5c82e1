package jetstream

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/ssehub/ssehub/hub"
)

// conn is the NATS connection of a Log and of the logs opened beside it
// by Sibling: one socket, one set of credentials and TLS, one reconnect
// loop. Each open log holds a reference; the last to close closes the
// connection, so the logs may be closed in any order.
type conn struct {
	nc   *nats.Conn
	refs atomic.Int64
}

// release drops one log's reference and closes the connection with the
// last.
func (c *conn) release() {
	if c.refs.Add(-1) == 0 {
		c.nc.Close()
	}
}

// Sibling opens a log on another stream, configured by opts as Open
// configures its stream, on l's NATS connection, so that a process using
// both keeps one connection to NATS instead of one per log: ssehub's
// announcements stream is l's sibling. opts.NATS must be empty, for the
// connection is l's, configured by the options l was opened with; so is
// the logging of its disconnections and reconnections.
//
// The two logs are independent but for the connection: each must be
// closed, and the connection is closed with the last of the logs sharing
// it, in whichever order they are closed; closing one ends its own
// Follows and Reads, never the other's.
//
// Like Open, Sibling waits until ctx ends while JetStream cannot serve yet.
//
// Sibling of a closed log returns hub.ErrClosed.
func (l *Log) Sibling(ctx context.Context, opts Options) (*Log, error) {
	if len(opts.NATS) > 0 {
		return nil, errors.New("jetstream: Options.NATS: a sibling log uses the connection of the log it is opened on")
	}
	cfg, err := opts.streamConfig()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, hub.ErrClosed
	}
	// Taken while l holds its own, so the connection cannot be closed
	// before.
	l.conn.refs.Add(1)
	l.mu.Unlock()
	return open(ctx, l.conn, cfg, opts)
}
