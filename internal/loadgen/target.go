package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"time"
)

// ErrNotLoopback is wrapped by the error for a target that resolves to an
// address off this machine: the generator is a load test, not a tool to
// aim at other people's servers.
var ErrNotLoopback = errors.New("target is not a loopback address")

// FDReserve is the file descriptors kept for everything but subscriber
// connections: publishers, /proc reads, standard streams.
const FDReserve = 100

// target is a checked subscribe/publish URL.
type target struct {
	url  *url.URL
	addr string // resolved loopback host:port to dial
	ip   net.IP
}

// resolveTarget parses raw and checks that every address its host resolves
// to is a loopback one (127.0.0.0/8 or ::1).
func resolveTarget(ctx context.Context, raw string) (*target, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("URL %q: scheme must be http or https", raw)
	case u.Hostname() == "":
		return nil, fmt.Errorf("URL %q: no host", raw)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, u.Hostname())
	if err != nil {
		return nil, fmt.Errorf("URL host %q: %w", u.Hostname(), err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("URL host %q: no address", u.Hostname())
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return nil, fmt.Errorf("URL host %q resolves to %s: %w; sse bench only loads servers on this machine (127.0.0.0/8 or ::1)", u.Hostname(), a.IP, ErrNotLoopback)
		}
	}
	ip := addrs[0].IP
	for _, a := range addrs {
		if a.IP.To4() != nil { // prefer IPv4: its /8 gives many source addresses
			ip = a.IP
			break
		}
	}
	return &target{url: u, addr: net.JoinHostPort(ip.String(), port), ip: ip}, nil
}

// tlsConfig is the generator's TLS configuration for https targets, nil
// for http ones. It does not verify the server's certificate: the target
// is on this machine (resolveTarget checked), and the generator measures
// a server, it does not authenticate one. Sessions are resumed, as
// browsers do, so that thousands of connections do not each pay a full
// handshake.
func (t *target) tlsConfig(protos ...string) *tls.Config {
	if t.url.Scheme != "https" {
		return nil
	}
	return &tls.Config{
		ServerName:         t.url.Hostname(),
		InsecureSkipVerify: true,
		NextProtos:         protos,
		ClientSessionCache: tls.NewLRUClientSessionCache(64),
	}
}

// sourceDialer returns the dialer of connection i of n: connections are
// spread over source addresses 127.0.0.2 and up, perSource each, so that
// their number is not bounded by one address's ephemeral port range.
func (t *target) sourceDialer(n int, timeout time.Duration, perSource int) func(i int) *net.Dialer {
	base := &net.Dialer{Timeout: timeout}
	// Only Linux routes all of 127.0.0.0/8 to the loopback interface
	// without configuration.
	if t.ip.To4() == nil || perSource <= 0 || runtime.GOOS != "linux" {
		return func(int) *net.Dialer { return base }
	}
	dialers := make([]*net.Dialer, (n+perSource-1)/perSource)
	for k := range dialers {
		a := k + 2
		dialers[k] = &net.Dialer{
			Timeout:   timeout,
			LocalAddr: &net.TCPAddr{IP: net.IPv4(127, byte(a>>16), byte(a>>8), byte(a))},
			Control:   bindNoPort,
		}
	}
	return func(i int) *net.Dialer { return dialers[i/perSource] }
}

// MaxConnections returns how many connections one generator process may
// hold, and the file descriptor limit it derives that from.
func MaxConnections() (int, uint64, error) {
	lim, err := fdLimit()
	if err != nil {
		return 0, 0, err
	}
	if lim <= FDReserve {
		return 0, lim, nil
	}
	return int(min(lim-FDReserve, 1<<30)), lim, nil
}

// topicURI returns the request URI subscribing to topic with the query
// parameter param.
func topicURI(u *url.URL, param, topic string) string {
	if param == "" {
		param = SelectorTopic
	}
	q := u.Query()
	q.Add(param, topic)
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return path + "?" + q.Encode()
}
