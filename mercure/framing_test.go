package mercure

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCloseAfterContentLengthAndChunked: RFC 9112, section 6.1, "the server
// MUST close the connection after responding to such a request" (one with
// both Content-Length and Transfer-Encoding). The first publish is read as
// chunked and answered; the request pipelined behind it, which a front end
// that went by Content-Length would take for part of the body, is never
// served, and the connection ends after the first answer.
func TestCloseAfterContentLengthAndChunked(t *testing.T) {
	p := hmacPair()
	for _, noHijack := range []bool{false, true} {
		// A short heartbeat ends the subscription below soon after the
		// client hangs up: net/http watches for that only once a body is read.
		e := newEnv(t, Options{Anonymous: true, NoHijack: noHijack, Heartbeat: 100 * time.Millisecond}, p, p)
		tok := p.mint(t, pubClaims("*"), nil)
		form := "topic=x&data=first"
		smuggled := "POST " + Path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok +
			"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 24\r\n\r\ntopic=x&data=smuggled!!!"
		req := "POST " + Path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok +
			"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" +
			fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(form), form) + smuggled
		resps, closed := rawExchange(t, e.srv.Listener.Addr().String(), req)
		if len(resps) != 1 || resps[0].StatusCode != http.StatusOK || !resps[0].Close || !closed {
			t.Fatalf("NoHijack %v: %d responses (closed: %v), want one 200 with Connection: close and then the end of the connection", noHijack, len(resps), closed)
		}
		// Only the first update was stored.
		s := e.mustOpen(e.subscribeReq("topic=x&lastEventID=earliest", ""))
		if ev := s.next(); ev.Data != "first" {
			t.Fatalf("first update %+v", ev)
		}
		e.publish(map[string][]string{"topic": {"x"}, "data": {"end"}})
		if ev := s.next(); ev.Data != "end" {
			t.Fatalf("NoHijack %v: the pipelined request was served: %+v", noHijack, ev)
		}
		s.close()

		// A subscription with such a request: its stream's end closes the
		// connection too.
		req = "GET " + Path + "?topic=x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
			"GET /.well-known/mercure?topic=smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
		c, err := net.DialTimeout("tcp", e.srv.Listener.Addr().String(), waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(waitTimeout))
		io.WriteString(c, req)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !resp.Close {
			t.Errorf("NoHijack %v: subscription answered without Connection: close: %v", noHijack, resp.Header)
		}
		c.Close()
	}
}

// rawExchange writes req on a new connection and reads responses until the
// server closes it (closed) or a second passes without one.
func rawExchange(t *testing.T, addr, req string) (resps []*http.Response, closed bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return resps, false
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "connection reset") {
				t.Fatalf("after %d responses: %v", len(resps), err)
			}
			return resps, true
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		resps = append(resps, resp)
	}
}
