package mercure

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of the limit options.
const (
	// DefaultRetryAfter is what a refused subscriber is told to wait: long
	// enough for a storm of reconnections to spread out, short enough that
	// an EventSource user barely notices.
	DefaultRetryAfter = 5 * time.Second
	// DefaultBodyReadTimeout bounds reading one publish request's body.
	DefaultBodyReadTimeout = 30 * time.Second
)

// limiter counts open subscriptions, in total and per client address. The
// zero value with zero maxima counts nothing and refuses nothing.
type limiter struct {
	maxTotal, maxPerClient int

	mu        sync.Mutex
	total     int
	perClient map[string]int
}

// acquire reserves a subscription for client. It returns 0 and a release
// function, to be called exactly once when the subscription ends, or the
// status to refuse it with: 503 when the hub is full, 429 when this client
// has too many open.
func (l *limiter) acquire(client string) (release func(), status int) {
	if l.maxTotal <= 0 && l.maxPerClient <= 0 {
		return func() {}, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// The per-client check comes first: a client over its own share is
	// told so even when the hub happens to be full as well.
	if l.maxPerClient > 0 && l.perClient[client] >= l.maxPerClient {
		return nil, http.StatusTooManyRequests
	}
	if l.maxTotal > 0 && l.total >= l.maxTotal {
		return nil, http.StatusServiceUnavailable
	}
	l.total++
	if l.maxPerClient > 0 {
		if l.perClient == nil {
			l.perClient = make(map[string]int)
		}
		l.perClient[client]++
	}
	var once sync.Once
	return func() { once.Do(func() { l.release(client) }) }, 0
}

func (l *limiter) release(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.maxPerClient > 0 {
		// Deleting at zero keeps the map as small as the set of clients
		// connected now, not every client ever seen.
		if n := l.perClient[client] - 1; n > 0 {
			l.perClient[client] = n
		} else {
			delete(l.perClient, client)
		}
	}
}

// open returns the number of subscriptions counted now.
func (l *limiter) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// clientAddr returns the address a request's subscriptions are counted
// under: the host of its RemoteAddr; or, when that is one of the trusted
// proxies, the rightmost X-Forwarded-For address that is not itself a
// trusted proxy. Entries left of that one are whatever the client wrote and
// are never believed.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if len(trusted) == 0 {
		return host
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !inPrefixes(addr.Unmap(), trusted) {
		return host
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		fields := strings.Split(hops[i], ",")
		for j := len(fields) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(fields[j]))
			if err != nil {
				// A hop that is no address cannot be counted under;
				// the last trusted address is the best known.
				return host
			}
			host = a.Unmap().String()
			if !inPrefixes(a.Unmap(), trusted) {
				return host
			}
		}
	}
	return host
}

func inPrefixes(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// refuseSubscription answers a subscription the limiter refused.
func (h *Handler) refuseSubscription(w http.ResponseWriter, status int) {
	secs := int((h.retryAfter + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	if status == http.StatusTooManyRequests {
		writeError(w, status, "too many open subscriptions from this address: close one or retry later")
		return
	}
	writeError(w, status, "the hub has as many subscriptions open as it allows: retry later")
}

// setBodyDeadline bounds the time left to read r's body. A connection that
// cannot take a deadline (HTTP/2 streams, test recorders) keeps its
// server's limits; the body size limit applies in any case.
func (h *Handler) setBodyDeadline(w http.ResponseWriter) {
	if h.bodyTimeout > 0 {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.bodyTimeout))
	}
}
