//go:build unix

package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/cmd/ssehub/ssehubtest"
	"github.com/ssehub/ssehub/jetstream"
	"github.com/ssehub/ssehub/jetstream/jstest"
)

// TestBinaryNATSCluster runs two hub processes on one port (SO_REUSEPORT)
// sharing a stream replicated over three nats-servers: whichever process a
// publisher and a subscriber land on, the subscriber gets every update, in
// order, also after the NATS server leading the stream is killed.
func TestBinaryNATSCluster(t *testing.T) {
	c := jstest.StartCluster(t, 3)
	addr := ssehubtest.FreeAddr(t)
	args := []string{"--addr", addr, "--reuse-port", "--nats", c.URL(),
		"--data", t.TempDir(), "--jwt-key", testKey, "--anonymous", "--demo=false"}
	p1 := ssehubtest.Start(t, nil, args...)
	ssehubtest.Start(t, nil, args...)
	if !strings.Contains(p1.Logs(), "nats://") {
		t.Fatalf("the hub's logs do not name the NATS servers:\n%s", p1.Logs())
	}
	base := "http://" + addr
	pub := token(t, testKey, []string{"*"}, nil, time.Minute)
	topic := "https://example.com/cluster"
	fresh := func() *http.Client {
		c := newClient(t)
		c.Transport.(*http.Transport).DisableKeepAlives = true
		return c
	}
	subs := make([]*sub, 6)
	for i := range subs {
		subs[i] = subscribe(t, fresh(), base, "", "", topic)
	}
	var ids []string
	publish := func(n int) {
		for i := range n {
			ids = append(ids, mustPublish(t, fresh(), base, pub, url.Values{"topic": {topic}, "data": {fmt.Sprint(len(ids) + i)}}))
		}
	}
	publish(5)

	// The stream has three replicas (the default on three servers): with
	// its leader gone, the other two elect a new one and nothing is lost.
	leader := streamLeader(t, c)
	if err := c.Server(leader).Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(ids) < 10 {
		vals := url.Values{"topic": {topic}, "data": {fmt.Sprint(len(ids))}, "id": {fmt.Sprintf("after-kill-%d", len(ids))}}
		// Retrying with the same ID is what makes the retry safe.
		code, id := post(t, fresh(), base, pub, vals)
		switch {
		case code == http.StatusOK:
			ids = append(ids, id)
		case time.Now().After(deadline):
			t.Fatalf("publishing after killing the stream leader %s: still %d", leader, code)
		default:
			time.Sleep(100 * time.Millisecond)
		}
	}
	for n, s := range subs {
		for i, id := range ids {
			if ev := s.next(); ev.ID != id {
				t.Fatalf("subscriber %d: event %d is %s, want %s", n, i, ev.ID, id)
			}
		}
	}
	// A late subscriber resumes from an ID on either process.
	s := subscribe(t, fresh(), base, "", ids[1], topic)
	for _, id := range ids[2:] {
		if ev := s.next(); ev.ID != id {
			t.Fatalf("resumed after %s: got %s, want %s", ids[1], ev.ID, id)
		}
	}
}

// streamLeader names the server leading the hubs' stream.
func streamLeader(t *testing.T, c *jstest.Cluster) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	l, err := jetstream.Open(ctx, c.URL(), jetstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	leader, err := l.Leader(ctx)
	if err != nil || c.Server(leader) == nil {
		t.Fatalf("stream leader %q, %v", leader, err)
	}
	return leader
}

// TestBinaryNATSOneConnection runs a hub with --subscriptions on NATS: its
// update log and its announcements stream share one connection, which
// carries the subscription events, and the hub shuts down cleanly.
func TestBinaryNATSOneConnection(t *testing.T) {
	srv := jstest.Start(t)
	addr := ssehubtest.FreeAddr(t)
	p := ssehubtest.Start(t, nil, "--addr", addr, "--nats", srv.URL(), "--data", t.TempDir(),
		"--jwt-key", testKey, "--anonymous", "--demo=false", "--subscriptions")
	base := "http://" + addr
	watch := subscribe(t, newClient(t), base, token(t, testKey, nil, []string{"*"}, time.Minute), "", "*")
	topic := "https://example.com/one-connection"
	subscribe(t, newClient(t), base, "", "", topic)
	for {
		ev := watch.next()
		if strings.Contains(ev.Data, `"active":true`) && strings.Contains(ev.Data, topic) {
			break
		}
	}
	// nats.go's default name, which jetstream.Open sets.
	if n, err := srv.Connections("ssehub"); err != nil || n != 1 {
		t.Fatalf("the hub holds %d NATS connections (%v), want 1", n, err)
	}
	if code, _ := p.Stop(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("ssehub exited with %d:\n%s", code, p.Diag())
	}
	for _, msg := range []string{"closing the history", "closing the announcements", "closing the presence"} {
		if n := p.Warnings(msg); n != 0 {
			t.Errorf("ssehub logged %q %d times:\n%s", msg, n, p.Diag())
		}
	}
	// The server notices the closed socket when it next reads it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := srv.Connections("ssehub")
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the hub exited, %d NATS connections (%v), want 0", n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
