//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package main

import (
	"net"
	"runtime"
)

func setReusePort(*net.ListenConfig) error {
	return usagef("--reuse-port: SO_REUSEPORT is not available on %s", runtime.GOOS)
}
