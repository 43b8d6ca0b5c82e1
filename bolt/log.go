// Package bolt implements hub.Log on a bbolt file, for a single hub process
// that needs its history to survive restarts.
//
// Appends are durable: Append returns only after the transaction holding the
// update has been committed with fsync. Concurrent appends are group
// committed: a single committer goroutine takes every append queued while
// the previous commit was in flight and stores them in one transaction, so
// throughput grows with load while a lone append waits for one commit only.
//
// The file holds two buckets: "updates" maps the 8-byte big-endian Seq to
// the encoded update, and "ids" maps an update's ID to the Seq of the first
// (and, once reused, the last) update with that ID. Seq comes from the
// updates bucket's sequence, which is stored in the file and never goes
// back, so a Seq is never reused, even after a restart and after retention
// has removed every update.
//
// Open checks the file before using it (see Options.SkipCheck); a record
// that does not decode later, or page damage that makes bbolt panic, is an
// error wrapping ErrCorrupt (and hub.ErrCorrupt), reported by Health from
// then on, never a panic.
package bolt

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/ssehub/ssehub/hub"
)

// DefaultMaxLen is the number of updates kept when Options.MaxLen is 0.
const DefaultMaxLen = 100_000

// Options configures a Log. The zero value keeps the newest DefaultMaxLen
// updates with no age limit and group commits appends.
type Options struct {
	// MaxLen is the most updates kept; older ones are removed as new ones
	// are appended. 0 means DefaultMaxLen.
	MaxLen int
	// MaxAge, when positive, removes updates older than this, both as new
	// ones are appended and by a periodic sweep while the log is idle.
	MaxAge time.Duration
	// DuplicateWindow is how long an appended update's ID answers a second
	// append of it as a duplicate (see hub.Log's Append) while the update
	// is kept; 0 means hub.DefaultDuplicateWindow, negative turns that off.
	DuplicateWindow time.Duration
	// NoGroupCommit gives every Append its own transaction and fsync. It is
	// slower under concurrency and exists as a baseline for comparison.
	NoGroupCommit bool
	// Logger receives commit failures and retention activity; nil means
	// slog.Default().
	Logger *slog.Logger

	// SkipCheck opens the file without the consistency check. By default
	// Open checks the file before using it and refuses a corrupt one with
	// an error wrapping ErrCorruptFile that names it; a corrupt record
	// found later is reported by Read, Follow and Health all the same.
	SkipCheck bool
	// CheckTimeout bounds the part of the check that reads every record:
	// records past it are checked as they are read. 0 means
	// DefaultCheckTimeout.
	CheckTimeout time.Duration
}

var (
	bucketUpdates = []byte("updates")
	bucketIDs     = []byte("ids")
)

const (
	// openTimeout bounds the wait for bbolt's file lock, so a second process
	// opening the same file fails instead of hanging.
	openTimeout = 5 * time.Second
	// maxBatch bounds one group commit's transaction; the rest of the queue
	// goes in the next one.
	maxBatch = 4096
	// trimPerTx bounds how many old updates one transaction removes beyond
	// the ones its own appends displace, so a large backlog (after lowering
	// MaxLen, or a long idle period with MaxAge) is worked off over several
	// transactions instead of stalling a publish.
	trimPerTx = 1024
	// readChunk is how many updates Read and Follow take per read
	// transaction. They never hold a transaction while yielding: a long
	// read transaction would keep bbolt from reusing freed pages and block
	// Close.
	readChunk = 256
)

