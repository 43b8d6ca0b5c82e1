package hub_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// TestStartHeartbeat: beats come every interval, each bounded by the
// interval (a stalled store ends in a failure, not a longer gap), the
// failures reach failed, and stop waits for the last beat: none after.
func TestStartHeartbeat(t *testing.T) {
	const interval = 5 * time.Millisecond
	var beats, failures atomic.Int64
	stalled := errors.New("stalled")
	stop := hub.StartHeartbeat(t.Context(), interval, func(ctx context.Context) error {
		n := beats.Add(1)
		if d, ok := ctx.Deadline(); !ok || time.Until(d) > interval {
			t.Errorf("beat %d: deadline %v, %v; want within %v", n, d, ok, interval)
		}
		if n%2 == 0 {
			<-ctx.Done() // a store that does not answer
			return stalled
		}
		return nil
	}, func(err error) {
		if !errors.Is(err, stalled) {
			t.Errorf("failed(%v)", err)
		}
		failures.Add(1)
	})
	deadline := time.Now().Add(10 * time.Second)
	for beats.Load() < 6 || failures.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d beats and %d failures in 10s, want 6 and 3", beats.Load(), failures.Load())
		}
		time.Sleep(interval)
	}
	stop()
	n := beats.Load()
	stop() // again: a no-op
	time.Sleep(4 * interval)
	if beats.Load() != n {
		t.Errorf("%d beats after stop returned", beats.Load()-n)
	}
}
