//go:build !linux

package loadgen

import (
	"errors"
	"sync"
	"syscall"
	"time"
)

var errNoProc = errors.New("process statistics need Linux's /proc")

func bindNoPort(network, address string, c syscall.RawConn) error { return nil }

// fdLimit assumes the limit of the machines the generator is tuned for.
func fdLimit() (uint64, error) { return 20000, nil }

func selfCPU() time.Duration { return 0 }

func procRSS(pid string) (uint64, error) { return 0, errNoProc }

func procCPU(pid string) (time.Duration, error) { return 0, errNoProc }

// defaultReader is the subscriber reader of a run: see [Config.Reader].
const defaultReader = readerGoroutine

// readNow and writeNow serve the epoll reader's TLS connections.
func readNow(fd int, p []byte) (int, error)  { return 0, errors.New("the epoll reader needs Linux") }
func writeNow(fd int, p []byte) (int, error) { return 0, errors.New("the epoll reader needs Linux") }

// epollReader is Linux's: elsewhere the goroutine reader serves.
type epollReader struct{}

func newEpollReader(conns []subConn, hist []*histogram, k int, wg *sync.WaitGroup) (*epollReader, error) {
	return nil, errors.New("the epoll reader needs Linux")
}

func defaultLoops(conns int) int { return 1 }

func (r *epollReader) add(h *subHead, i int, c *subConn) error {
	return errors.New("the epoll reader needs Linux")
}

func (r *epollReader) stop() {}
