package main

import (
	"context"
	"net"
	"time"
)

// listen opens the hub's TCP listener, with SO_REUSEPORT when reusePort is
// set so that several processes can accept on one port, and with
// TCP_USER_TIMEOUT set to userTimeout when it is positive (see
// setUserTimeout).
func listen(ctx context.Context, addr string, reusePort bool, userTimeout time.Duration) (net.Listener, error) {
	var lc net.ListenConfig
	if reusePort {
		if err := setReusePort(&lc); err != nil {
			return nil, err
		}
	}
	if userTimeout > 0 {
		setUserTimeout(&lc, userTimeout)
	}
	return lc.Listen(ctx, "tcp", addr)
}

// minUserTimeout is the least TCP_USER_TIMEOUT the hub sets: a link may
// stall for a while and recover.
const minUserTimeout = 30 * time.Second

// userTimeout is the TCP_USER_TIMEOUT for a hub sending heartbeats every
// heartbeat: two of them unacknowledged, and at least minUserTimeout. With
// no heartbeats, none: an idle subscriber sends nothing to time out.
func userTimeout(heartbeat time.Duration) time.Duration {
	if heartbeat <= 0 {
		return 0
	}
	return max(2*heartbeat, minUserTimeout)
}
