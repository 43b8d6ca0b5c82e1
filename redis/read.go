package redis

import (
	"context"
	"errors"
	"iter"
	"math"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
)

// Read yields, in order, the kept updates with Seq > after up to the newest
// one appended (by any node) when Read was called, paging through the
// stream with XRANGE. A failure is yielded as the final element.
func (l *Log) Read(ctx context.Context, after uint64) iter.Seq2[*hub.Update, error] {
	return func(yield func(*hub.Update, error) bool) {
		if err := l.check(ctx); err != nil {
			yield(nil, err)
			return
		}
		st, err := l.begin(ctx)
		if err != nil {
			yield(nil, l.classifyReadError(ctx, "read", err))
			return
		}
		end := entryID(max(st.last, 1))
		for after < st.last {
			msgs, err := l.client.XRangeN(ctx, l.stream, "("+entryID(after), end, readPage).Result()
			if err != nil {
				yield(nil, l.classifyReadError(ctx, "read", err))
				return
			}
			for _, m := range msgs {
				u, err := decodeEntry(m.ID, m.Values)
				if err != nil {
					yield(nil, err)
					return
				}
				after = u.Seq
				l.observe(u.Seq, u.Time.UnixMicro())
				if u.Time.UnixMicro() < st.minTime {
					continue // expired but beyond the trim batch
				}
				if !yield(u, nil) {
					return
				}
			}
			if len(msgs) < readPage {
				return
			}
		}
	}
}

// Follow yields every kept update with Seq > after and then each new one as
// any node appends it, blocking in XREAD on a connection of its own. It
// ends without error when ctx is done; a failure, including the loss of
// Redis, is yielded as the final element (wrapping ErrUnavailable), after
// which the caller may Follow again from the last Seq it received. Close
// ends it with hub.ErrClosed.
func (l *Log) Follow(ctx context.Context, after uint64) iter.Seq2[*hub.Update, error] {
	return func(yield func(*hub.Update, error) bool) {
		if err := l.check(ctx); err != nil {
			if ctx.Err() == nil {
				yield(nil, err)
			}
			return
		}
		if after == math.MaxUint64 {
			// No Seq follows; wait to be told to stop.
			select {
			case <-ctx.Done():
			case <-l.ctx.Done():
				yield(nil, hub.ErrClosed)
			}
			return
		}
		st, err := l.begin(ctx)
		if err != nil {
			if ctx.Err() == nil {
				yield(nil, l.classifyReadError(ctx, "follow", err))
			}
			return
		}

		// A blocked XREAD does not watch its context, so each Follow has a
		// connection of its own that is closed to end it.
		copts, err := clientOptions(l.conn.url)
		if err != nil {
			yield(nil, err)
			return
		}
		copts.PoolSize, copts.MinIdleConns, copts.MaxIdleConns = 1, 0, 1
		c := goredis.NewClient(copts)
		fctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stopClosed := context.AfterFunc(l.ctx, cancel)
		defer stopClosed()
		stopConn := context.AfterFunc(fctx, func() { c.Close() })
		defer func() {
			if stopConn() {
				c.Close()
			}
		}()

		args := &goredis.XReadArgs{
			Streams: []string{l.stream, ""},
			Count:   readPage,
			Block:   followBlock,
		}
		for {
			args.Streams[1] = entryID(after)
			res, err := c.XRead(fctx, args).Result()
			if errors.Is(err, goredis.Nil) {
				continue // the block timed out
			}
			if err != nil {
				switch {
				case ctx.Err() != nil:
				case l.ctx.Err() != nil:
					yield(nil, hub.ErrClosed)
				default:
					yield(nil, classifyRedisError("follow", err))
				}
				return
			}
			for _, s := range res {
				for _, m := range s.Messages {
					u, err := decodeEntry(m.ID, m.Values)
					if err != nil {
						yield(nil, err)
						return
					}
					after = u.Seq
					l.observe(u.Seq, u.Time.UnixMicro())
					if u.Time.UnixMicro() < st.minTime {
						continue
					}
					if !yield(u, nil) {
						return
					}
				}
			}
		}
	}
}

// classifyReadError classifies the error of a read or follow as
// classifyRedisError does, except that after Close a failure is
// hub.ErrClosed whatever go-redis made of it.
func (l *Log) classifyReadError(ctx context.Context, op string, err error) error {
	if l.ctx.Err() != nil && ctx.Err() == nil {
		return hub.ErrClosed
	}
	return classifyRedisError(op, err)
}
