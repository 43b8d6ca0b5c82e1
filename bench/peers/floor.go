package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// floor is not a library but a yardstick: the least work any SSE server
// can do for the same load. A subscriber's connection is taken over and
// kept as a bare socket; a publish encodes its event once and writes it
// with one write(2) per subscriber, spread over GOMAXPROCS goroutines,
// with no queues, no authorization, no history, no heartbeats and no care
// for a client that stops reading (what its socket does not take is
// dropped). What is left is the kernel's cost of the writes and the
// generator's cost of the reads: the floor under every server's figures
// on this machine.
//
// Over TLS (-tls-cert) a subscriber's connection is kept as net/http's
// crypto/tls connection, after its handshake, the request and the
// response head: what it costs idle is crypto/tls's floor (bench/tls.sh).
// A publish writes through it, under a short deadline, since a TLS
// connection has no socket of its own to write to.
type floor struct {
	mu     sync.Mutex
	topics map[string][]floorConn
	seq    uint64
}

type floorConn struct {
	conn net.Conn // keeps the socket open
	fd   int      // -1 for a TLS connection: written through conn
}

// floorTLSWrite bounds a publish's write to one TLS subscriber.
const floorTLSWrite = time.Second

func newFloor(config) (*adapter, error) {
	f := &floor{topics: make(map[string][]floorConn)}
	return &adapter{handler: mercureShape(f.subscribe, f.publish), close: f.close}, nil
}

func (f *floor) subscribe(w http.ResponseWriter, r *http.Request) {
	topic := r.URL.Query().Get("topic")
	if r.ProtoMajor != 1 {
		idleStream(w, r)
		return
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fd := -1
	if _, isTLS := conn.(*tls.Conn); !isTLS {
		sc, ok := conn.(syscall.Conn)
		if !ok {
			conn.Close()
			return
		}
		raw, err := sc.SyscallConn()
		if err != nil {
			conn.Close()
			return
		}
		raw.Control(func(s uintptr) { fd = int(s) })
		if fd < 0 {
			conn.Close()
			return
		}
	}
	const head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
	if _, err := conn.Write([]byte(head)); err != nil {
		conn.Close()
		return
	}
	f.mu.Lock()
	f.topics[topic] = append(f.topics[topic], floorConn{conn: conn, fd: fd})
	f.mu.Unlock()
}

func (f *floor) publish(w http.ResponseWriter, r *http.Request) {
	topic, data, ok := publishForm(w, r)
	if !ok {
		return
	}
	f.mu.Lock()
	f.seq++
	id := f.seq
	conns := f.topics[topic] // appends never touch this prefix
	f.mu.Unlock()
	ev := []byte("id: " + strconv.FormatUint(id, 10) + "\ndata: " + data + "\n\n")
	workers := min(runtime.GOMAXPROCS(0), len(conns))
	for i := range workers {
		part := conns[i*len(conns)/workers : (i+1)*len(conns)/workers]
		go func() {
			for _, c := range part {
				if c.fd >= 0 {
					syscall.Write(c.fd, ev)
					continue
				}
				c.conn.SetWriteDeadline(time.Now().Add(floorTLSWrite))
				c.conn.Write(ev)
			}
		}()
	}
	w.Write([]byte("urn:floor:" + strconv.FormatUint(id, 10)))
}

func (f *floor) close(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, conns := range f.topics {
		for _, c := range conns {
			c.conn.Close()
		}
	}
	f.topics = map[string][]floorConn{}
	return nil
}

// idleStream serves an HTTP/2 subscriber, whose connection net/http keeps:
// the head and a comment, flushed, then the handler waits for the client
// to leave. It is the floor of idle memory per stream under any server on
// net/http's HTTP/2 (the stream, its handler goroutine, its write buffer),
// not of fan-out: publishes do not reach these streams.
func idleStream(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	io.WriteString(w, ":\n\n")
	if http.NewResponseController(w).Flush() != nil {
		return
	}
	<-r.Context().Done()
}
