package loadgen

import (
	"context"
	"testing"
)

func TestBenchLoopbackNames(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:1/", "http://127.8.9.10:1/", "http://[::1]:1/", "http://localhost:1/"} {
		tgt, err := resolveTarget(context.Background(), u)
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		if !tgt.ip.IsLoopback() {
			t.Errorf("%s: dials %s", u, tgt.addr)
		}
	}
}
