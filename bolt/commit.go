package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/ssehub/ssehub/hub"
)

// appendReq is one Append waiting for the committer. The committer never
// touches the caller's Update: a caller that gave up on ctx may be using it
// again, so the result travels back on done, and the committer works on a
// copy, which it hands to followers once committed.
type appendReq struct {
	u    *hub.Update // the log's own copy; the committer sets Seq and Time
	id   []byte      // aliases rec
	rec  []byte      // encoded update; the committer stamps the time
	done chan appendResult
}

type appendResult struct {
	seq  uint64
	time int64
	err  error
}

// Append stores u durably and sets u.Seq and u.Time. It returns once the
// transaction holding u has been committed and synced to disk, typically
// shared with other concurrent appends.
//
// If ctx is done while u waits for its commit, Append returns ctx.Err() and
// leaves u unchanged, but u may still be committed by the transaction it was
// queued for: a caller that retries with the same ID within the duplicate
// window gets that update's Seq instead of storing it twice (see hub.Log).
func (l *Log) Append(ctx context.Context, u *hub.Update) error {
	if u == nil {
		return fmt.Errorf("bolt: append: nil update")
	}
	if u.ID == "" {
		return fmt.Errorf("bolt: append: field ID is empty")
	}
	if len(u.ID) > bbolt.MaxKeySize {
		return fmt.Errorf("bolt: append: field ID is %d bytes, more than %d", len(u.ID), bbolt.MaxKeySize)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c := *u
	c.Topics = slices.Clone(u.Topics)
	rec := encodeUpdate(nil, u)
	id, err := recordID(rec)
	if err != nil {
		return fmt.Errorf("bolt: append: %w", err) // a bug in the codec
	}
	req := &appendReq{u: &c, id: id, rec: rec, done: make(chan appendResult, 1)}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return hub.ErrClosed
	}
	l.queue = append(l.queue, req)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default: // already signalled
	}
	select {
	case r := <-req.done:
		if r.err != nil {
			return r.err
		}
		u.Seq = r.seq
		u.Time = time.Unix(0, r.time)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the committer: the only goroutine that writes to the file.
func (l *Log) run(lastTime int64) {
	defer close(l.stopped)
	var tick <-chan time.Time
	if l.maxAge > 0 {
		t := time.NewTicker(min(max(l.maxAge/8, 10*time.Millisecond), time.Minute))
		defer t.Stop()
		tick = t.C
	}
	// behind is set when retention had more to remove than one transaction
	// may; the backlog is worked off between appends. Start behind so that a
	// file opened with smaller limits than it was written with is trimmed.
	behind := true
	for {
		if behind {
			select {
			case <-l.done:
				l.failQueued()
				return
			case <-l.wake:
				lastTime, behind = l.commitQueued(lastTime)
			default:
				behind = l.sweep(lastTime)
			}
			continue
		}
		select {
		case <-l.done:
			l.failQueued()
			return
		case <-l.wake:
			lastTime, behind = l.commitQueued(lastTime)
		case <-tick:
			behind = l.sweep(lastTime)
		}
	}
}

// failQueued fails the appends still queued at Close. Close has set closed
// under mu, so none can be added afterwards.
func (l *Log) failQueued() {
	l.mu.Lock()
	q := l.queue
	l.queue = nil
	l.mu.Unlock()
	for _, r := range q {
		r.done <- appendResult{err: hub.ErrClosed}
	}
}

// commitQueued commits up to l.batch queued appends in one transaction and
// releases their callers with its outcome. It returns the new time floor and
// whether retention left work behind.
func (l *Log) commitQueued(lastTime int64) (int64, bool) {
	l.mu.Lock()
	n := min(len(l.queue), l.batch)
	batch := make([]*appendReq, n)
	copy(batch, l.queue)
	rest := copy(l.queue, l.queue[n:])
	clear(l.queue[rest:])
	l.queue = l.queue[:rest]
	l.mu.Unlock()
	if rest > 0 {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	if n == 0 {
		return lastTime, false
	}

	// Times never go backwards in log order, even if the clock does, so
	// age retention can stop at the first update young enough.
	now := max(time.Now().UnixNano(), lastTime)
	keys := make([]byte, 8*n)
	res := make([]appendResult, n)
	stored := make([]*hub.Update, 0, n) // in Seq order
	var last uint64
	var behind bool
	err := l.update(func(tx *bbolt.Tx) error {
		ub, ib := tx.Bucket(bucketUpdates), tx.Bucket(bucketIDs)
		// Seqs only ever grow, so pages split at the end are never
		// inserted into again: filling them (instead of bbolt's half, meant
		// for random inserts) halves the pages the updates take and trims
		// the pages each commit writes.
		ub.FillPercent = 0.95
		stored = stored[:0]
		for i, r := range batch {
			// Within the window the ID's newest copy answers a retry of it
			// (this transaction's own puts included).
			if seq, t, ok := l.duplicate(ub, ib, r, now); ok {
				res[i] = appendResult{seq: seq, time: t}
				continue
			}
			seq, err := ub.NextSequence()
			if err != nil {
				return err
			}
			last = seq
			k := keys[8*i : 8*i+8]
			binary.BigEndian.PutUint64(k, seq)
			setRecordTime(r.rec, now)
			if err := ub.Put(k, r.rec); err != nil {
				return fmt.Errorf("put update %d: %w", seq, err)
			}
			if err := ib.Put(r.id, indexAdd(ib.Get(r.id), k)); err != nil {
				return fmt.Errorf("put id of update %d: %w", seq, err)
			}
			res[i] = appendResult{seq: seq, time: now}
			r.u.Seq, r.u.Time = seq, time.Unix(0, now)
			stored = append(stored, r.u)
		}
		var err error
		behind, err = l.trim(ub, ib, now, len(stored)+trimPerTx)
		return err
	})
	if err != nil {
		l.logger.Error("bolt: commit failed", "file", l.path, "appends", n, "err", err)
		err = l.noteFailure("append", l.wrap("append", err))
		l.commitErr.Store(&err)
		for _, r := range batch {
			r.done <- appendResult{err: err}
		}
		return lastTime, false
	}
	l.commitErr.Store(nil)
	l.commits.Add(1)
	l.appends.Add(uint64(len(stored)))
	if len(stored) > 0 {
		// Before last is stored: a follower that sees the new last finds
		// the updates here.
		l.recent.add(stored)
		l.last.Store(last)
		l.broadcast()
	}
	for i, r := range batch {
		r.done <- res[i]
	}
	return now, behind
}

// duplicate reports the Seq and time of the newest kept update with r's
// ID when it was appended less than the duplicate window before now and
// holds r's content: r is a retry (see hub.Log's Append). The records are
// compared whole but for the time, so the file's format is unchanged.
// Only the newest copy is compared: a retry of an earlier copy of a reused
// ID is stored again.
func (l *Log) duplicate(ub, ib *bbolt.Bucket, r *appendReq, now int64) (uint64, int64, bool) {
	if l.window <= 0 {
		return 0, 0, false
	}
	_, last := indexSpan(ib.Get(r.id))
	if last == 0 {
		return 0, 0, false
	}
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], last)
	rec := ub.Get(k[:])
	t, err := recordTime(rec)
	if err != nil || now-t >= int64(l.window) || !sameContent(rec, r.rec) {
		return 0, 0, false
	}
	return last, t, true
}

