package mercure

import (
	"bytes"
	"context"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// TestStreamWaitsShallow checks where a subscriber streamed through the
// ResponseWriter (HTTP/2, HTTP/3, NoHijack) waits: in liveSub.wait right
// under ServeHTTP, with the frames that set the stream up (subscribe,
// serveSubscription: 1.5 KiB) returned, so that the garbage collector
// can halve the handler goroutine's stack (see liveSub).
func TestStreamWaitsShallow(t *testing.T) {
	hb, err := hub.New(hub.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Close(context.Background())
	h, err := New(Options{Hub: hb, PublisherKey: testHMACKey, Anonymous: true, Logger: quietLogger(), Heartbeat: -1, NoHijack: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequestWithContext(ctx, "GET", Path+"?match=a", nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}()
	var stack []byte
	for deadline := time.Now().Add(10 * time.Second); stack == nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no goroutine waits in liveSub.wait")
		}
		buf := make([]byte, 1<<20)
		for _, g := range bytes.Split(buf[:runtime.Stack(buf, true)], []byte("\n\n")) {
			if bytes.Contains(g, []byte("(*liveSub).wait(")) && bytes.Contains(g, []byte("(*Pool).Serve(")) {
				stack = g
			}
		}
	}
	for _, frame := range []string{"(*Handler).subscribe(", "(*Handler).serveSubscription("} {
		if bytes.Contains(stack, []byte(frame)) {
			t.Errorf("the stream waits under %s:\n%s", frame, stack)
		}
	}
	cancel()
	<-done
}
