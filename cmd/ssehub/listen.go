package main

import (
	"context"
	"net"
)

// listen opens the hub's TCP listener, with SO_REUSEPORT when reusePort is
// set so that several processes can accept on one port.
func listen(ctx context.Context, addr string, reusePort bool) (net.Listener, error) {
	var lc net.ListenConfig
	if reusePort {
		if err := setReusePort(&lc); err != nil {
			return nil, err
		}
	}
	return lc.Listen(ctx, "tcp", addr)
}
