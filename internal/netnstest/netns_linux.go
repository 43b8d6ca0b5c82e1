package netnstest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ssehub/ssehub/internal/testproc"
)

// envRun runs the tests: without it they skip, for their veth pair is a
// network change to the machine (see the package documentation). With
// it, a missing privilege or tool is a failure.
const envRun = "SSEHUB_NETNS_TESTS"

// peerLink is the name of the peer's end of the veth pair, inside its own
// namespace where no other name can clash with it.
const peerLink = "vanish0"

// vanishRules drop every IP packet the peer receives or sends. They live
// in the peer's namespace: the test's stack, interface and routes are
// untouched, as a server's are when a client far away dies. ARP is still
// answered, as the router in front of a dead machine would still take
// packets for it.
const vanishRules = `table inet netnstest {
	chain in { type filter hook input priority 0; policy drop; }
	chain out { type filter hook output priority 0; policy drop; }
}
`

// ErrClosed is what dialing returns once the test has ended.
var ErrClosed = errors.New("netnstest: peer closed")

// Peer is a network namespace owned by a test, joined to the test's
// namespace by a veth pair.
type Peer struct {
	// Host is the test's end of the veth pair: a server listening there
	// is reachable from the peer (and, as any local address, from the
	// test's namespace).
	Host netip.Addr
	// Addr is the peer's address.
	Addr netip.Addr

	tb   testing.TB
	ip   string // the ip and nft programs
	nft  string
	link string // the test's end of the veth pair

	calls     chan func() // run by the goroutine locked in the namespace
	done      chan struct{}
	closeOnce sync.Once
}

// Start creates the peer's namespace and the veth pair, with addresses in
// a /30 of 198.18.0.0/15 (RFC 2544: set aside for benchmarking, routed
// nowhere) drawn at random, so that tests running side by side do not
// share one. The test's cleanup removes them.
func Start(tb testing.TB) *Peer {
	tb.Helper()
	if !strings.HasPrefix(tb.Name(), "TestVanish") {
		// The name keeps the test out of CI's main run, where browser
		// tests would see the veth pair as a network change (see the
		// package documentation).
		tb.Fatalf("netnstest: %s must be named TestVanish...: .ci/run runs those apart from the browser tests", tb.Name())
	}
	if os.Getenv(envRun) != "1" {
		tb.Skipf("skipping: it changes this machine's network, which makes a browser drop its connections; "+
			"%s=1 runs it, as root, apart from the browser tests (go test -run '^TestVanish')", envRun)
	}
	if os.Geteuid() != 0 {
		tb.Fatalf("netnstest: a network namespace needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN), and %s=1", envRun)
	}
	p := &Peer{
		tb:    tb,
		ip:    testproc.Binary(tb, "ip", envRun),
		nft:   testproc.Binary(tb, "nft", envRun),
		calls: make(chan func()),
		done:  make(chan struct{}),
	}
	tids := make(chan int, 1)
	errs := make(chan error, 1)
	go p.serve(tids, errs)
	var tid int
	select {
	case tid = <-tids:
	case err := <-errs:
		tb.Fatalf("netnstest: creating a network namespace: %v", err)
	}
	tb.Cleanup(p.close)

	for attempt := 0; ; attempt++ {
		link := fmt.Sprintf("nnt%08x", rand.Uint32())
		// The peer's end is created in the namespace directly: the
		// thread's ID names it, as a process ID would.
		out, err := exec.Command(p.ip, "link", "add", link, "type", "veth", "peer", "name", peerLink, "netns", strconv.Itoa(tid)).CombinedOutput()
		if err == nil {
			p.link = link
			break
		}
		if attempt == 4 || !strings.Contains(string(out), "exists") {
			tb.Fatalf("netnstest: ip link add: %v: %s", err, out)
		}
	}
	base := netip.AddrFrom4([4]byte{198, 18, 0, 0}).As4()
	block := rand.Uint32N(1<<15) * 4 // a /30 of the /15
	b := [4]byte{base[0], base[1] + byte(block>>16), byte(block >> 8), byte(block)}
	b[3] += 1
	p.Host = netip.AddrFrom4(b)
	b[3] += 1
	p.Addr = netip.AddrFrom4(b)

	p.mustHost("addr", "add", p.Host.String()+"/30", "dev", p.link)
	p.mustHost("link", "set", p.link, "up")
	p.mustPeer(nil, p.ip, "addr", "add", p.Addr.String()+"/30", "dev", peerLink)
	p.mustPeer(nil, p.ip, "link", "set", peerLink, "up")
	p.mustPeer(nil, p.ip, "link", "set", "lo", "up")
	return p
}

// serve enters a new network namespace on a thread of its own and runs
// the calls made there until the test ends.
func (p *Peer) serve(tids chan<- int, errs chan<- error) {
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		errs <- err
		return
	}
	// Never unlocked: the runtime ends the thread with this goroutine,
	// and the namespace ends with the thread and the last of its sockets.
	tids <- unix.Gettid()
	for {
		select {
		case f := <-p.calls:
			f()
		case <-p.done:
			return
		}
	}
}

// inside runs f in the peer's namespace, on its thread; false if the
// test has ended.
func (p *Peer) inside(f func()) bool {
	ran := make(chan struct{})
	select {
	case p.calls <- func() { f(); close(ran) }:
		<-ran
		return true
	case <-p.done:
		return false
	}
}

// DialContext connects to address from the peer's namespace. Its
// connections stay there: use it as an http.Transport's DialContext.
func (p *Peer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	var err error
	// The socket is made by this call, on the namespace's thread. (A
	// literal address: no resolver goroutine, no dialing in parallel.)
	if !p.inside(func() {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, address)
	}) {
		return nil, ErrClosed
	}
	return c, err
}

// Vanish drops every packet to and from the peer from now on: its
// connections go silent, with no FIN, RST or ACK.
func (p *Peer) Vanish() {
	p.tb.Helper()
	p.mustPeer(strings.NewReader(vanishRules), p.nft, "-f", "-")
}

// mustHost runs ip with args in the test's namespace.
func (p *Peer) mustHost(args ...string) {
	p.tb.Helper()
	if out, err := exec.Command(p.ip, args...).CombinedOutput(); err != nil {
		p.tb.Fatalf("netnstest: ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// mustPeer runs name with args in the peer's namespace: forked from its
// thread, the process starts in it.
func (p *Peer) mustPeer(stdin *strings.Reader, name string, args ...string) {
	p.tb.Helper()
	var out []byte
	var err error
	if !p.inside(func() {
		cmd := exec.Command(name, args...)
		if stdin != nil {
			cmd.Stdin = stdin
		}
		out, err = cmd.CombinedOutput()
	}) {
		err = ErrClosed
	}
	if err != nil {
		p.tb.Fatalf("netnstest: %s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// close removes the veth pair, which the namespace's end would take along
// anyway but only once the last socket in it is closed, and ends the
// namespace's thread.
func (p *Peer) close() {
	p.closeOnce.Do(func() {
		if p.link != "" {
			// Both ends go; nothing to report if the namespace took them.
			exec.Command(p.ip, "link", "del", p.link).Run()
		}
		close(p.done)
	})
}