// Log is a hub.Log stored in a bbolt file. Its methods are safe for
// concurrent use.
type Log struct {
	db     *bbolt.DB
	path   string
	maxLen uint64
	maxAge time.Duration
	window time.Duration // the duplicate window; 0 for none
	batch  int           // most appends per transaction
	logger *slog.Logger

	mu     sync.Mutex
	queue  []*appendReq
	closed bool

	wake    chan struct{} // buffered(1): the queue is not empty
	done    chan struct{} // closed by Close
	stopped chan struct{} // closed when the committer has exited

	// last is the Seq of the newest committed update. It is stored after
	// the commit and before waiters and followers are told, so anyone
	// reading it sees every acknowledged append.
	last atomic.Uint64

	notifyMu sync.Mutex
	notify   chan struct{} // closed and replaced after every commit

	recent recent // the newest committed updates, for followers

	// For Health: the first corruption found, and the last commit's
	// failure until a commit succeeds.
	corrupt   atomic.Pointer[error]
	commitErr atomic.Pointer[error]

	// Counters, for tests and the benchmark.
	commits atomic.Uint64 // append transactions committed
	appends atomic.Uint64 // appends committed
	visited atomic.Uint64 // records Read and Follow looked at
}

var _ hub.Log = (*Log)(nil)

// Open opens or creates the log file at path and starts its committer. The
// caller must Close the log.
func Open(path string, opts Options) (*Log, error) {
	if opts.MaxLen < 0 {
		return nil, fmt.Errorf("bolt: Options.MaxLen %d is negative", opts.MaxLen)
	}
	if opts.MaxAge < 0 {
		return nil, fmt.Errorf("bolt: Options.MaxAge %v is negative", opts.MaxAge)
	}
	l := &Log{
		path:    path,
		maxLen:  DefaultMaxLen,
		maxAge:  opts.MaxAge,
		window:  max(cmp.Or(opts.DuplicateWindow, hub.DefaultDuplicateWindow), 0),
		batch:   maxBatch,
		logger:  opts.Logger,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
		notify:  make(chan struct{}),
	}
	if opts.MaxLen > 0 {
		l.maxLen = uint64(opts.MaxLen)
	}
	l.recent.limit = int(min(l.maxLen, maxRecent))
	if opts.NoGroupCommit {
		l.batch = 1
	}
	if l.logger == nil {
		l.logger = slog.Default()
	}
	db, err := openDB(path)
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			err = fmt.Errorf("%w: %w", ErrCorruptFile, err)
		}
		return nil, fmt.Errorf("bolt: open %s: %w%s", path, err, corruptAdvice(err))
	}
	if !opts.SkipCheck {
		timeout := opts.CheckTimeout
		if timeout <= 0 {
			timeout = DefaultCheckTimeout
		}
		if err := checkFile(db, path, timeout, l.logger); err != nil {
			db.Close()
			return nil, fmt.Errorf("bolt: open %s: %w%s", path, err, corruptAdvice(err))
		}
	}
	var lastTime int64
	l.db = db
	err = l.update(func(tx *bbolt.Tx) error {
		ub, err := tx.CreateBucketIfNotExists(bucketUpdates)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketIDs); err != nil {
			return err
		}
		l.last.Store(ub.Sequence())
		if _, v := ub.Cursor().Last(); v != nil {
			// A corrupt newest record only loses the monotonic time
			// floor; Read reports the corruption itself.
			lastTime, _ = recordTime(v)
		}
		return nil
	})
	if err != nil {
		db.Close()
		if errors.Is(err, ErrCorrupt) {
			err = fmt.Errorf("%w: %w", ErrCorruptFile, err)
		}
		return nil, fmt.Errorf("bolt: open %s: %w%s", path, err, corruptAdvice(err))
	}
	go l.run(lastTime)
	return l, nil
}

// openDB opens the bbolt file, turning a panic of bbolt's on a damaged
// file (an invalid freelist page) into an error wrapping ErrCorrupt.
func openDB(path string) (db *bbolt.DB, err error) {
	defer recoverCorrupt(&err)
	db, err = bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout: openTimeout,
		// The hashmap freelist keeps allocation fast when trimming leaves
		// many free pages behind.
		FreelistType: bbolt.FreelistMapType,
	})
	if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) {
		err = fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return db, err
}

// corruptAdvice says what to do about a corrupt file, for Open's error.
func corruptAdvice(err error) string {
	if !errors.Is(err, ErrCorruptFile) {
		return ""
	}
	return ": restore the file from a backup, or move it aside to start with an empty history; Options.SkipCheck (ssehub --skip-check) opens it anyway, and corrupt records then fail the reads that reach them"
}

