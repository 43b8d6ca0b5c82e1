package hub

import (
	"context"
	"errors"
	"iter"
	"time"
)

// DefaultDuplicateWindow is how long after appending an update a log
// answers a retry of it with the first (see Log.Append), when
// its options leave the window zero. Two minutes covers a publisher's
// retries after timeouts; it is also JetStream's default.
const DefaultDuplicateWindow = 2 * time.Minute

// ErrNotFound is returned by Log.Find for an ID the log does not hold: one it
// never saw, or one that retention has already removed.
var ErrNotFound = errors.New("hub: update not in the log")

// ErrCorrupt is wrapped by a Log's errors for stored data it cannot decode
// or read back at all: damage that retrying does not cure. A Hub that meets
// it while replaying history refuses history from then on (see
// [Hub.HistoryErr]).
var ErrCorrupt = errors.New("hub: corrupt log")

// ErrHistoryUnavailable is wrapped by Subscribe's error for a subscription
// asking for history while [Hub.HistoryErr] reports the log's history
// unreadable.
var ErrHistoryUnavailable = errors.New("hub: history unavailable")

// ErrClosed is returned by operations on a closed Log or Hub.
var ErrClosed = errors.New("hub: closed")

// Log is the ordered record of updates that the hub fans out from and
// replays history from. Implementations: MemoryLog in this package, and
// durable ones in the bolt, redis and jetstream packages.
//
// Every method is safe for concurrent use. The log is totally ordered by
// Update.Seq, and all readers of one log, on any node, see the same order.
type Log interface {
	// Append adds u at the end of the log and returns once u is stored as
	// durably as the implementation promises (a durable log returns after
	// its commit is on disk). It sets u.Seq and u.Time. u.ID is non-empty.
	// Concurrent appends may share one commit.
	//
	// Append is idempotent within the log's duplicate window (by default
	// DefaultDuplicateWindow) for a retry: an append whose ID and content
	// (everything RetryKey covers: Topics, Type, Data, Retry, Private; not
	// Seq or Time) equal the update the log keeps with that ID, appended
	// less than the window ago. Append then stores nothing and sets u.Seq
	// and u.Time to that update's. So a publisher that retries after a
	// timeout is stored once, whichever node it retries on. A log may also
	// answer so for an update that retention has removed within the window
	// (JetStream does; u.Time is then the time of the call). An update that
	// reuses the ID with different content, or after the window, is a new
	// update: stored and delivered, as Mercure 1.0 (Reconnection) requires
	// of later updates carrying a reused ID. A log may compare a retry with
	// the newest copy of its ID only (MemoryLog, bolt and redis do), so a
	// retry of an earlier copy of an ID reused since is stored again.
	Append(ctx context.Context, u *Update) error

	// Find returns the Seq of the earliest update with the given ID, or an
	// error wrapping ErrNotFound. An ID reused by later updates resolves to
	// its first copy (as Mercure specifies), so a publisher cannot move
	// where another topic's subscribers resume by republishing their ID.
	// Once retention has removed that first copy, Find returns ErrNotFound
	// until no copy is kept, even while later copies are: the subscriber
	// may have been at the removed one, and replaying everything kept,
	// which is what the hub does for an unknown ID, loses nothing.
	Find(ctx context.Context, id string) (uint64, error)

	// Read yields, in order, the updates kept with Seq > after, up to at
	// least the end of the log as it was when Read was called, and then
	// stops. After 0 reads from the oldest update kept. A failure is yielded
	// as the final element.
	Read(ctx context.Context, after uint64) iter.Seq2[*Update, error]

	// Follow yields, in order, every update with Seq > after, waiting for
	// new ones as they are appended (by this process or, for a shared log,
	// any other). It ends without error when ctx is done; a failure is
	// yielded as the final element, and the caller may Follow again from
	// the last Seq it received.
	Follow(ctx context.Context, after uint64) iter.Seq2[*Update, error]

	// Last returns the Seq of the newest update, 0 for an empty log.
	Last(ctx context.Context) (uint64, error)

	// Close releases the log. Operations after Close return ErrClosed.
	Close() error
}
