package netnstest

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestVanishDropsEverything checks the peer as the tests use it: a
// connection from its namespace to a listener on Host works both ways;
// once it vanished, data sent to it is never acknowledged (and never
// arrives), and a new connection from it goes unanswered, neither accepted
// nor refused.
func TestVanishDropsEverything(t *testing.T) {
	p := Start(t)
	ln, err := net.Listen("tcp", netip.AddrPortFrom(p.Host, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := p.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr(); got != p.Addr {
		t.Fatalf("dialed from %v, want the peer's %v", got, p.Addr)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	exchange := func(from, to net.Conn, msg string) error {
		if _, err := from.Write([]byte(msg)); err != nil {
			return err
		}
		to.SetReadDeadline(time.Now().Add(time.Second))
		b := make([]byte, len(msg))
		_, err := io.ReadFull(to, b)
		return err
	}
	if err := exchange(s, c, "to the peer"); err != nil {
		t.Fatal(err)
	}
	if err := exchange(c, s, "from the peer"); err != nil {
		t.Fatal(err)
	}

	p.Vanish()
	if err := exchange(s, c, "lost"); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("reading what was sent to a vanished peer: %v, want a timeout", err)
	}
	// The kernel still holds those bytes, unacknowledged: what makes
	// TCP_USER_TIMEOUT count.
	raw, err := s.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	var ierr error
	raw.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) })
	if ierr != nil {
		t.Fatal(ierr)
	}
	if info.Unacked == 0 {
		t.Fatalf("no unacknowledged segment after writing to a vanished peer (state %d)", info.State)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), time.Second)
	defer dcancel()
	// The context's end or the connect's deadline set from it, whichever
	// the runtime sees first; a refusal would be ECONNREFUSED.
	_, err = p.DialContext(dctx, "tcp", ln.Addr().String())
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("dialing from a vanished peer: %v, want no answer until the deadline", err)
	}
}
