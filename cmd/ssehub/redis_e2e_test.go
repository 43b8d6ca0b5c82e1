//go:build unix

package main

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/ssehub/ssehub/cmd/ssehub/ssehubtest"
	"github.com/ssehub/ssehub/redis/redistest"
)

// TestBinaryRedisReusePort runs two hub processes on one port
// (SO_REUSEPORT) sharing one Redis: whichever process a publisher and a
// subscriber land on, the subscriber gets every update, in order, and
// resumes on either process after the other stops.
func TestBinaryRedisReusePort(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{})
	addr := ssehubtest.FreeAddr(t)
	args := []string{"--addr", addr, "--reuse-port", "--redis", "redis://" + rs.Addr() + "/0",
		"--data", t.TempDir(), "--jwt-key", testKey, "--anonymous", "--demo=false"}
	p1 := ssehubtest.Start(t, nil, args...)
	ssehubtest.Start(t, nil, args...)
	base := "http://" + addr
	pub := token(t, testKey, []string{"*"}, nil, time.Minute)
	topic := "https://example.com/cluster"

	// Each subscription and publish on a new connection, so the kernel
	// spreads them over both processes.
	fresh := func() *http.Client {
		c := newClient(t)
		c.Transport.(*http.Transport).DisableKeepAlives = true
		return c
	}
	subs := make([]*sub, 8)
	for i := range subs {
		subs[i] = subscribe(t, fresh(), base, "", "", topic)
	}
	var ids []string
	for i := range 5 {
		ids = append(ids, mustPublish(t, fresh(), base, pub, url.Values{"topic": {topic}, "data": {fmt.Sprint(i)}}))
	}
	for n, s := range subs {
		for i, id := range ids {
			if ev := s.next(); ev.ID != id {
				t.Fatalf("subscriber %d: event %d is %s, want %s", n, i, ev.ID, id)
			}
		}
	}

	if code, _ := p1.Stop(sigterm, waitLong); code != 0 {
		t.Fatalf("first process exited with %d", code)
	}
	// The port still answers, from the other process, with the shared
	// history.
	for range 4 {
		if code, body := get(t, fresh(), base+"/healthz"); code != http.StatusOK {
			t.Fatalf("/healthz after one process stopped: %d %s", code, body)
		}
	}
	s := subscribe(t, fresh(), base, "", ids[1], topic)
	for _, id := range ids[2:] {
		if ev := s.next(); ev.ID != id {
			t.Fatalf("resumed after %s: got %s, want %s", ids[1], ev.ID, id)
		}
	}
}
