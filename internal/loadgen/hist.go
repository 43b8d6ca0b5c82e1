package loadgen

import (
	"math/bits"
	"sync/atomic"
)

// histSub is the number of sub-buckets per power of two: a recorded value
// is off by less than 1/histSub (1.6 %) of itself.
const histSub = 64

// histBuckets covers every uint64: values below 2*histSub get a bucket each,
// each further power of two gets histSub buckets.
const histBuckets = (64-7)*histSub + 2*histSub

// histogram counts durations in nanoseconds in log-linear buckets. Record
// is safe for concurrent use; readers must wait until recording is over.
type histogram struct {
	counts [histBuckets]atomic.Uint64
	max    atomic.Uint64
}

// histIndex returns v's bucket.
func histIndex(v uint64) int {
	shift := max(bits.Len64(v)-7, 0)
	return shift*histSub + int(v>>shift)
}

// histValue returns the middle of bucket i.
func histValue(i int) uint64 {
	if i < 2*histSub {
		return uint64(i)
	}
	shift := i/histSub - 1
	m := uint64(i - shift*histSub)
	lo := m << shift
	return lo + (uint64(1)<<shift)/2
}

func (h *histogram) record(v uint64) {
	h.counts[histIndex(v)].Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// merge adds o's counts into h.
func (h *histogram) merge(o *histogram) {
	for i := range o.counts {
		if n := o.counts[i].Load(); n > 0 {
			h.counts[i].Add(n)
		}
	}
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
}

// total returns the number of recorded values.
func (h *histogram) total() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// quantile returns the value at or below which a fraction q of the
// recorded values lie; the maximum is exact, other quantiles are bucket
// midpoints capped at the maximum.
func (h *histogram) quantile(q float64) uint64 {
	n := h.total()
	if n == 0 {
		return 0
	}
	if q >= 1 {
		return h.max.Load()
	}
	rank := uint64(q*float64(n) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return min(histValue(i), h.max.Load())
		}
	}
	return h.max.Load()
}

// sparse returns the non-empty buckets as index/count pairs, so that
// results of several generator processes can be merged.
func (h *histogram) sparse() [][2]uint64 {
	var s [][2]uint64
	for i := range h.counts {
		if n := h.counts[i].Load(); n > 0 {
			s = append(s, [2]uint64{uint64(i), n})
		}
	}
	return s
}

// addSparse adds the buckets sparse returned, with maximum m.
func (h *histogram) addSparse(s [][2]uint64, m uint64) {
	for _, p := range s {
		if p[0] < histBuckets {
			h.counts[p[0]].Add(p[1])
		}
	}
	if m > h.max.Load() {
		h.max.Store(m)
	}
}
