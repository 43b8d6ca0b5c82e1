package redis_test

import (
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/logtest"
	"github.com/ssehub/ssehub/redis"
	"github.com/ssehub/ssehub/redis/redistest"
)

// BenchmarkFanoutRedis1Node and BenchmarkFanoutRedis3Nodes publish b.N
// updates through Redis from 4 concurrent publishers on random nodes and
// wait until each of 1,000 in-process subscribers, spread over the nodes,
// has received every one (logtest.BenchFanout). They report deliveries/s
// end to end and the latency of Publish (one Lua round trip to Redis).
// BenchmarkFanoutRedis3Nodes64 has 64 publishers, as
// BenchmarkFanoutJetStream3Nodes64 in the jetstream package, to compare.
func BenchmarkFanoutRedis1Node(b *testing.B)    { benchFanout(b, 1, 4) }
func BenchmarkFanoutRedis3Nodes(b *testing.B)   { benchFanout(b, 3, 4) }
func BenchmarkFanoutRedis3Nodes64(b *testing.B) { benchFanout(b, 3, 64) }

func benchFanout(b *testing.B, nodes, publishers int) {
	srv := redistest.Start(b, redistest.Options{})
	prefix := newPrefix(b)
	logs := make([]hub.Log, nodes)
	for i := range logs {
		logs[i] = openLog(b, srv, redis.Options{Prefix: prefix})
	}
	logtest.BenchFanout(b, logs, 1000, publishers)
}

// BenchmarkAppend measures one Append round trip (the Lua script: HINCRBY,
// XADD, HSET and, once the log is full, the trim of one entry), with and
// without age retention, against a PING round trip on the same server as
// the floor.
func BenchmarkAppend(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	b.Run("Ping", func(b *testing.B) {
		c := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
		defer c.Close()
		for b.Loop() {
			if err := c.Ping(b.Context()).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, bc := range []struct {
		name string
		opts redis.Options
	}{
		{"MaxLen", redis.Options{MaxLen: 1000}},
		{"MaxLenMaxAge", redis.Options{MaxLen: 1000, MaxAge: time.Hour}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := openLog(b, srv, bc.opts)
			i := 0
			for b.Loop() {
				u := &hub.Update{ID: fmt.Sprintf("u%d", i), Topics: []string{"https://example.com/feed"}, Data: "x"}
				if err := l.Append(b.Context(), u); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
