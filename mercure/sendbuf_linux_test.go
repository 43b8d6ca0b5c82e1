package mercure

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// acceptHook hands every connection it accepts to conns.
type acceptHook struct {
	net.Listener
	conns chan net.Conn
}

func (a acceptHook) Accept() (net.Conn, error) {
	c, err := a.Listener.Accept()
	if err == nil {
		a.conns <- c
	}
	return c, err
}

func TestHijackedSendBufferCapped(t *testing.T) {
	skipUnlessHijacking(t, false)
	const sendBuffer = 64 << 10
	// Linux stores twice what is asked, up to twice net.core.wmem_max.
	if b, err := os.ReadFile("/proc/sys/net/core/wmem_max"); err == nil {
		if max, _ := strconv.Atoi(strings.TrimSpace(string(b))); max < sendBuffer {
			t.Skipf("net.core.wmem_max is %d, below the %d this test asks for", max, sendBuffer)
		}
	}
	e := newEnv(t, Options{Anonymous: true, SendBuffer: sendBuffer}, hmacPair(), hmacPair())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	srv := &http.Server{Handler: e.h, ReadHeaderTimeout: waitTimeout}
	go srv.Serve(acceptHook{l, accepted})
	defer srv.Close()

	conn, err := net.DialTimeout("tcp", l.Addr().String(), waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := conn.Write([]byte("GET " + Path + "?topic=a HTTP/1.1\r\nHost: hub\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("subscribe: %v %v", resp, err)
	}
	server := (<-accepted).(*net.TCPConn)
	raw, err := server.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var gerr error
	raw.Control(func(fd uintptr) { got, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF) })
	if gerr != nil {
		t.Fatal(gerr)
	}
	// An untouched socket reports the kernel's default (tcp_wmem[1],
	// usually 16 KiB) and grows from there.
	if got != 2*sendBuffer {
		t.Errorf("SO_SNDBUF of the taken-over connection = %d, want %d", got, 2*sendBuffer)
	}
}
