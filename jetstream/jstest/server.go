// Package jstest runs throwaway nats-server processes with JetStream for
// tests: one server, or a cluster of several on loopback.
//
// Each server listens on its own loopback ports with its own store
// directory and is stopped by the test's cleanup. The binary is found on
// the PATH or in $GOPATH/bin (where `go install
// github.com/nats-io/nats-server/v2@version` puts it). When it is not
// found the test is skipped, unless the environment variable
// SSEHUB_NATS_TESTS is "1", in which case it fails: CI sets it so that a
// missing server cannot pass as green.
package jstest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/testproc"
)

const (
	// startTimeout bounds the wait for a new server (or cluster) to report
	// JetStream healthy.
	startTimeout = 30 * time.Second
	// stopTimeout bounds the wait for a server to exit after SIGTERM
	// before it is killed.
	stopTimeout = 10 * time.Second
)

// Server is a nats-server process owned by a test.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string
	name string

	// Ports: clients, cluster routes (0 for a lone server), monitoring.
	port, routePort, httpPort int
	cluster                   string // cluster name; empty for a lone server
	routes                    []string

	mu   sync.Mutex
	proc *testproc.Proc // nil while stopped
}

// Cluster is a set of nats-servers routed to each other, with JetStream
// clustered over them.
type Cluster struct {
	Servers []*Server
}

// Start starts one nats-server with JetStream on free loopback ports and
// registers its stop with tb.Cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartCluster(tb, 1).Servers[0]
}

// StartCluster starts n nats-servers (n 1 means a lone server without
// routes) and waits until JetStream is healthy on each: the cluster has
// elected its meta leader. Their stop is registered with tb.Cleanup.
func StartCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	bin := testproc.Binary(tb, "nats-server", "SSEHUB_NATS_TESTS")
	var c *Cluster
	// Another process may take a probed free port before the server binds
	// it; a few attempts with new ports make that race harmless.
	for attempt := 0; ; attempt++ {
		c = plan(tb, bin, n)
		err := c.start()
		if err == nil {
			break
		}
		c.stopAll()
		if attempt == 4 {
			tb.Fatalf("jstest: %v", err)
		}
	}
	tb.Cleanup(func() {
		if err := c.stopAll(); err != nil {
			tb.Errorf("jstest: %v", err)
		}
	})
	return c
}

// NewCluster is StartCluster without the start: it picks the ports and
// directories of n servers and registers their stop, and the test starts
// each with Launch (not waiting) or Resume (waiting), as hubs meet a
// cluster whose servers start one after another.
func NewCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	bin := testproc.Binary(tb, "nats-server", "SSEHUB_NATS_TESTS")
	c := plan(tb, bin, n)
	tb.Cleanup(func() {
		if err := c.stopAll(); err != nil {
			tb.Errorf("jstest: %v", err)
		}
	})
	return c
}

// plan picks the loopback ports and store directories of n servers (n 1
// means a lone server without routes).
func plan(tb testing.TB, bin string, n int) *Cluster {
	c := &Cluster{}
	var routes []string
	for i := range n {
		s := &Server{tb: tb, bin: bin, dir: tb.TempDir(), name: "n" + strconv.Itoa(i+1)}
		ports, err := testproc.FreePorts(3)
		if err != nil {
			tb.Fatalf("jstest: %v", err)
		}
		s.port, s.routePort, s.httpPort = ports[0], ports[1], ports[2]
		if n > 1 {
			s.cluster = "ssehub"
			routes = append(routes, "nats://127.0.0.1:"+strconv.Itoa(s.routePort))
		}
		c.Servers = append(c.Servers, s)
	}
	for _, s := range c.Servers {
		s.routes = routes
	}
	return c
}

// Launch starts a stopped server without waiting for it to be healthy.
func (s *Server) Launch() error { return s.spawn() }

// Listening waits until the server accepts client connections, which a
// clustered server does before JetStream can serve.
func (s *Server) Listening() error {
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)), time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats-server %s on port %d not listening within %v: %w", s.name, s.port, startTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) start() error {
	for _, s := range c.Servers {
		if err := s.spawn(); err != nil {
			return err
		}
	}
	for _, s := range c.Servers {
		if err := s.waitHealthy(); err != nil {
			return err
		}
	}
	if len(c.Servers) > 1 {
		return c.waitMeta()
	}
	return nil
}