// Find returns the Seq of the earliest update with the given ID, as
// [hub.Log] specifies, or an error wrapping hub.ErrNotFound.
func (l *Log) Find(ctx context.Context, id string) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if l.isClosed() {
		return 0, hub.ErrClosed
	}
	var seq uint64
	cutoff := l.cutoff()
	err := l.view(func(tx *bbolt.Tx) error {
		first, _ := indexSpan(tx.Bucket(bucketIDs).Get([]byte(id)))
		if first == 0 {
			return nil
		}
		k := binary.BigEndian.AppendUint64(nil, first)
		// The index entry is updated with the update it points to; the
		// check guards against an index left stale by a corrupt record.
		v := tx.Bucket(bucketUpdates).Get(k)
		if v == nil {
			return nil
		}
		// An update past MaxAge is gone even if retention has not yet
		// removed it.
		if t, err := recordTime(v); err == nil && t < cutoff {
			return nil
		}
		seq = first
		return nil
	})
	if err != nil {
		return 0, l.noteFailure("find", l.wrap("find", err))
	}
	if seq == 0 {
		return 0, fmt.Errorf("bolt: find %q: %w", id, hub.ErrNotFound)
	}
	return seq, nil
}

// Last returns the Seq of the newest update appended, 0 if none ever was.
// It keeps returning that Seq after retention has removed the update, so
// that Follow(Last()) waits for new updates rather than replaying.
func (l *Log) Last(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if l.isClosed() {
		return 0, hub.ErrClosed
	}
	return l.last.Load(), nil
}

// Len returns how many updates the file holds, for dashboards. It counts
// updates past MaxAge that the periodic sweep has not removed yet (for at
// most MaxAge/8, capped at a minute), which Find and Read already hide.
func (l *Log) Len(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if l.isClosed() {
		return 0, hub.ErrClosed
	}
	var n uint64
	err := l.view(func(tx *bbolt.Tx) error {
		ub := tx.Bucket(bucketUpdates)
		k, _ := ub.Cursor().First()
		if k == nil {
			return nil
		}
		if len(k) != 8 {
			return fmt.Errorf("key %x: %w: key is not 8 bytes", k, ErrCorrupt)
		}
		// Seqs are contiguous: every Seq taken from the sequence is stored
		// in the same transaction, and retention removes only the oldest.
		n = ub.Sequence() - binary.BigEndian.Uint64(k) + 1
		return nil
	})
	if err != nil {
		return 0, l.noteFailure("len", l.wrap("len", err))
	}
	return int(n), nil
}

// Close stops the committer and closes the file. An append whose
// transaction is in flight completes first; appends still queued are either
// committed or fail with hub.ErrClosed, never left waiting. Followers end
// with hub.ErrClosed. Operations after Close return hub.ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return hub.ErrClosed
	}
	l.closed = true
	close(l.done)
	l.mu.Unlock()
	<-l.stopped
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("bolt: close: %w", err)
	}
	return nil
}

func (l *Log) isClosed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// wrap turns bbolt's "not open" into hub.ErrClosed and names the operation.
func (l *Log) wrap(op string, err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return hub.ErrClosed
	}
	return fmt.Errorf("bolt: %s: %w", op, err)
}

// cutoff returns the time, in Unix nanoseconds, before which updates are
// past MaxAge.
func (l *Log) cutoff() int64 {
	if l.maxAge <= 0 {
		return math.MinInt64
	}
	return time.Now().UnixNano() - int64(l.maxAge)
}

// changed returns a channel that is closed after the next commit.
func (l *Log) changed() <-chan struct{} {
	l.notifyMu.Lock()
	defer l.notifyMu.Unlock()
	return l.notify
}

func (l *Log) broadcast() {
	l.notifyMu.Lock()
	close(l.notify)
	l.notify = make(chan struct{})
	l.notifyMu.Unlock()
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}
