package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/sse"
)

// TestTLSSlowReaderKeepsStream subscribes over HTTP/1.1 on TLS (a taken-over
// connection) and stops reading until the hub's side of the connection is
// full, a write of the hub waiting for room, then reads again: every event
// arrives. A write that gives up part way through a TLS record leaves the
// connection unusable (crypto/tls: "After a Write has timed out, the TLS
// state is corrupt"), so the stream must never write TLS with a short
// deadline.
//
// The pause must stay well within the hub's write timeout, past which the
// hub rightly drops the subscriber as stalled. Publishing a fixed amount
// before reading again took 5-6 s of the 10 s under -race on a loaded
// 2-core machine, and sometimes more than 10 s; so the subscriber has a
// small receive buffer, and stops pausing once the socket is seen full,
// events after the socket began to queue data.
func TestTLSSlowReaderKeepsStream(t *testing.T) {
	dir := t.TempDir()
	r := startRun(t, "--data", dir, "--tls-self-signed", "--jwt-key", testKey, "--anonymous")
	addr := strings.TrimPrefix(r.base, "https://")
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			// Before connecting, so that the window is small from the start.
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", mercure.Path+"?topic=slow", addr)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("subscribe: %v %v; want 200 on a taken-over connection", resp, err)
	}
	hubSide := sockPair{local: netip.MustParseAddrPort(addr), remote: netip.MustParseAddrPort(raw.LocalAddr().String())}
	ourSide := sockPair{local: hubSide.remote, remote: hubSide.local}

	const events = 60
	big := strings.Repeat("y", 64<<10)
	tok := token(t, testKey, []string{"*"}, nil, time.Minute)
	pub := tlsClient(t, "h2", selfSignedLeaf(t, dir))
	publish := func(i int) error {
		_, err := mercure.Publish(context.Background(), pub, r.base+mercure.Path, tok,
			url.Values{"topic": {"slow"}, "data": {fmt.Sprint(i, big)}})
		return err
	}
	// The hub's writes may wait from the moment its send queue holds what
	// the subscriber's closed window does not take.
	var queued time.Time
	sent := 0
	for {
		full, tx := fullSocket(t, hubSide, ourSide, sent*len(big))
		if tx > 0 && queued.IsZero() {
			queued = time.Now()
		}
		if full {
			break
		}
		if sent == events {
			t.Fatalf("%d events published, the hub's socket never full", events)
		}
		if err := publish(sent); err != nil {
			t.Fatal(err)
		}
		sent++
	}
	if pause := time.Since(queued); pause > sse.DefaultWriteTimeout/2 {
		t.Fatalf("the hub's socket was full only %v after it queued data, too near the write timeout %v", pause, sse.DefaultWriteTimeout)
	}
	tx, _ := tcpQueues(t, hubSide)
	_, rx := tcpQueues(t, ourSide)
	t.Logf("socket full after %d events (%d KiB), %v after the hub queued data: %d KiB queued to send, %d KiB received",
		sent, sent*len(big)>>10, time.Since(queued).Round(time.Millisecond), tx>>10, rx>>10)
	// The rest is published while reading: no loss after the stall either.
	done := make(chan error, 1)
	go func() {
		for i := sent; i < events; i++ {
			if err := publish(i); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	conn.SetReadDeadline(time.Now().Add(waitLong))
	got := 0
	for ev, err := range sse.Events(resp.Body) {
		if err != nil {
			t.Fatalf("after %d of %d events: %v", got, events, err)
		}
		if !strings.HasPrefix(ev.Data, fmt.Sprint(got)) {
			t.Fatalf("event %d: %.10q", got, ev.Data)
		}
		if got++; got == events {
			break
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// fullSocket reports whether the hub's side of a connection is full: the
// subscriber's receive queue and the hub's send queue hold less than the
// sent bytes of event data, and neither changes for a while, so that the
// hub holds data that it cannot hand to its socket. It also returns the
// hub's send queue.
func fullSocket(t *testing.T, hubSide, ourSide sockPair, sent int) (full bool, tx int) {
	t.Helper()
	const polls = 5
	var last [2]int
	for i := range polls {
		if i > 0 {
			time.Sleep(40 * time.Millisecond)
		}
		tx, _ = tcpQueues(t, hubSide)
		_, rx := tcpQueues(t, ourSide)
		if tx == 0 || tx+rx >= sent {
			return false, tx
		}
		if i > 0 && [2]int{tx, rx} != last {
			return false, tx
		}
		last = [2]int{tx, rx}
	}
	return true, tx
}

// sockPair names one end of a TCP connection.
type sockPair struct{ local, remote netip.AddrPort }

// tcpQueues returns the send and receive queues, in bytes, of the IPv4 TCP
// socket s, from /proc/net/tcp.
func tcpQueues(t *testing.T, s sockPair) (tx, rx int) {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	local, remote := procAddr(s.local), procAddr(s.remote)
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 5 || f[1] != local || f[2] != remote {
			continue
		}
		txs, rxs, _ := strings.Cut(f[4], ":")
		txq, err1 := strconv.ParseUint(txs, 16, 32)
		rxq, err2 := strconv.ParseUint(rxs, 16, 32)
		if err1 != nil || err2 != nil {
			t.Fatalf("/proc/net/tcp: %q", line)
		}
		return int(txq), int(rxq)
	}
	t.Fatalf("/proc/net/tcp: no socket %v -> %v", s.local, s.remote)
	return 0, 0
}

// procAddr writes an IPv4 address and port as /proc/net/tcp does: the
// address as a little-endian word, both in upper-case hex.
func procAddr(a netip.AddrPort) string {
	ip := a.Addr().As4()
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], a.Port())
}
