package logtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// Siblings describes a store whose logs can share one connection with
// another log of the same store (a "sibling"), for RunSiblings.
type Siblings struct {
	// Open returns a new, empty log on a connection of its own, which
	// Connections counts. It may register the log's Close with t.Cleanup.
	Open func(t *testing.T) hub.Log
	// Sibling opens a new, empty log on l's connection.
	Sibling func(ctx context.Context, l hub.Log) (hub.Log, error)
	// Connections counts, on the server's word, the open connections of
	// the logs Open returned and of their siblings.
	Connections func(t *testing.T) int
	// FollowConns is how many connections of its own each Follow holds.
	FollowConns int
}

// RunSiblings checks that a log and its sibling share one connection, and
// that they may be closed in either order: closing one ends its own
// operations with hub.ErrClosed, never the other's, and the last to close
// closes the connection. It also runs the conformance suite on siblings.
func RunSiblings(t *testing.T, s Siblings) {
	t.Helper()
	t.Run("ShareConnection", func(t *testing.T) { testShareConnection(t, s) })
	t.Run("CloseLogFirst", func(t *testing.T) { testCloseOrder(t, s, false) })
	t.Run("CloseSiblingFirst", func(t *testing.T) { testCloseOrder(t, s, true) })
	t.Run("Conformance", func(t *testing.T) {
		l := s.Open(t)
		t.Cleanup(func() { _ = l.Close() })
		Run(t, func(t *testing.T) hub.Log { return sibling(t, s, l) })
	})
}

// sibling opens a sibling of l whose Close t's cleanup calls.
func sibling(t *testing.T, s Siblings, l hub.Log) hub.Log {
	t.Helper()
	sib, err := s.Sibling(ctxFor(t), l)
	if err != nil {
		t.Fatalf("Sibling: %v", err)
	}
	t.Cleanup(func() { _ = sib.Close() })
	return sib
}

// use appends id to l, finds it and reads l, one step after another, so
// that a pool needs a single connection for all.
func use(t *testing.T, l hub.Log, id string) {
	t.Helper()
	ctx := ctxFor(t)
	if err := l.Append(ctx, &hub.Update{ID: id, Topics: []string{"t"}}); err != nil {
		t.Fatalf("Append: %v", err)
	}
	if _, err := l.Find(ctx, id); err != nil {
		t.Fatalf("Find: %v", err)
	}
	for _, err := range l.Read(ctx, 0) {
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
	}
}

// waitConnections waits for the server to count want connections: it
// notices a closed one when it next reads the socket.
func waitConnections(t *testing.T, s Siblings, want int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for n := s.Connections(t); n != want; n = s.Connections(t) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, want %d", n, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testShareConnection(t *testing.T, s Siblings) {
	l := s.Open(t)
	t.Cleanup(func() { _ = l.Close() })
	sib := sibling(t, s, l)
	use(t, l, "a")
	use(t, sib, "b")
	use(t, l, "c")
	if n := s.Connections(t); n != 1 {
		t.Fatalf("a log and its sibling hold %d connections, want 1", n)
	}
	// The count tells logs apart: one opened on its own dials its own.
	o := s.Open(t)
	t.Cleanup(func() { _ = o.Close() })
	use(t, o, "d")
	if n := s.Connections(t); n != 2 {
		t.Fatalf("with a third log opened apart, %d connections, want 2", n)
	}
}

func testCloseOrder(t *testing.T, s Siblings, siblingFirst bool) {
	ctx := ctxFor(t)
	l := s.Open(t)
	t.Cleanup(func() { _ = l.Close() })
	first, second := l, sibling(t, s, l)
	if siblingFirst {
		first, second = second, first
	}
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	ff, fs := follow(fctx, first, 0), follow(fctx, second, 0)
	use(t, first, "a")
	use(t, second, "a")
	wantIDs(t, "the first log's Follow", receive(t, ff, 1), []string{"a"})
	wantIDs(t, "the second log's Follow", receive(t, fs, 1), []string{"a"})
	// The pool's connections (how many, concurrent use decided) and the
	// Follows' own.
	n := s.Connections(t)

	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := ends(t, ff); !errors.Is(err, hub.ErrClosed) {
		t.Fatalf("Follow of the closed log ended with %v, want hub.ErrClosed", err)
	}
	if err := first.Append(ctx, &hub.Update{ID: "x", Topics: []string{"t"}}); !errors.Is(err, hub.ErrClosed) {
		t.Fatalf("Append on the closed log: %v, want hub.ErrClosed", err)
	}
	if sib, err := s.Sibling(ctx, first); !errors.Is(err, hub.ErrClosed) {
		if err == nil {
			sib.Close()
		}
		t.Fatalf("Sibling of the closed log: %v, want hub.ErrClosed", err)
	}
	use(t, second, "b")
	wantIDs(t, "the open log's Follow", receive(t, fs, 1), []string{"b"})
	// Gone is the closed log's Follow's connection, if any, not the one
	// they shared.
	waitConnections(t, s, n-s.FollowConns)

	if err := second.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := first.Close(); !errors.Is(err, hub.ErrClosed) {
		t.Fatalf("second Close: %v, want hub.ErrClosed", err)
	}
	if err := ends(t, fs); !errors.Is(err, hub.ErrClosed) {
		t.Fatalf("Follow of the last log closed ended with %v, want hub.ErrClosed", err)
	}
	waitConnections(t, s, 0)
}
