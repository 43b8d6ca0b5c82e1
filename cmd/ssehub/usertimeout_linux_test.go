package main

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestListenUserTimeout checks that accepted connections carry the
// TCP_USER_TIMEOUT set on the listener, with and without SO_REUSEPORT:
// what makes a heartbeat write to a vanished subscriber fail in bounded
// time.
func TestListenUserTimeout(t *testing.T) {
	for _, reuse := range []bool{false, true} {
		ln, err := listen(t.Context(), "127.0.0.1:0", reuse, 37*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		a, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := a.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var got int
		var gerr error
		raw.Control(func(fd uintptr) { got, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT) })
		if gerr != nil || got != 37000 {
			t.Fatalf("reuse-port %v: accepted connection's TCP_USER_TIMEOUT = %d ms, %v; want 37000", reuse, got, gerr)
		}
		a.Close()
		c.Close()
		ln.Close()
	}
	if d := userTimeout(15 * time.Second); d != minUserTimeout {
		t.Fatalf("userTimeout(15s) = %v, want %v", d, minUserTimeout)
	}
	if d := userTimeout(time.Minute); d != 2*time.Minute {
		t.Fatalf("userTimeout(1m) = %v, want 2m", d)
	}
	if d := userTimeout(0); d != 0 {
		t.Fatalf("userTimeout(0) = %v, want none", d)
	}
}
