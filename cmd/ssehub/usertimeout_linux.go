package main

import (
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// setUserTimeout sets TCP_USER_TIMEOUT on lc's listening sockets, which
// accepted connections inherit: data unacknowledged for d fails the
// connection. A subscriber that vanishes without a FIN or RST (a dead
// machine, a dropped route) then fails the next heartbeat write within
// about d, instead of after the kernel's retransmissions (some fifteen
// minutes), and its subscription ends.
func setUserTimeout(lc *net.ListenConfig, d time.Duration) {
	prev := lc.Control
	lc.Control = func(network, address string, c syscall.RawConn) error {
		if prev != nil {
			if err := prev(network, address, c); err != nil {
				return err
			}
		}
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
		})
		if err != nil {
			return err
		}
		return serr
	}
}
