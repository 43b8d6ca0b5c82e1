package mercure

import (
	"sync"
	"time"
)

const (
	// tokenCacheSize bounds the tokens one verifier remembers. Publishers
	// are few and each reuses its token on a keep-alive connection, so a
	// small cache holds all of them.
	tokenCacheSize = 1024
	// maxCachedTokenLen keeps large tokens out of the cache, bounding its
	// memory to tokenCacheSize × maxCachedTokenLen. Larger tokens are
	// verified on every use, as all tokens used to be.
	maxCachedTokenLen = 4 << 10
)

// tokenCache remembers the claims of tokens its verifier has accepted,
// keyed by the raw token, so that a token presented again skips the
// signature check and the JSON decoding, which are most of the CPU a
// publish costs. Only successes are stored, and an entry is used only
// while its token is unexpired at the time of use: an expired one is
// dropped and the token goes through full verification, which rejects it
// with the parser's own error. The claims a hit returns are shared between
// requests and must not be modified. The zero value is an empty cache.
//
// A token that verified once stays valid until it expires: its signature
// cannot change, and "nbf" is already past. The cache belongs to one
// verifier, so a token is only ever accepted under the key that verified
// it.
type tokenCache struct {
	mu sync.Mutex
	m  map[string]*Claims
}

// get returns the claims stored for raw if it is still unexpired at now.
func (c *tokenCache) get(raw string, now time.Time) (*Claims, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.m[raw]
	if !ok {
		return nil, false
	}
	if !cl.exp.IsZero() && !now.Before(cl.exp) {
		delete(c.m, raw)
		return nil, false
	}
	return cl, true
}

// put stores the claims of raw, which has just been verified. When the
// cache is full it evicts an arbitrary entry: with fewer live tokens than
// slots nothing useful is lost, and with more, caching cannot help anyway.
func (c *tokenCache) put(raw string, cl *Claims) {
	if len(raw) > maxCachedTokenLen {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]*Claims)
	}
	if _, ok := c.m[raw]; !ok && len(c.m) >= tokenCacheSize {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[raw] = cl
}

// len returns the number of tokens stored, for tests.
func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
