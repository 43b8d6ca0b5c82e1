package mercure

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// requestOrigin is the origin r's client sent it to, <scheme>://<host>:
// r's own (its Host, https over TLS); or, when r comes from one of the
// trusted proxies, the one the proxies say their client used. The hub
// derives its resource identifier from it when none is configured, and so
// the audience its access tokens must name: were the forwarding headers
// believed from anyone, a client could choose that audience.
//
// RFC 7239's Forwarded is read first. Its elements are walked from the
// right, the one the trusted peer appended, and leftwards for as long as
// the element's for= names a trusted proxy too, whose own element is then
// believed as well; the leftmost believed proto= and host= win. Without
// Forwarded, the rightmost X-Forwarded-Proto and X-Forwarded-Host values
// are taken, those the trusted peer wrote: those headers say nothing of
// who wrote the values left of them. A value that is no scheme of HTTP or
// no host[:port] is ignored.
func requestOrigin(r *http.Request, trusted []netip.Prefix) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if len(trusted) > 0 && fromTrusted(r.RemoteAddr, trusted) {
		if fwd := r.Header.Values("Forwarded"); len(fwd) > 0 {
			scheme, host = forwarded(fwd, trusted, scheme, host)
		} else {
			if v, ok := lastValue(r.Header.Values("X-Forwarded-Proto")); ok {
				scheme = forwardedScheme(v, scheme)
			}
			if v, ok := lastValue(r.Header.Values("X-Forwarded-Host")); ok && validHost(v) {
				host = v
			}
		}
	}
	return scheme + "://" + normalHost(scheme, host)
}

// normalHost is host as an origin serializes it (RFC 6454, section 6.1;
// WHATWG URL): lowercase, without the scheme's default port, so that
// "Hub.example:443" over https names the same resource as "hub.example".
func normalHost(scheme, host string) string {
	defaultPort := ":80"
	if scheme == "https" {
		defaultPort = ":443"
	}
	return strings.TrimSuffix(strings.ToLower(host), defaultPort)
}

// fromTrusted reports whether node, an IP address with an optional port
// (a RemoteAddr, or a Forwarded node with an IPv6 address in brackets),
// is a trusted proxy.
func fromTrusted(node string, trusted []netip.Prefix) bool {
	if h, _, err := net.SplitHostPort(node); err == nil {
		node = h
	} else {
		node = strings.TrimSuffix(strings.TrimPrefix(node, "["), "]")
	}
	a, err := netip.ParseAddr(node)
	return err == nil && inPrefixes(a.Unmap(), trusted)
}

// forwarded applies the Forwarded field values fwd to the origin scheme,
// host of the request the trusted peer sent (see requestOrigin).
func forwarded(fwd []string, trusted []netip.Prefix, scheme, host string) (string, string) {
	elems := splitQuoted(strings.Join(fwd, ","), ',')
	for i := len(elems) - 1; i >= 0; i-- {
		var forAddr string
		for _, pair := range splitQuoted(elems[i], ';') {
			name, value, ok := strings.Cut(pair, "=")
			if !ok {
				continue
			}
			value = unquote(strings.TrimSpace(value))
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "proto":
				scheme = forwardedScheme(value, scheme)
			case "host":
				if validHost(value) {
					host = value
				}
			case "for":
				forAddr = value
			}
		}
		// RFC 7239, section 6: a node is an IP address, optionally with a
		// port, an IPv6 one in brackets; "unknown" and obfuscated
		// identifiers are not addresses, and end the walk.
		if !fromTrusted(forAddr, trusted) {
			break
		}
	}
	return scheme, host
}

// forwardedScheme returns v lowercased if it is http or https, else def.
func forwardedScheme(v, def string) string {
	switch v = strings.ToLower(strings.TrimSpace(v)); v {
	case "http", "https":
		return v
	}
	return def
}

// lastValue returns the rightmost element of a comma-separated field.
func lastValue(vs []string) (string, bool) {
	if len(vs) == 0 {
		return "", false
	}
	v := vs[len(vs)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	v = strings.TrimSpace(v)
	return v, v != ""
}

// validHost reports whether h is a host with an optional port: a
// bracketed IPv6 address, or a DNS name or IPv4 address (letters, digits,
// "-", ".", "_", "~": RFC 3986's unreserved characters, which a proxy
// sends an international name in as its A-label), then :digits. Whatever
// could change the URL's structure or the header fields it is quoted in
// (a slash, "@", "?", "#", a space, a quote) is refused, and so are the
// rarer sub-delims of RFC 3986's reg-name.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	name, port := h, ""
	if h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return false
		}
		if a, err := netip.ParseAddr(h[1:end]); err != nil || !a.Is6() {
			return false
		}
		name, port = "", h[end+1:]
		if port != "" {
			if port[0] != ':' {
				return false
			}
			port = port[1:]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		name, port = h[:i], h[i+1:]
		if name == "" {
			return false
		}
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~':
		default:
			return false
		}
	}
	if len(port) > 5 {
		return false
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return false
		}
	}
	return true
}

// splitQuoted splits s at sep outside RFC 9110 quoted strings.
func splitQuoted(s string, sep byte) []string {
	var (
		parts  []string
		quoted bool
		start  int
	)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unquote returns the value of an RFC 9110 quoted string, or v as it is
// if it is not one.
func unquote(v string) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	v = v[1 : len(v)-1]
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}
