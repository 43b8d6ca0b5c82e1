package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
)

// Presence is a hub.Presence in the Redis of a Log: every node sharing the
// log lists the subscriptions of every live node. A node's subscriptions
// are the hash {P}:presence:<node>, each value the Redis server's time of
// the Join and the entry in JSON, and {P}:nodes is a sorted set of the
// nodes by their last heartbeat, in the Redis server's clock: nodes'
// clocks are never read, so their skew does not matter.
type Presence struct {
	l     *Log
	node  string
	ttl   time.Duration
	nodes string // the sorted set of nodes
	own   string // this node's hash

	stop func() // stops the heartbeat
}

var _ hub.Presence = (*Presence)(nil)

// Presence starts this node's presence on the log's Redis: it writes the
// node's first heartbeat, so that its subscriptions are reaped should it
// die at once, and renews it every ttl/3 until Close. ttl 0 means
// hub.DefaultPresenceTTL. The node gets a new random name, so a restarted
// hub is a new node and its predecessor is reaped.
func (l *Log) Presence(ctx context.Context, ttl time.Duration) (*Presence, error) {
	if ttl <= 0 {
		ttl = hub.DefaultPresenceTTL
	}
	tag := l.stream[:len(l.stream)-len("updates")]
	p := &Presence{
		l:     l,
		node:  uuid.NewString(),
		ttl:   ttl,
		nodes: tag + "nodes",
	}
	p.own = tag + "presence:" + p.node
	if err := p.beat(ctx); err != nil {
		return nil, classifyRedisError("presence heartbeat", err)
	}
	p.stop = hub.StartHeartbeat(l.ctx, ttl/3, p.beat, func(err error) {
		p.l.logger.Warn("redis: presence heartbeat failed", "node", p.node, "err", err)
	})
	return p, nil
}

// Node returns this node's name.
func (p *Presence) Node() string { return p.node }

// beat renews this node's heartbeat.
func (p *Presence) beat(ctx context.Context) error {
	return heartbeatScript.Run(ctx, p.l.client, []string{p.nodes}, p.node).Err()
}

// Join records e as one of this node's subscriptions, since the Redis
// server's time.
func (p *Presence) Join(ctx context.Context, e hub.PresenceEntry) error {
	e.Node, e.Since = p.node, time.Time{}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("redis: presence: %w", err)
	}
	if err := joinScript.Run(ctx, p.l.client, []string{p.own}, e.Subscriber, b).Err(); err != nil {
		return classifyRedisError("presence join", err)
	}
	return nil
}

// Leave removes one of this node's subscriptions.
func (p *Presence) Leave(ctx context.Context, subscriber string) error {
	if err := p.l.client.HDel(ctx, p.own, subscriber).Err(); err != nil {
		return classifyRedisError("presence leave", err)
	}
	return nil
}

// List returns the subscriptions of the nodes whose heartbeat is younger
// than the TTL.
func (p *Presence) List(ctx context.Context) ([]hub.PresenceEntry, error) {
	nodes, err := nodesScript.Run(ctx, p.l.client, []string{p.nodes}, p.ttl.Milliseconds(), 1).StringSlice()
	if err != nil {
		return nil, classifyRedisError("presence list", err)
	}
	cmds := make([]*goredis.StringSliceCmd, len(nodes))
	_, err = p.l.client.Pipelined(ctx, func(pipe goredis.Pipeliner) error {
		for i, n := range nodes {
			cmds[i] = pipe.HVals(ctx, p.hash(n))
		}
		return nil
	})
	if err != nil {
		return nil, classifyRedisError("presence list", err)
	}
	var out []hub.PresenceEntry
	for _, c := range cmds {
		es, err := decodeEntries(c.Val())
		if err != nil {
			return nil, err
		}
		out = append(out, es...)
	}
	return out, nil
}

