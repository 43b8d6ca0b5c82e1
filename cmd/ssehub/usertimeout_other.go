//go:build !linux

package main

import (
	"net"
	"time"
)

// setUserTimeout does nothing where TCP_USER_TIMEOUT is not available: a
// vanished subscriber is noticed when the kernel gives up retransmitting.
func setUserTimeout(*net.ListenConfig, time.Duration) {}
