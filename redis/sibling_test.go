package redis_test

import (
	"context"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/logtest"
	"github.com/ssehub/ssehub/redis"
	"github.com/ssehub/ssehub/redis/redistest"
)

// TestSiblings checks that a log and its Sibling share one pool, counting
// the connections Redis lists under a client name of the test's own, and
// that they may be closed in either order.
func TestSiblings(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	const name = "sibling-test"
	logtest.RunSiblings(t, logtest.Siblings{
		Open: func(t *testing.T) hub.Log {
			l, err := redis.Open(t.Context(), srv.URL()+"?client_name="+name, redis.Options{Prefix: newPrefix(t)})
			if err != nil {
				t.Fatal(err)
			}
			return l
		},
		Sibling: func(ctx context.Context, l hub.Log) (hub.Log, error) {
			return l.(*redis.Log).Sibling(ctx, redis.Options{Prefix: newPrefix(t)})
		},
		Connections: func(t *testing.T) int {
			list, err := admin.ClientList(t.Context()).Result()
			if err != nil {
				t.Fatal(err)
			}
			return strings.Count(list, " name="+name+" ")
		},
		// Its blocking XREAD.
		FollowConns: 1,
	})
}

func TestSiblingBadOptions(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	l := openLog(t, srv, redis.Options{})
	if _, err := l.Sibling(t.Context(), redis.Options{Prefix: "a{b}"}); err == nil || !strings.Contains(err.Error(), "Prefix") {
		t.Fatalf("Sibling with a bad prefix: %v, want an error naming Prefix", err)
	}
	// A refused sibling leaves the client open.
	if _, err := l.Last(t.Context()); err != nil {
		t.Fatalf("Last after a refused Sibling: %v", err)
	}
}
