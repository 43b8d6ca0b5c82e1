// Package redis implements hub.Log on a Redis Stream, so that several hub
// processes ("nodes") sharing one Redis serve the same updates in the same
// order, and a subscriber can resume on any node from an event ID it
// received from another.
//
// A log with prefix P uses three keys, all with the hash tag {P} so that
// they live in one slot on a Redis Cluster:
//
//	{P}:updates  the stream; the update with Seq n is the entry "n-0"
//	{P}:head     a hash: "seq", the last Seq handed out, which never goes
//	             back, and "time", the last append's time
//	{P}:ids      a hash from update ID to the Seq of its newest update
//
// Appends, lookups and retention run as Lua scripts, so each is one round
// trip and atomic across nodes. The entry's time is the Redis server's
// clock, not the node's, so age retention means the same on every node.
// Retention removes the oldest entries beyond MaxLen or older than MaxAge
// together with their ID index entries; see scripts.go for how.
//
// Requirements: Redis 6.2 or later (XTRIM MINID, exclusive XRANGE), and a
// maxmemory-policy of noeviction for these keys: an evicted {P}:head would
// hand out Seqs again, which the stream rejects, so appends would fail.
// Appends are as durable as the server's persistence settings make them.
package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
)

// ErrUnavailable is wrapped by the error of any operation that could not
// reach Redis or that Redis could not serve for now (loading, busy,
// read-only). An Append that fails with it may or may not have been stored;
// the caller must not report it as stored, and may retry it with the same
// ID: within the duplicate window the retry is stored once.
var ErrUnavailable = errors.New("redis: server unavailable")

// DefaultPrefix is the key prefix used when Options.Prefix is empty.
const DefaultPrefix = "ssehub"

// DefaultMaxLen is the number of updates kept when Options.MaxLen is 0.
const DefaultMaxLen = 100_000

const (
	// trimBatch bounds how many entries one script call removes, so a large
	// backlog (after lowering MaxLen, or a long idle spell with MaxAge) is
	// worked off over several calls instead of blocking Redis, which runs
	// scripts one at a time.
	trimBatch = 1000
	// readPage is the COUNT of Read's XRANGE calls and Follow's XREADs.
	readPage = 512
	// followBlock is how long one XREAD waits for new entries. Ending a
	// Follow does not wait for it: its connection is closed instead.
	followBlock = 5 * time.Second

	// Network timeouts used unless the URL sets them. They bound how long
	// an operation takes to fail with ErrUnavailable when Redis is down.
	defaultDialTimeout = 2 * time.Second
	defaultIOTimeout   = 3 * time.Second
)

// Options configures a Log. The zero value keeps the newest DefaultMaxLen
// updates under the prefix DefaultPrefix, with no age limit.
type Options struct {
	// Prefix names the log's keys; logs with different prefixes share a
	// Redis without seeing each other. It must not contain '{' or '}'.
	Prefix string
	// MaxLen is the most updates kept; the oldest are removed as new ones
	// are appended. 0 means DefaultMaxLen.
	MaxLen int
	// MaxAge, when positive, removes updates appended longer ago than this
	// (by the Redis server's clock). Precision is one microsecond.
	MaxAge time.Duration
	// DuplicateWindow is how long an appended update's ID answers a second
	// append of it as a duplicate (see hub.Log's Append) while the update
	// is kept, by the Redis server's clock; 0 means
	// hub.DefaultDuplicateWindow, negative turns that off. Precision is one
	// microsecond.
	DuplicateWindow time.Duration
	// Logger receives errors of the background retention sweep; nil
	// means slog.Default().
	Logger *slog.Logger
}

// Log is a hub.Log on a Redis Stream. Its methods are safe for concurrent
// use, and any number of Logs, in any number of processes, may share one
// stream.
type Log struct {
	conn   *conn           // shared with the logs opened by Sibling
	client *goredis.Client // conn.client
	// The log's keys (see the package doc), and the three as the KEYS of
	// every script, in this order.
	stream, head, ids string
	scriptKeys        []string
	maxLen            int
	maxAgeUs          int64
	windowUs          int64 // the duplicate window; 0 for none
	logger            *slog.Logger

	// ctx is cancelled by Close; it ends the sweeper and every Follow.
	ctx    context.Context
	cancel context.CancelFunc
	swept  chan struct{} // closed when the sweeper has returned

	// The highest Seq and latest time (µs) this Log has seen, from any
	// node: floors for the append script, see appendScript.
	seenSeq  atomic.Uint64
	seenTime atomic.Int64

	mu     sync.Mutex
	closed bool
}

var _ hub.Log = (*Log)(nil)