// Reap removes the subscriptions of the nodes whose heartbeat is older than
// the TTL and returns them. A script claims each dead node atomically, so
// of concurrent reapers one gets its subscriptions.
func (p *Presence) Reap(ctx context.Context) ([]hub.PresenceEntry, error) {
	dead, err := nodesScript.Run(ctx, p.l.client, []string{p.nodes}, p.ttl.Milliseconds(), 0).StringSlice()
	if err != nil {
		return nil, classifyRedisError("presence reap", err)
	}
	var out []hub.PresenceEntry
	for _, n := range dead {
		if n == p.node {
			continue // late heartbeats of a live process; others may reap it
		}
		vals, err := reapScript.Run(ctx, p.l.client, []string{p.nodes, p.hash(n)}, n, p.ttl.Milliseconds()).StringSlice()
		if err != nil {
			return out, classifyRedisError("presence reap", err)
		}
		es, err := decodeEntries(vals)
		if err != nil {
			return out, err
		}
		out = append(out, es...)
	}
	return out, nil
}

// Close stops the heartbeat and removes this node and its subscriptions,
// whose ends the node announces itself.
func (p *Presence) Close() error {
	p.stop()
	if p.l.ctx.Err() != nil {
		return hub.ErrClosed
	}
	ctx, cancel := context.WithTimeout(context.Background(), defaultIOTimeout)
	defer cancel()
	_, err := p.l.client.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
		pipe.ZRem(ctx, p.nodes, p.node)
		pipe.Del(ctx, p.own)
		return nil
	})
	if err != nil {
		return classifyRedisError("presence close", err)
	}
	return nil
}

func (p *Presence) hash(node string) string {
	return p.own[:len(p.own)-len(p.node)] + node
}

// decodeEntries decodes the values of presence hashes: the seconds and
// microseconds of the server's time at the Join, and the entry in JSON,
// separated by spaces.
func decodeEntries(vals []string) ([]hub.PresenceEntry, error) {
	out := make([]hub.PresenceEntry, 0, len(vals))
	for _, v := range vals {
		var e hub.PresenceEntry
		if strings.HasPrefix(v, "{") {
			// The JSON alone, with the node's Since, as nodes of an
			// earlier version still write it during a rolling upgrade.
			if err := json.Unmarshal([]byte(v), &e); err != nil {
				return nil, fmt.Errorf("redis: presence entry %.40q: %w: %v", v, ErrCorrupt, err)
			}
			out = append(out, e)
			continue
		}
		f := strings.SplitN(v, " ", 3)
		var sec, usec int64
		var err error
		if len(f) != 3 {
			err = errors.New("no time")
		} else if sec, err = strconv.ParseInt(f[0], 10, 64); err == nil {
			if usec, err = strconv.ParseInt(f[1], 10, 64); err == nil {
				err = json.Unmarshal([]byte(f[2]), &e)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("redis: presence entry %.40q: %w: %v", v, ErrCorrupt, err)
		}
		e.Since = time.Unix(sec, usec*1000)
		out = append(out, e)
	}
	return out, nil
}

// joinScript sets the field ARGV[1] of the hash KEYS[1] to the server's
// time, in seconds and microseconds, and ARGV[2], separated by spaces.
var joinScript = goredis.NewScript(`
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], ARGV[1], t[1] .. ' ' .. t[2] .. ' ' .. ARGV[2])
return 1
`)

// heartbeatScript sets ARGV[1]'s heartbeat in the sorted set KEYS[1] to
// the server's time in milliseconds.
var heartbeatScript = goredis.NewScript(`
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], t[1] * 1000 + math.floor(t[2] / 1000), ARGV[1])
return 1
`)

// nodesScript lists the nodes in KEYS[1] whose heartbeat is younger than
// ARGV[1] ms (ARGV[2] "1") or older (ARGV[2] "0"), by the server's time.
var nodesScript = goredis.NewScript(`
local t = redis.call('TIME')
local cut = t[1] * 1000 + math.floor(t[2] / 1000) - tonumber(ARGV[1])
if ARGV[2] == '1' then
  return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. cut, '+inf')
end
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cut)
`)

// reapScript claims the dead node ARGV[1]: if its heartbeat in KEYS[1] is
// still older than ARGV[2] ms, it removes the node and its hash KEYS[2]
// and returns the hash's values; otherwise (another reaper was first, or
// the node came back) nothing.
var reapScript = goredis.NewScript(`
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s then return {} end
local t = redis.call('TIME')
if tonumber(s) > t[1] * 1000 + math.floor(t[2] / 1000) - tonumber(ARGV[2]) then return {} end
redis.call('ZREM', KEYS[1], ARGV[1])
local vals = redis.call('HVALS', KEYS[2])
redis.call('DEL', KEYS[2])
return vals
`)
