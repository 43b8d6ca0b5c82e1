package mercure

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// limiter counts open subscriptions, in total and per client address, and
// the distinct topic selectors each client address holds over its open
// subscriptions. The zero value with zero maxima counts nothing and refuses
// nothing.
type limiter struct {
	maxTotal, maxPerClient, maxSelsPerClient int

	mu        sync.Mutex
	total     int
	perClient map[string]int
	sels      map[string]map[string]int // client → selector → subscriptions holding it
}

// refusal says why the limiter refused a subscription: status is 503 when
// the hub is full, 429 when this client holds too much.
type refusal struct {
	status int
	msg    string
}

var (
	refusedFull = &refusal{http.StatusServiceUnavailable, "the hub has as many subscriptions open as it allows: retry later"}
	refusedSubs = &refusal{http.StatusTooManyRequests, "too many open subscriptions from this address: close one or retry later"}
)

// acquire reserves a subscription to selectors for client. It returns a
// release function, to be called exactly once when the subscription ends,
// or why it refuses.
func (l *limiter) acquire(client string, selectors []string) (release func(), refused *refusal) {
	if l.maxTotal <= 0 && l.maxPerClient <= 0 && l.maxSelsPerClient <= 0 {
		return func() {}, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// The per-client checks come first: a client over its own share is
	// told so even when the hub happens to be full as well.
	if l.maxPerClient > 0 && l.perClient[client] >= l.maxPerClient {
		return nil, refusedSubs
	}
	if l.maxSelsPerClient > 0 {
		held := l.sels[client]
		fresh := 0
		for i, s := range selectors {
			if held[s] == 0 && !slices.Contains(selectors[:i], s) {
				fresh++
			}
		}
		if len(held)+fresh > l.maxSelsPerClient {
			return nil, &refusal{http.StatusTooManyRequests, fmt.Sprintf(
				"topic: this address would hold %d distinct topic selectors over its open subscriptions, at most %d allowed: close a subscription or retry later",
				len(held)+fresh, l.maxSelsPerClient)}
		}
	}
	if l.maxTotal > 0 && l.total >= l.maxTotal {
		return nil, refusedFull
	}
	l.total++
	if l.maxPerClient > 0 {
		if l.perClient == nil {
			l.perClient = make(map[string]int)
		}
		l.perClient[client]++
	}
	if l.maxSelsPerClient > 0 && len(selectors) > 0 {
		if l.sels == nil {
			l.sels = make(map[string]map[string]int)
		}
		held := l.sels[client]
		if held == nil {
			held = make(map[string]int, len(selectors))
			l.sels[client] = held
		}
		for _, s := range selectors {
			held[s]++
		}
	}
	var once sync.Once
	return func() { once.Do(func() { l.release(client, selectors) }) }, nil
}

func (l *limiter) release(client string, selectors []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	// Deleting at zero keeps the maps as small as the set of clients
	// connected now, not every client ever seen.
	if l.maxPerClient > 0 {
		if n := l.perClient[client] - 1; n > 0 {
			l.perClient[client] = n
		} else {
			delete(l.perClient, client)
		}
	}
	if held := l.sels[client]; held != nil {
		for _, s := range selectors {
			if n := held[s] - 1; n > 0 {
				held[s] = n
			} else {
				delete(held, s)
			}
		}
		if len(held) == 0 {
			delete(l.sels, client)
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

// refuseSubscription answers a subscription the limits refused, with a
// Retry-After.
func (h *Handler) refuseSubscription(w http.ResponseWriter, why *refusal) {
	secs := int((h.retryAfter + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, why.status, why.msg)
}

// setBodyDeadline bounds the time left to read r's body. A connection that
// cannot take a deadline (HTTP/2 streams, test recorders) keeps its
// server's limits; the body size limit applies in any case.
func (h *Handler) setBodyDeadline(w http.ResponseWriter) {
	if h.bodyTimeout > 0 {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.bodyTimeout))
	}
}