// Open connects to the Redis at url, "redis://[[user]:password@]host:port/db"
// or "rediss://..." for TLS (see go-redis's ParseURL for the query options),
// and checks that it answers. The caller must Close the log. Further logs
// on the same Redis can share its connections: see Sibling.
//
// Retries of failed commands are disabled whatever the URL says: the
// caller decides whether to retry an append that may have reached Redis
// (within the duplicate window, that is safe).
func Open(ctx context.Context, url string, opts Options) (*Log, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	copts, err := clientOptions(url)
	if err != nil {
		return nil, err
	}
	c := &conn{url: url, client: goredis.NewClient(copts)}
	c.refs.Store(1)
	return open(ctx, c, opts)
}

// validate reports the first field of o that Open would reject.
func (o Options) validate() error {
	if o.MaxLen < 0 {
		return fmt.Errorf("redis: Options.MaxLen %d is negative", o.MaxLen)
	}
	if o.MaxAge < 0 {
		return fmt.Errorf("redis: Options.MaxAge %v is negative", o.MaxAge)
	}
	if o.MaxAge > 0 && o.MaxAge < time.Microsecond {
		return fmt.Errorf("redis: Options.MaxAge %v is below one microsecond", o.MaxAge)
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		return fmt.Errorf("redis: Options.Prefix %q contains '{' or '}'", o.Prefix)
	}
	return nil
}

// open returns a log configured by opts on c, once Redis answers on it.
// The caller holds a reference to c for the log, which open releases if
// it fails.
func open(ctx context.Context, c *conn, opts Options) (*Log, error) {
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	tag := "{" + prefix + "}:"
	l := &Log{
		conn:     c,
		client:   c.client,
		stream:   tag + "updates",
		head:     tag + "head",
		ids:      tag + "ids",
		maxLen:   DefaultMaxLen,
		maxAgeUs: opts.MaxAge.Microseconds(),
		windowUs: max(cmp.Or(opts.DuplicateWindow, hub.DefaultDuplicateWindow), 0).Microseconds(),
		logger:   opts.Logger,
		swept:    make(chan struct{}),
	}
	l.scriptKeys = []string{l.stream, l.head, l.ids}
	if opts.MaxLen > 0 {
		l.maxLen = opts.MaxLen
	}
	if l.logger == nil {
		l.logger = slog.Default()
	}
	if err := l.client.Ping(ctx).Err(); err != nil {
		c.release()
		return nil, classifyRedisError("open "+l.client.Options().Addr, err)
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	go l.sweep(opts.MaxAge)
	return l, nil
}

// clientOptions parses url and applies this package's defaults.
func clientOptions(url string) (*goredis.Options, error) {
	o, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis: bad URL %q: %w", url, err)
	}
	o.MaxRetries = -1
	// Let a context deadline bound a command's I/O, not just its wait for
	// a connection.
	o.ContextTimeoutEnabled = true
	if o.DialTimeout == 0 {
		o.DialTimeout = defaultDialTimeout
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = defaultIOTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = defaultIOTimeout
	}
	if o.DialerRetries == 0 {
		// go-redis tries 5 times, 100 ms apart; failing over to the
		// caller's own retry (the hub's follower, a publisher) is faster.
		o.DialerRetries = 2
	}
	return o, nil
}

// Append stores u at the end of the stream and sets u.Seq and u.Time. It
// returns once Redis has executed the append. An error wrapping
// ErrUnavailable, or ctx's error, means it cannot tell whether Redis did:
// the update may still appear in the log, and a retry with the same ID
// within the duplicate window is answered with it instead of storing it
// twice.
func (l *Log) Append(ctx context.Context, u *hub.Update) error {
	if err := l.check(ctx); err != nil {
		return err
	}
	args := make([]any, 0, 16)
	args = append(args, l.maxLen, l.maxAgeUs, trimBatch, u.ID, l.seenSeq.Load(), l.seenTime.Load(), l.windowUs)
	args = appendFields(args, u)
	res, err := appendScript.Run(ctx, l.client, l.scriptKeys, args...).StringSlice()
	if err != nil {
		return classifyRedisError("append", err)
	}
	seq, us, err := parseSeqTime(res)
	if err != nil {
		return fmt.Errorf("redis: append: %w", err)
	}
	if res[2] == "1" {
		l.logger.Warn("redis: the log's counter was behind this node (Redis lost its data?); Seq continues after the last one seen",
			"key", l.head, "seq", seq)
	}
	l.observe(seq, us)
	u.Seq, u.Time = seq, time.UnixMicro(us)
	return nil
}

// observe raises the floors passed to the append script.
func (l *Log) observe(seq uint64, us int64) {
	for old := l.seenSeq.Load(); seq > old && !l.seenSeq.CompareAndSwap(old, seq); old = l.seenSeq.Load() {
	}
	for old := l.seenTime.Load(); us > old && !l.seenTime.CompareAndSwap(old, us); old = l.seenTime.Load() {
	}
}

func parseSeqTime(res []string) (uint64, int64, error) {
	if len(res) != 4 {
		return 0, 0, fmt.Errorf("script returned %d values, want 4", len(res))
	}
	seq, err := strconv.ParseUint(res[0], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("script returned Seq %q: %w", res[0], err)
	}
	us, err := strconv.ParseInt(res[1], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("script returned time %q: %w", res[1], err)
	}
	return seq, us, nil
}

