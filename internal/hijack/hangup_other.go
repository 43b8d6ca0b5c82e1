//go:build !linux

package hijack

import "net"

// canWatchHangups reports whether this platform has a hangupWatcher. Here it
// has none, so subscribers keep the sse.Stream path, whose net/http read
// goroutine notices hang-ups.
const canWatchHangups = false

// hangupWatcher watches nothing on this platform.
type hangupWatcher struct{}

func (w *hangupWatcher) watch(net.Conn, func()) uint64 { return 0 }

func (w *hangupWatcher) unwatch(net.Conn, uint64) {}

// socketOf returns -1: there are no taken-over streams here.
func socketOf(net.Conn) int { return -1 }

func writeNow(int, []byte) (int, error) { return 0, nil }

func sendBufferOf(*net.TCPConn) int { return 0 }

func roomFor(int, int, int) bool { return false }
