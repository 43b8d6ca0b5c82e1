package bolt

import (
	"sync"

	"github.com/ssehub/ssehub/hub"
)

const (
	// maxRecent bounds how many of the newest updates the log keeps in
	// memory for its followers (and never more than MaxLen, so that every
	// update held is one retention has kept on disk too).
	maxRecent = maxBatch
	// maxRecentBytes bounds the payload bytes those updates hold.
	maxRecentBytes = 4 << 20
)

// recent holds the newest committed updates in memory. A follower is woken
// right after each commit and asks for the updates after the last one it
// has: handing it the committer's own copies spares a read transaction per
// commit and a decoding and five or so allocations per update. A follower
// further behind than the window reads the file as before. The updates
// held are shared by every follower and must not be modified.
type recent struct {
	mu    sync.Mutex
	ups   []*hub.Update // ups[head:] are held; Seqs contiguous, oldest first
	head  int
	bytes int // size of ups[head:]
	limit int // most updates held
}

// add appends the updates of one commit, whose Seqs follow on from those
// held, and drops the oldest beyond the limits.
func (r *recent) add(ups []*hub.Update) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if held := r.ups[r.head:]; len(held) > 0 && len(ups) > 0 && ups[0].Seq != held[len(held)-1].Seq+1 {
		// Not contiguous: cannot happen while this process is the file's
		// only writer, but a gap must never be papered over.
		r.reset()
	}
	for _, u := range ups {
		r.ups = append(r.ups, u)
		r.bytes += updateSize(u)
	}
	for held := len(r.ups) - r.head; held > 0 && (held > r.limit || r.bytes > maxRecentBytes); held-- {
		r.bytes -= updateSize(r.ups[r.head])
		r.ups[r.head] = nil
		r.head++
	}
	if r.head > len(r.ups)/2 {
		n := copy(r.ups, r.ups[r.head:])
		clear(r.ups[n:])
		r.ups, r.head = r.ups[:n], 0
	}
}

// reset forgets every update held. Called with mu held.
func (r *recent) reset() {
	clear(r.ups)
	r.ups, r.head, r.bytes = r.ups[:0], 0, 0
}

// get appends to dst up to max held updates with Seq > after, skipping
// those older than cutoff (Unix nanoseconds). It reports false, appending
// nothing, when the update right after after is not held (it is older than
// the window, or nothing is held), so the caller must read the file.
func (r *recent) get(dst []*hub.Update, after uint64, cutoff int64, max int) ([]*hub.Update, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	held := r.ups[r.head:]
	if len(held) == 0 || after+1 < held[0].Seq {
		return dst, false
	}
	i := after + 1 - held[0].Seq
	if i >= uint64(len(held)) {
		return dst, true
	}
	for n := 0; i < uint64(len(held)) && n < max; i++ {
		// Times never decrease in log order: what is past MaxAge is at
		// the start.
		if u := held[i]; u.Time.UnixNano() >= cutoff {
			dst = append(dst, u)
			n++
		}
	}
	return dst, true
}

// updateSize approximates the memory an update holds.
func updateSize(u *hub.Update) int {
	n := 128 + len(u.ID) + len(u.Type) + len(u.Data)
	for _, t := range u.Topics {
		n += 16 + len(t)
	}
	return n
}
