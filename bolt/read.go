package bolt

import (
	"context"
	"encoding/binary"
	"fmt"
	"iter"
	"math"

	bbolt "go.etcd.io/bbolt"

	"github.com/ssehub/ssehub/hub"
)

// Read yields, in order, the updates kept with Seq > after, up to the newest
// committed when Read was called. It seeks straight to after+1, so its cost
// depends on how much it yields, not on the size of the history. A failure,
// such as a corrupt record (ErrCorrupt), is yielded as the final element.
func (l *Log) Read(ctx context.Context, after uint64) iter.Seq2[*hub.Update, error] {
	end := l.last.Load()
	return func(yield func(*hub.Update, error) bool) {
		if l.isClosed() {
			yield(nil, hub.ErrClosed)
			return
		}
		for after < end {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			chunk, err := l.readChunk(after, end)
			for _, u := range chunk {
				if !yield(u, nil) {
					return
				}
				after = u.Seq
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if len(chunk) < readChunk {
				return
			}
		}
	}
}

// Follow yields, in order, every update with Seq > after: those stored, then
// new ones as they are committed, woken by the committer (no polling). It
// ends without error when ctx is done and with hub.ErrClosed when the log is
// closed; another failure is yielded as the final element. Updates removed
// by retention before Follow reaches them are skipped.
//
// The newest updates are yielded from memory, as the committer stored them,
// rather than read back from the file; they are shared with other followers
// and must not be modified.
func (l *Log) Follow(ctx context.Context, after uint64) iter.Seq2[*hub.Update, error] {
	return func(yield func(*hub.Update, error) bool) {
		var buf []*hub.Update
		for {
			if ctx.Err() != nil {
				return
			}
			// Take the channel before looking, so a commit landing between
			// the look and the wait still wakes us.
			changed := l.changed()
			if l.isClosed() {
				yield(nil, hub.ErrClosed)
				return
			}
			if after < l.last.Load() {
				var err error
				chunk, ok := l.recent.get(buf[:0], after, l.cutoff(), readChunk)
				if !ok {
					chunk, err = l.readChunk(after, math.MaxUint64)
				}
				buf = chunk
				for _, u := range chunk {
					if ctx.Err() != nil {
						return
					}
					if !yield(u, nil) {
						return
					}
					after = u.Seq
				}
				clear(chunk) // buf must not keep yielded updates alive
				if err != nil {
					if ctx.Err() == nil {
						yield(nil, err)
					}
					return
				}
				if len(chunk) > 0 {
					continue
				}
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			case <-l.done:
				yield(nil, hub.ErrClosed)
				return
			}
		}
	}
}

// readChunk returns up to readChunk updates with after < Seq <= end, in one
// short read transaction. On a corrupt record it returns the updates before
// it and the error.
func (l *Log) readChunk(after, end uint64) ([]*hub.Update, error) {
	var out []*hub.Update
	cutoff := l.cutoff()
	visited := 0
	err := l.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketUpdates).Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < readChunk; k, v = c.Next() {
			visited++
			if len(k) != 8 {
				return fmt.Errorf("key %x: %w: key is not 8 bytes", k, ErrCorrupt)
			}
			seq := binary.BigEndian.Uint64(k)
			if seq > end {
				break
			}
			// Updates past MaxAge that retention has not removed yet are
			// skipped; times never decrease, so they are all at the start.
			if t, err := recordTime(v); err == nil && t < cutoff {
				continue
			}
			u, err := decodeUpdate(v, seq)
			if err != nil {
				return fmt.Errorf("update %d: %w", seq, err)
			}
			out = append(out, u)
		}
		return nil
	})
	l.visited.Add(uint64(visited))
	if err != nil {
		return out, l.noteFailure("read", l.wrap("read", err))
	}
	return out, nil
}