// sameContent reports whether two encoded records hold the same update but
// for their time.
func sameContent(a, b []byte) bool {
	return len(a) == len(b) && a[0] == b[0] && bytes.Equal(a[flagsOffset:], b[flagsOffset:])
}

// sweep applies retention in a transaction of its own, for when no appends
// come to do it. It reports whether work was left behind.
func (l *Log) sweep(lastTime int64) bool {
	now := max(time.Now().UnixNano(), lastTime)
	var behind bool
	err := l.update(func(tx *bbolt.Tx) error {
		var err error
		behind, err = l.trim(tx.Bucket(bucketUpdates), tx.Bucket(bucketIDs), now, trimPerTx)
		return err
	})
	if err != nil {
		l.logger.Error("bolt: retention sweep failed", "file", l.path, "err", l.noteFailure("sweep", err))
		return false
	}
	return behind
}

// trim removes, oldest first, at most limit updates that are beyond MaxLen
// or older than MaxAge at now, and updates their ID index entries. It reports whether it stopped at the limit
// with more to remove.
func (l *Log) trim(ub, ib *bbolt.Bucket, now int64, limit int) (bool, error) {
	lastSeq := ub.Sequence()
	cutoff := int64(math.MinInt64)
	if l.maxAge > 0 {
		cutoff = now - int64(l.maxAge)
	}
	// Collect first, delete after: deleting under a moving cursor can skip
	// entries.
	var doomed [][]byte
	c := ub.Cursor()
	k, v := c.First()
	for ; k != nil && len(doomed) < limit; k, v = c.Next() {
		if len(k) != 8 {
			// Not a key this package writes; it cannot be read either.
			doomed = append(doomed, append([]byte(nil), k...))
			continue
		}
		seq := binary.BigEndian.Uint64(k)
		t, err := recordTime(v)
		overLen := lastSeq-seq+1 > l.maxLen
		if !overLen && err == nil && t >= cutoff {
			break
		}
		// A corrupt record is only removed once it is due by count: its
		// age is unknown.
		if !overLen && err != nil {
			break
		}
		doomed = append(doomed, append([]byte(nil), k...))
		if id, err := recordID(v); err == nil {
			if err := indexRemove(ib, id, seq); err != nil {
				return false, fmt.Errorf("trim id of update %d: %w", seq, err)
			}
		}
	}
	for _, k := range doomed {
		if err := ub.Delete(k); err != nil {
			return false, fmt.Errorf("trim update %x: %w", k, err)
		}
	}
	if len(doomed) > 0 {
		l.logger.Debug("bolt: retention", "removed", len(doomed))
	}
	return len(doomed) == limit && k != nil, nil
}

// The ID index maps an ID to the Seq of its first copy, 8 bytes, or, once
// the ID is reused, to the first and the last copy's, 16 bytes. Find
// answers the first (hub.Log: a reused ID resolves to its earliest copy);
// a first Seq of 0 says that copy is gone while later ones are kept, and
// the entry goes with the last copy. Files written before IDs resolved to
// their first copy hold the newest copy's Seq, read as first and last.

// indexAdd returns the index value for cur (nil for none) with the update
// at key k appended.
func indexAdd(cur, k []byte) []byte {
	if len(cur) < 8 {
		return k
	}
	v := make([]byte, 16)
	copy(v, cur[:8])
	copy(v[8:], k)
	return v
}

// indexSpan returns the first and last Seq an index value holds.
func indexSpan(v []byte) (first, last uint64) {
	switch len(v) {
	case 8:
		s := binary.BigEndian.Uint64(v)
		return s, s
	case 16:
		return binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])
	}
	return 0, 0
}

// indexRemove updates id's index entry for the removal of its update seq.
func indexRemove(ib *bbolt.Bucket, id []byte, seq uint64) error {
	cur := ib.Get(id)
	if cur == nil {
		return nil
	}
	first, last := indexSpan(cur)
	switch seq {
	case last:
		return ib.Delete(id)
	case first:
		v := make([]byte, 16)
		binary.BigEndian.PutUint64(v[8:], last)
		return ib.Put(id, v)
	}
	return nil
}
