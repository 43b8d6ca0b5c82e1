package jetstream_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/logtest"
	"github.com/ssehub/ssehub/jetstream"
	"github.com/ssehub/ssehub/jetstream/jstest"
)

// TestSiblings checks that a log and its Sibling share one connection,
// counting the connections nats-server's /connz lists under a name of the
// test's own, and that they may be closed in either order.
func TestSiblings(t *testing.T) {
	srv := jstest.Start(t)
	const name = "sibling-test"
	logtest.RunSiblings(t, logtest.Siblings{
		Open: func(t *testing.T) hub.Log {
			l, err := jetstream.Open(t.Context(), srv.URL(), fresh(jetstream.Options{NATS: []nats.Option{nats.Name(name)}}))
			if err != nil {
				t.Fatal(err)
			}
			return l
		},
		Sibling: func(ctx context.Context, l hub.Log) (hub.Log, error) {
			return l.(*jetstream.Log).Sibling(ctx, fresh(jetstream.Options{}))
		},
		Connections: func(t *testing.T) int {
			n, err := srv.Connections(name)
			if err != nil {
				t.Fatal(err)
			}
			return n
		},
		// A Follow subscribes on the log's connection.
		FollowConns: 0,
	})
}

func TestSiblingBadOptions(t *testing.T) {
	srv := jstest.Start(t)
	l := openLog(t, srv.URL(), fresh(jetstream.Options{}))
	for _, tc := range []struct {
		opts  jetstream.Options
		field string
	}{
		{jetstream.Options{NATS: []nats.Option{nats.Name("x")}}, "NATS"},
		{jetstream.Options{Stream: "a.b"}, "Stream"},
	} {
		if s, err := l.Sibling(t.Context(), tc.opts); err == nil || !strings.Contains(err.Error(), tc.field) {
			if err == nil {
				s.Close()
			}
			t.Errorf("Sibling(%+v): %v, want an error naming %s", tc.opts, err, tc.field)
		}
	}
	// A refused sibling leaves the connection open.
	if _, err := l.Last(t.Context()); err != nil {
		t.Fatalf("Last after a refused Sibling: %v", err)
	}
}
