package loadgen

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestHistogramIndexMonotonic(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 63, 64, 127, 128, 129, 255, 256, 1000, 1 << 20, 1<<40 + 12345, 1<<63 - 1, 1<<64 - 1} {
		i := histIndex(v)
		if i < prev || i >= histBuckets {
			t.Fatalf("histIndex(%d) = %d after %d (buckets %d)", v, i, prev, histBuckets)
		}
		prev = i
		mid := histValue(i)
		if v >= 128 && (float64(mid) < float64(v)*0.98 || float64(mid) > float64(v)*1.02) {
			t.Errorf("histValue(histIndex(%d)) = %d: more than 2%% off", v, mid)
		}
		if v < 128 && mid != v {
			t.Errorf("histValue(histIndex(%d)) = %d, want exact", v, mid)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]uint64, 100000)
	for i := range vals {
		vals[i] = uint64(r.ExpFloat64() * 2e6) // around 2 ms
		h.record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99} {
		want := float64(vals[int(q*float64(len(vals)))-1])
		got := float64(h.quantile(q))
		if got < want*0.97 || got > want*1.03 {
			t.Errorf("quantile(%v) = %v, want %v ± 3%%", q, got, want)
		}
	}
	if got := h.quantile(1); got != vals[len(vals)-1] {
		t.Errorf("max = %d, want %d", got, vals[len(vals)-1])
	}
	var m histogram
	m.addSparse(h.sparse(), h.max.Load())
	if m.total() != h.total() || m.quantile(0.99) != h.quantile(0.99) {
		t.Errorf("sparse round trip: total %d p99 %d, want %d %d", m.total(), m.quantile(0.99), h.total(), h.quantile(0.99))
	}
}
