package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/ssehub/ssehub/hub"
)

// DefaultCheckTimeout bounds the record scan of Open's consistency check
// when Options.CheckTimeout is 0.
const DefaultCheckTimeout = 10 * time.Second

// pageCheckMaxBytes is the largest file whose pages Open checks with
// bbolt's own consistency check, which cannot be interrupted: the whole
// check runs at about 140-400 MB/s on a shared 2-core machine
// (BenchmarkOpenCheck), so a few seconds at this size. A larger file gets
// the time-bounded record scan only.
const pageCheckMaxBytes = 512 << 20

// ErrCorruptFile is wrapped by Open's error for a file that fails the
// consistency check.
var ErrCorruptFile = errors.New("bolt: corrupt file")

// view and update run fn in a bbolt transaction. bbolt panics on some
// page-level damage (an invalid page type, a freelist assertion); that
// panic is turned into an error wrapping ErrCorrupt here, at the boundary,
// so a damaged file costs a failed request, never the process. bbolt rolls
// the transaction back as the panic unwinds.
func (l *Log) view(fn func(*bbolt.Tx) error) (err error) {
	defer recoverCorrupt(&err)
	return l.db.View(fn)
}

func (l *Log) update(fn func(*bbolt.Tx) error) (err error) {
	defer recoverCorrupt(&err)
	return l.db.Update(fn)
}

func recoverCorrupt(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: bbolt panicked: %v", ErrCorrupt, r)
	}
}

// noteFailure records what err says about the file: a corruption, which
// Health reports until the log is closed and which is logged at ERROR the
// first time, naming the file and what to do. It returns err.
func (l *Log) noteFailure(op string, err error) error {
	if err == nil || !errors.Is(err, ErrCorrupt) {
		return err
	}
	if l.corrupt.CompareAndSwap(nil, &err) {
		l.logger.Error("bolt: the history file is corrupt: stop the hub and restore the file from a backup, or move it aside to start with an empty history",
			"file", l.path, "op", op, "err", err)
	} else {
		l.logger.Debug("bolt: corrupt record", "file", l.path, "op", op, "err", err)
	}
	return err
}

// Health reports whether the log can serve: nil, or why not. It reports a
// corruption found since Open, the failure of the last commit while no
// commit has succeeded since (a full disk, an I/O error), and reads the
// newest record back from the file, in one short read transaction; ctx
// bounds the wait for that read.
func (l *Log) Health(ctx context.Context) error {
	if l.isClosed() {
		return hub.ErrClosed
	}
	if p := l.corrupt.Load(); p != nil {
		return fmt.Errorf("bolt: %s is corrupt: %w", l.path, *p)
	}
	if p := l.commitErr.Load(); p != nil {
		return fmt.Errorf("bolt: the last commit failed: %w", *p)
	}
	done := make(chan error, 1)
	go func() {
		done <- l.view(func(tx *bbolt.Tx) error {
			k, v := tx.Bucket(bucketUpdates).Cursor().Last()
			if k == nil {
				return nil
			}
			if len(k) != 8 {
				return fmt.Errorf("key %x: %w: key is not 8 bytes", k, ErrCorrupt)
			}
			_, err := decodeUpdate(v, binary.BigEndian.Uint64(k))
			return err
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			return l.noteFailure("health", l.wrap("health: reading the newest update", err))
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bolt: health: reading the newest update: %w", ctx.Err())
	}
}

// checkFile checks the consistency of the file db has open, before any
// write: bbolt's page-level check (free pages, page types, reachability)
// when the file is at most pageCheckMaxBytes, and a scan that decodes every
// record and index entry, stopped at timeout with a warning. It returns an
// error wrapping ErrCorruptFile for the first problems found.
func checkFile(db *bbolt.DB, path string, timeout time.Duration, logger *slog.Logger) (err error) {
	defer recoverCorrupt(&err)
	start := time.Now()
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	var problems []error
	err = db.View(func(tx *bbolt.Tx) error {
		if fi.Size() <= pageCheckMaxBytes {
			// No writer runs during Open, which makes the check safe on a
			// read transaction.
			// Check's goroutine ends only once its channel is drained.
			for err := range tx.Check() {
				if len(problems) < 3 {
					problems = append(problems, err)
				}
			}
		} else {
			logger.Info("bolt: file too large for the page check; records are checked", "file", path, "bytes", fi.Size())
		}
		if len(problems) > 0 {
			return nil
		}
		deadline := start.Add(timeout)
		n := 0
		ub, ib := tx.Bucket(bucketUpdates), tx.Bucket(bucketIDs)
		if ub == nil || ib == nil {
			return nil // a new file: Open creates them
		}
		c := ub.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if n++; n%1024 == 0 && time.Now().After(deadline) {
				logger.Warn("bolt: consistency check stopped at its time bound; later records are checked as they are read",
					"file", path, "checked", n, "timeout", timeout)
				return nil
			}
			if len(k) != 8 {
				problems = append(problems, fmt.Errorf("key %x: %w: key is not 8 bytes", k, ErrCorrupt))
				break
			}
			if _, err := decodeUpdate(v, binary.BigEndian.Uint64(k)); err != nil {
				problems = append(problems, fmt.Errorf("update %d: %w", binary.BigEndian.Uint64(k), err))
				break
			}
		}
		c = ib.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if n++; n%1024 == 0 && time.Now().After(deadline) {
				return nil
			}
			if first, last := indexSpan(v); last == 0 || first > last {
				problems = append(problems, fmt.Errorf("%w: the index entry of ID %q is %x", ErrCorrupt, k, v))
				break
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorruptFile, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %w", ErrCorruptFile, errors.Join(problems...))
	}
	logger.Info("bolt: consistency check passed", "file", path, "bytes", fi.Size(), "took", time.Since(start).Round(time.Millisecond))
	return nil
}
