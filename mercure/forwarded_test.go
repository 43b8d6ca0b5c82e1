package mercure

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// The origin the resource identifier is derived from (Mercure 1.0, "Token
// Validation": the resource identifier is the hub's URL), read from RFC
// 7239 Forwarded or X-Forwarded-Proto/Host only when the peer is a trusted
// proxy.
func TestRequestOrigin(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	type hdr = [2]string
	tests := []struct {
		name    string
		remote  string
		tls     bool
		headers []hdr
		trusted []netip.Prefix
		want    string
	}{
		{"plain", "192.0.2.1:5000", false, nil, proxies, "http://hub.internal:8080"},
		{"TLS", "192.0.2.1:5000", true, nil, proxies, "https://hub.internal:8080"},
		{"no proxies configured: ignored", "10.1.2.3:5000", false,
			[]hdr{{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "evil.example"}}, nil, "http://hub.internal:8080"},
		{"untrusted peer: X-Forwarded-* ignored", "192.0.2.1:5000", false,
			[]hdr{{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "evil.example"}}, proxies, "http://hub.internal:8080"},
		{"untrusted peer: Forwarded ignored", "192.0.2.1:5000", false,
			[]hdr{{"Forwarded", "for=192.0.2.1;proto=https;host=evil.example"}}, proxies, "http://hub.internal:8080"},
		{"trusted: X-Forwarded-*", "10.1.2.3:5000", false,
			[]hdr{{"X-Forwarded-Proto", "HTTPS"}, {"X-Forwarded-Host", "hub.example"}}, proxies, "https://hub.example"},
		{"trusted: X-Forwarded-Host alone", "10.1.2.3:5000", true,
			[]hdr{{"X-Forwarded-Host", "hub.example:8443"}}, proxies, "https://hub.example:8443"},
		{"trusted: rightmost X-Forwarded values, the peer's", "10.1.2.3:5000", false,
			[]hdr{{"X-Forwarded-Proto", "http, https"}, {"X-Forwarded-Host", "evil.example"}, {"X-Forwarded-Host", "hub.example"}}, proxies, "https://hub.example"},
		{"trusted: bad values ignored", "10.1.2.3:5000", false,
			[]hdr{{"X-Forwarded-Proto", "javascript"}, {"X-Forwarded-Host", "evil.example/x?"}}, proxies, "http://hub.internal:8080"},
		{"trusted: Forwarded", "10.1.2.3:5000", false,
			[]hdr{{"Forwarded", `for=192.0.2.1;proto=https;host="hub.example"`}}, proxies, "https://hub.example"},
		{"Forwarded wins over X-Forwarded-*", "10.1.2.3:5000", false,
			[]hdr{{"Forwarded", "for=192.0.2.1;host=hub.example;proto=https"}, {"X-Forwarded-Host", "other.example"}}, proxies, "https://hub.example"},
		{"Forwarded: client-written elements left of an untrusted for= ignored", "10.1.2.3:5000", false,
			[]hdr{{"Forwarded", "host=evil.example;proto=http, for=192.0.2.1;proto=https;host=hub.example"}}, proxies, "https://hub.example"},
		{"Forwarded: a chain of trusted proxies", "10.1.2.3:5000", false,
			[]hdr{{"Forwarded", "for=192.0.2.1;proto=https;host=hub.example"}, {"Forwarded", `for="[::1]:4711";proto=http;host=lb.internal`}}, proxies, "https://hub.example"},
		{"Forwarded: obfuscated for= ends the walk", "10.1.2.3:5000", false,
			[]hdr{{"Forwarded", "proto=http;host=evil.example, for=_hidden;proto=https;host=hub.example"}}, proxies, "https://hub.example"},
		{"Forwarded: quoted separators", "10.1.2.3:5000", false,
			[]hdr{{"Forwarded", `for="192.0.2.1";host="a,b;c=d";proto=https`}}, proxies, "https://hub.internal:8080"},
		{"trusted: default port and case as an origin has them", "10.1.2.3:5000", false,
			[]hdr{{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "Hub.Example:443"}}, proxies, "https://hub.example"},
		{"trusted: another port kept", "10.1.2.3:5000", false,
			[]hdr{{"X-Forwarded-Proto", "http"}, {"X-Forwarded-Host", "hub.example:4430"}}, proxies, "http://hub.example:4430"},
		{"Forwarded: IPv6 host", "[::1]:5000", false,
			[]hdr{{"Forwarded", `for=192.0.2.1;host="[2001:db8::1]:8443";proto=https`}}, proxies, "https://[2001:db8::1]:8443"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", Path, nil)
		r.Host = "hub.internal:8080"
		r.RemoteAddr = tt.remote
		if tt.tls {
			r.TLS = &tls.ConnectionState{}
		} else {
			r.TLS = nil
		}
		for _, h := range tt.headers {
			r.Header.Add(h[0], h[1])
		}
		if got := requestOrigin(r, tt.trusted); got != tt.want {
			t.Errorf("%s: requestOrigin = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// End to end: behind a trusted proxy, a token for the public URL the proxy
// names is accepted and the challenges point at that URL's metadata; from
// anyone else, the same headers choose nothing.
func TestForwardedResourceIdentifier(t *testing.T) {
	const public = "https://hub.example"
	forwardedReq := func(e *env, token string) *http.Request {
		r := e.subscribeReq("match=x", token)
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Forwarded-Host", "hub.example")
		return r
	}
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		status  int // for a token naming the public URL
	}{
		{"trusted", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}, 200},
		{"untrusted", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, 401},
		{"no proxies", nil, 401},
	} {
		e := newEnv1(t, Options{TrustedProxies: tc.trusted}, hmacPair(), hmacPair())
		claims := e.access(grantJSON([]string{"subscribe"}, exactM("*")))
		claims["aud"] = public + Path
		tok := e.sub.mintAccess(t, claims, nil)
		s, resp, body := e.open(forwardedReq(e, tok))
		if s != nil {
			s.close()
		}
		if resp.StatusCode != tc.status {
			t.Errorf("%s: token for %s: %d %s, want %d", tc.name, public, resp.StatusCode, body, tc.status)
		}
		// The challenge's resource_metadata follows the same origin.
		resp, _ = e.do(forwardedReq(e, ""))
		md := e.srv.URL + MetadataPath
		if tc.status == 200 {
			md = public + MetadataPath
		}
		if www := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || !strings.Contains(www, `resource_metadata="`+md+`"`) {
			t.Errorf("%s: no token: %d %q, want 401 pointing at %s", tc.name, resp.StatusCode, www, md)
		}
	}
}

// FuzzRequestOrigin: whatever the forwarding headers, requestOrigin gives
// an http or https origin whose host keeps the URL's structure, and from
// an untrusted peer the request's own.
func FuzzRequestOrigin(f *testing.F) {
	f.Add("for=192.0.2.1;proto=https;host=hub.example", "https", "hub.example", true)
	f.Add(`for="[::1]:1";host="[2001:db8::1]:8443", for=10.0.0.1;host=x`, "http, https", "a, b", true)
	f.Add(`host="a\"b";proto="ht\tp"`, "", "evil.example/path", false)
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, fwd, proto, host string, trustedPeer bool) {
		r := httptest.NewRequest("GET", Path, nil)
		r.Host = "hub.internal"
		r.RemoteAddr = "192.0.2.1:1"
		if trustedPeer {
			r.RemoteAddr = "10.0.0.1:1"
		}
		if fwd != "" {
			r.Header.Set("Forwarded", fwd)
		}
		r.Header.Set("X-Forwarded-Proto", proto)
		r.Header.Set("X-Forwarded-Host", host)
		got := requestOrigin(r, proxies)
		scheme, h, ok := strings.Cut(got, "://")
		if !ok || scheme != "http" && scheme != "https" {
			t.Fatalf("requestOrigin = %q: not an http(s) origin", got)
		}
		if h != "hub.internal" && !validHost(h) {
			t.Fatalf("requestOrigin = %q: bad host", got)
		}
		if strings.ContainsAny(h, "/?#@ \"\\<>") {
			t.Fatalf("requestOrigin = %q: the host changes the URL's structure", got)
		}
		if !trustedPeer && got != "http://hub.internal" {
			t.Fatalf("untrusted peer: requestOrigin = %q, want the request's own", got)
		}
	})
}

// The request's own origin is normalised the same way: the Host a client
// sends with the default port or in capitals names the same hub.
func TestRequestOriginNormalised(t *testing.T) {
	for host, want := range map[string]string{
		"Hub.Example:80": "http://hub.example", "hub.example:8080": "http://hub.example:8080",
		"[::1]:80": "http://[::1]", "[::80]": "http://[::80]", "example:1080": "http://example:1080",
	} {
		r := httptest.NewRequest("GET", Path, nil)
		r.Host = host
		if got := requestOrigin(r, nil); got != want {
			t.Errorf("Host %q: requestOrigin = %q, want %q", host, got, want)
		}
	}
}
