package mercure

import (
	"bytes"
	"io"
	"net"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// BenchmarkIdleTakenOver measures what an idle subscriber on a taken-over
// connection costs in heap (both ends of the loopback connection, which
// are in this process): each iteration subscribes over a raw connection
// and reads the response head. Run it with -benchtime=2000x.
func BenchmarkIdleTakenOver(b *testing.B) {
	log := hub.NewMemoryLog(hub.MemoryLogOptions{})
	hb, err := hub.New(hub.Options{Log: log, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(Options{Hub: hb, PublisherKey: testHMACKey, Anonymous: true, Heartbeat: -1, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer func() {
		hb.Close(b.Context())
		srv.Close()
	}()
	req := []byte("GET " + Path + "?topic=a HTTP/1.1\r\nHost: hub\r\n\r\n")
	conns := make([]net.Conn, 0, b.N)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	head := make([]byte, 4096)
	before := heapInUse()
	b.ResetTimer()
	for range b.N {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		for n := 0; !bytes.Contains(head[:n], []byte("\r\n\r\n")); {
			m, err := c.Read(head[n:])
			if err != nil && err != io.EOF {
				b.Fatal(err)
			}
			if n += m; m == 0 || n == len(head) {
				b.Fatalf("response head: %q", head[:n])
			}
		}
		if !bytes.HasPrefix(head, []byte("HTTP/1.1 200")) {
			b.Fatalf("response %q", head[:32])
		}
	}
	b.StopTimer()
	for deadline := time.Now().Add(10 * time.Second); hb.Stats().Subscribers != int64(b.N); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d subscribers of %d", hb.Stats().Subscribers, b.N)
		}
	}
	// Let net/http's connection goroutines of the taken-over connections
	// end before measuring.
	time.Sleep(100 * time.Millisecond)
	b.ReportMetric(float64(int64(heapInUse())-int64(before))/float64(b.N), "heapB/sub")
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc + ms.StackInuse
}