// waitMeta polls the monitoring endpoint /jsz until the JetStream meta
// group's leader reports every other server as a current peer: before
// that, creating a replicated stream can fail for want of peers.
func (c *Cluster) waitMeta() error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	ask := c.Servers[0]
	var last string
	for {
		var jsz struct {
			Meta *struct {
				Leader   string `json:"leader"`
				Replicas []struct {
					Current bool `json:"current"`
					Offline bool `json:"offline"`
				} `json:"replicas"`
			} `json:"meta_cluster"`
		}
		resp, err := client.Get(ask.MonitorURL() + "/jsz")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&jsz)
			resp.Body.Close()
		}
		switch {
		case err != nil || jsz.Meta == nil || jsz.Meta.Leader == "":
		case jsz.Meta.Leader != ask.name:
			// Only the leader knows whether its peers are current.
			if l := c.Server(jsz.Meta.Leader); l != nil {
				ask = l
				continue
			}
		case len(jsz.Meta.Replicas) == len(c.Servers)-1:
			ok := true
			for _, r := range jsz.Meta.Replicas {
				ok = ok && r.Current && !r.Offline
			}
			if ok {
				return nil
			}
		}
		last = fmt.Sprintf("%+v %v", jsz.Meta, err)
		if time.Now().After(deadline) {
			return fmt.Errorf("nats-server cluster: the meta group did not form within %v: %s", startTimeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) stopAll() error {
	var errs []error
	for _, s := range c.Servers {
		errs = append(errs, s.Stop())
	}
	return errors.Join(errs...)
}

// URL returns the client URLs of every server, comma-separated, as
// nats.Connect takes them.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		urls[i] = s.URL()
	}
	return strings.Join(urls, ",")
}

// Server returns the server with the given name (as JetStream reports
// stream and meta leaders), or nil.
func (c *Cluster) Server(name string) *Server {
	for _, s := range c.Servers {
		if s.name == name {
			return s
		}
	}
	return nil
}

// Name returns the server's name, "n1", "n2", …
func (s *Server) Name() string { return s.name }

// URL returns the server's client URL.
func (s *Server) URL() string {
	return "nats://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// MonitorURL returns the base URL of the server's monitoring endpoints,
// such as /connz.
func (s *Server) MonitorURL() string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.httpPort))
}

// Connections returns how many client connections named name the server
// has open, as its /connz lists them.
func (s *Server) Connections(name string) (int, error) {
	resp, err := http.Get(s.MonitorURL() + "/connz?limit=100000")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var connz struct {
		Connections []struct {
			Name string `json:"name"`
		} `json:"connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&connz); err != nil {
		return 0, fmt.Errorf("jstest: /connz: %w", err)
	}
	n := 0
	for _, c := range connz.Connections {
		if c.Name == name {
			n++
		}
	}
	return n, nil
}

// Running reports whether the server process is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

// Stop stops the server with SIGTERM (a clean shutdown), or kills it if it
// does not exit in time. Stopping a stopped server does nothing.
func (s *Server) Stop() error { return s.stop(syscall.SIGTERM) }

// Kill stops the server with SIGKILL, as a crash would.
func (s *Server) Kill() error { return s.stop(syscall.SIGKILL) }

// Resume starts a stopped server again on the same ports and store
// directory, and waits until its JetStream is healthy.
func (s *Server) Resume() error {
	// The old listeners may linger briefly; retry the start.
	var err error
	for range 20 {
		if err = s.spawn(); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	return s.waitHealthy()
}

func (s *Server) spawn() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return errors.New("server already running")
	}
	args := []string{
		"-a", "127.0.0.1",
		"-p", strconv.Itoa(s.port),
		"-m", strconv.Itoa(s.httpPort),
		"-n", s.name,
		"-js", "-sd", s.dir,
	}
	if s.cluster != "" {
		var others []string
		self := "nats://127.0.0.1:" + strconv.Itoa(s.routePort)
		for _, r := range s.routes {
			if r != self {
				others = append(others, r)
			}
		}
		args = append(args,
			"--cluster_name", s.cluster,
			"--cluster", self,
			"--routes", strings.Join(others, ","),
		)
	}
	p, err := testproc.Start(s.bin, args...)
	if err != nil {
		return err
	}
	s.proc = p
	return nil
}

// waitHealthy polls the monitoring endpoint /healthz until it answers 200:
// the server is up and, clustered, JetStream has a current meta leader.
func (s *Server) waitHealthy() error {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	url := s.MonitorURL() + "/healthz"
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	var last string
	for {
		resp, err := client.Get(url)
		if err == nil {
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status + " " + strings.TrimSpace(b.String())
		} else {
			last = err.Error()
		}
		select {
		case <-p.Exited():
			s.mu.Lock()
			s.proc = nil
			s.mu.Unlock()
			return fmt.Errorf("nats-server %s on port %d exited at start: %s", s.name, s.port, p.Tail())
		default:
		}
		if time.Now().After(deadline) {
			s.Kill()
			return fmt.Errorf("nats-server %s on port %d not healthy within %v (%s): %s", s.name, s.port, startTimeout, last, p.Tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) stop(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	p := s.proc
	s.proc = nil
	if err := p.Stop(sig, stopTimeout); err != nil {
		return fmt.Errorf("nats-server %s on port %d: %w", s.name, s.port, err)
	}
	return nil
}
