package web

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

// FuzzLoopbackHost checks the Host test of the token endpoints (issue 19,
// item 12): whatever it accepts names the loopback interface by one of the
// three names, with at most a numeric port, so a DNS-rebinding page, which
// sends its own name, never passes.
func FuzzLoopbackHost(f *testing.F) {
	for _, s := range []string{"localhost:8080", "127.0.0.1:1", "[::1]:80", "[::1]", "localhost", "LOCALHOST",
		"rebind.evil.example:8080", "127.0.0.2", "localhost.:80", "[::ffff:127.0.0.1]:80", "localhost:x", "localhost:", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if !loopbackHost(host) {
			return
		}
		name, port := host, ""
		if h, p, err := net.SplitHostPort(host); err == nil {
			name, port = h, p
		}
		name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
		if strings.Trim(port, "0123456789") != "" {
			t.Fatalf("accepted %q with port %q", host, port)
		}
		if strings.EqualFold(name, "localhost") {
			return
		}
		ip, err := netip.ParseAddr(name)
		if err != nil || !ip.IsLoopback() || (ip != netip.MustParseAddr("127.0.0.1") && ip != netip.IPv6Loopback()) {
			t.Fatalf("accepted %q (name %q)", host, name)
		}
	})
}
