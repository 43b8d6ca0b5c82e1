//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package main

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// setReusePort makes lc's sockets share their port with other processes'
// (SO_REUSEPORT): the kernel spreads new connections among them.
func setReusePort(lc *net.ListenConfig) error {
	lc.Control = func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}
	return nil
}