// Find returns the Seq of the earliest update with the given ID, as
// [hub.Log] specifies, whichever node appended it, or an error wrapping
// hub.ErrNotFound.
func (l *Log) Find(ctx context.Context, id string) (uint64, error) {
	if err := l.check(ctx); err != nil {
		return 0, err
	}
	s, err := findScript.Run(ctx, l.client, l.scriptKeys, id, l.maxAgeUs).Text()
	if errors.Is(err, goredis.Nil) {
		return 0, fmt.Errorf("redis: find %q: %w", id, hub.ErrNotFound)
	}
	if err != nil {
		return 0, classifyRedisError("find", err)
	}
	seq, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redis: find %q: index holds Seq %q: %w", id, s, ErrCorrupt)
	}
	return seq, nil
}

// Last returns the Seq of the newest update appended by any node, 0 if none
// ever was. Retention does not lower it.
func (l *Log) Last(ctx context.Context) (uint64, error) {
	if err := l.check(ctx); err != nil {
		return 0, err
	}
	s, err := l.client.HGet(ctx, l.head, "seq").Result()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, classifyRedisError("last", err)
	}
	seq, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redis: last: %s seq holds %q: %w", l.head, s, ErrCorrupt)
	}
	l.observe(seq, 0)
	return seq, nil
}

// Len returns how many updates the log keeps, after applying retention.
func (l *Log) Len(ctx context.Context) (int, error) {
	if err := l.check(ctx); err != nil {
		return 0, err
	}
	st, err := l.begin(ctx)
	if err != nil {
		return 0, classifyRedisError("len", err)
	}
	return st.n, nil
}

// Close stops the retention sweep, ends every Follow with hub.ErrClosed
// and closes the connections, unless another log opened by Sibling still
// shares them: the last of those to close closes them. It leaves the
// stream in Redis. Closing a closed log returns hub.ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return hub.ErrClosed
	}
	l.closed = true
	l.mu.Unlock()
	l.cancel()
	<-l.swept
	if err := l.conn.release(); err != nil {
		return fmt.Errorf("redis: close: %w", err)
	}
	return nil
}

// check returns ctx's error, or hub.ErrClosed after Close.
func (l *Log) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.ctx.Err() != nil {
		return hub.ErrClosed
	}
	return nil
}

// state is what beginScript reports.
type state struct {
	last    uint64
	n       int
	minTime int64 // entries older than this (µs) are expired; 0 for none
}

// begin applies retention and returns the log's state.
func (l *Log) begin(ctx context.Context) (state, error) {
	res, err := beginScript.Run(ctx, l.client, l.scriptKeys, l.maxLen, l.maxAgeUs, trimBatch).StringSlice()
	if err != nil {
		return state{}, err
	}
	if len(res) != 3 {
		return state{}, fmt.Errorf("script returned %d values, want 3", len(res))
	}
	var st state
	var errs [3]error
	st.last, errs[0] = strconv.ParseUint(res[0], 10, 64)
	st.n, errs[1] = strconv.Atoi(res[1])
	st.minTime, errs[2] = strconv.ParseInt(res[2], 10, 64)
	if err := errors.Join(errs[:]...); err != nil {
		return state{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	l.observe(st.last, 0)
	return st, nil
}

// sweep applies age retention periodically, so an idle log does not keep
// expired updates in Redis memory. Every node sweeps; the script makes
// concurrent sweeps harmless.
func (l *Log) sweep(maxAge time.Duration) {
	defer close(l.swept)
	if maxAge <= 0 {
		return
	}
	t := time.NewTicker(min(max(maxAge/2, time.Second), time.Minute))
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
		}
		if _, err := l.begin(l.ctx); err != nil && l.ctx.Err() == nil {
			l.logger.Warn("redis: retention sweep failed", "err", err)
		}
	}
}

// classifyRedisError wraps an error from go-redis for the operation op:
// failures to reach or be served by Redis wrap ErrUnavailable, a closed
// client is hub.ErrClosed and context errors are kept as they are.
func classifyRedisError(op string, err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("redis: %s: %w", op, err)
	case errors.Is(err, goredis.ErrClosed):
		return hub.ErrClosed
	}
	var rerr goredis.Error
	if errors.As(err, &rerr) && !transient(rerr.Error()) {
		// Redis answered, and the answer is an error: retrying will not help.
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	return fmt.Errorf("redis: %s: %w: %w", op, ErrUnavailable, err)
}

// transient reports whether a Redis error reply means the server cannot
// serve the command for now, rather than that the command is wrong.
func transient(msg string) bool {
	code, _, _ := strings.Cut(msg, " ")
	switch code {
	case "LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "READONLY", "NOREPLICAS":
		return true
	}
	return false
}
