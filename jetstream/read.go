package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/ssehub/ssehub/hub"
)

// Read yields, in order, the kept updates with Seq > after up to the
// stream's last sequence when Read was called, fetching batches of
// readBatch with direct gets. A failure is yielded as the final element.
func (l *Log) Read(ctx context.Context, after uint64) iter.Seq2[*hub.Update, error] {
	return func(yield func(*hub.Update, error) bool) {
		if err := l.check(ctx); err != nil {
			yield(nil, err)
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(l.ctx, cancel)()

		st, err := l.state(ctx)
		if err != nil {
			yield(nil, l.classify(ctx, "read", err))
			return
		}
		last := st.LastSeq
		if after >= last || st.Msgs == 0 {
			return
		}
		r := reader{l: l, next: max(after+1, st.FirstSeq), last: last}
		if err := r.run(ctx, yield); err != nil {
			yield(nil, l.classify(ctx, "read", err))
		}
	}
}

// reader is one Read in progress.
type reader struct {
	l          *Log
	next, last uint64 // the next Seq wanted, and the last one to yield
	stopped    bool   // the consumer broke off
	lagSince   time.Time
}

// errStop ends a batch when the consumer broke off.
var errStop = errors.New("stop")

// errNoAnswer ends a batch whose direct get went unanswered for
// directGetTimeout (lost with a failing server) or that no replica served.
var errNoAnswer = fmt.Errorf("%w: no answer to a direct get", ErrUnavailable)

// directGetTimeout bounds the wait for a direct get's next message.
const directGetTimeout = 2 * time.Second

func (r *reader) run(ctx context.Context, yield func(*hub.Update, error) bool) error {
	for r.next <= r.last {
		got, err := r.batch(ctx, yield)
		if errors.Is(err, errStop) {
			return nil
		}
		if err != nil && !errors.Is(err, errNoAnswer) {
			return err
		}
		if got > 0 {
			r.lagSince = time.Time{}
			continue
		}
		if err != nil {
			if r.lagSince.IsZero() {
				r.lagSince = time.Now()
			} else if time.Since(r.lagSince) > catchUp {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		// The replica that answered holds nothing from r.next on. Either
		// retention removed everything up to r.last, or it has not applied
		// what the leader acknowledged yet: ask the leader which.
		st, err := r.l.state(ctx)
		if err != nil {
			return err
		}
		switch {
		case st.Msgs == 0 || st.FirstSeq > r.last:
			return nil
		case st.FirstSeq > r.next:
			r.next = st.FirstSeq
			continue
		}
		if r.lagSince.IsZero() {
			r.lagSince = time.Now()
		} else if time.Since(r.lagSince) > catchUp {
			return fmt.Errorf("%w: the replica answering direct gets stays behind Seq %d", ErrUnavailable, r.next)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// batch asks for up to readBatch messages from r.next on with one direct
// get and yields them. It returns how many messages came.
func (r *reader) batch(ctx context.Context, yield func(*hub.Update, error) bool) (int, error) {
	l := r.l
	req, err := json.Marshal(apiMsgGetRequest{Seq: r.next, Batch: int(min(readBatch, r.last-r.next+1))})
	if err != nil {
		return 0, err
	}
	sub, err := l.nc.SubscribeSync(l.nc.NewRespInbox())
	if err != nil {
		return 0, err
	}
	defer sub.Unsubscribe()
	if err := l.nc.PublishRequest("$JS.API.DIRECT.GET."+l.name, sub.Subject, req); err != nil {
		return 0, err
	}
	// A request can be lost with the server that carried it; asking again
	// is cheap, so each wait is short whatever ctx allows.
	rctx, cancel := context.WithTimeout(ctx, directGetTimeout)
	defer cancel()
	got := 0
	for {
		m, err := sub.NextMsgWithContext(rctx)
		if err != nil {
			if ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrNoResponders)) {
				// nats.go reads a 503 status as ErrNoResponders: no
				// replica serves direct gets right now.
				return got, errNoAnswer
			}
			return got, err
		}
		if status := m.Header.Get("Status"); status != "" {
			switch status {
			case "204", "404": // end of batch; nothing at or after the Seq
				return got, nil
			case "503": // no replica serves direct gets right now
				return got, errNoAnswer
			}
			return got, fmt.Errorf("direct get: status %s %s", status, m.Header.Get("Description"))
		}
		got++
		seq, err := strconv.ParseUint(m.Header.Get(njs.SequenceHeader), 10, 64)
		if err != nil {
			return got, fmt.Errorf("direct get: %s header %q: %w", njs.SequenceHeader, m.Header.Get(njs.SequenceHeader), err)
		}
		stored, err := time.Parse(time.RFC3339Nano, m.Header.Get(njs.TimeStampHeaer))
		if err != nil {
			return got, fmt.Errorf("direct get: %s header: %w", njs.TimeStampHeaer, err)
		}
		if seq < r.next {
			continue // not asked for; cannot happen
		}
		if seq > r.last {
			return got, errStop
		}
		r.next = seq + 1
		if l.expired(stored) {
			continue
		}
		u, err := decodeBody(seq, m.Data)
		if err != nil {
			return got, err
		}
		if !yield(u, nil) {
			return got, errStop
		}
	}
}

// Follow yields every kept update with Seq > after and then each new one as
// any node appends it. It ends without error when ctx is done; a failure
// is yielded as the final element, after which the caller may Follow again
// from the last Seq it received. Close ends it with hub.ErrClosed.
//
// It reads with the same direct gets as Read, which any replica answers,
// so it keeps following while the stream elects a new leader; a core NATS
// subscription to the stream's subjects rings it when an update may have
// arrived, and it polls every followPoll besides, for a doorbell lost to a
// reconnect or rung before the replica it asks had the update.
func (l *Log) Follow(ctx context.Context, after uint64) iter.Seq2[*hub.Update, error] {
	return func(yield func(*hub.Update, error) bool) {
		if err := l.check(ctx); err != nil {
			if ctx.Err() == nil {
				yield(nil, err)
			}
			return
		}
		fail := func(err error) {
			switch {
			case ctx.Err() != nil:
			case l.ctx.Err() != nil:
				yield(nil, hub.ErrClosed)
			default:
				yield(nil, l.classify(ctx, "follow", err))
			}
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
		fctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(l.ctx, cancel)()

		bell := make(chan struct{}, 1)
		sub, err := l.nc.Subscribe(l.subject+".*", func(*nats.Msg) {
			select {
			case bell <- struct{}{}:
			default:
			}
		})
		if err != nil {
			fail(err)
			return
		}
		defer sub.Unsubscribe()
		// Doorbells beyond what the callback keeps up with are dropped, not
		// buffered: a dropped one only delays until the next poll.
		sub.SetPendingLimits(1024, 1<<20)

		r := reader{l: l, next: after + 1, last: math.MaxUint64}
		poll := time.NewTicker(followPoll)
		defer poll.Stop()
		// After a doorbell or progress, read again after each pause of
		// followRechecks until one finds nothing new: the replica answering
		// may not have applied what rang yet.
		rechecks := 0
		for {
			got, err := r.batch(fctx, yield)
			if errors.Is(err, errStop) {
				return
			}
			if errors.Is(err, errNoAnswer) {
				// Servers are failing over; ask again until they answer.
				l.logger.Debug("jetstream: follow: a direct get went unanswered; asking again", "seq", r.next)
				select {
				case <-fctx.Done():
					fail(fctx.Err())
					return
				case <-time.After(followRechecks[1]):
				}
				continue
			}
			if err != nil {
				fail(err)
				return
			}
			if got == readBatch {
				continue // there may be more already
			}
			if got > 0 {
				rechecks = 0
			}
			var recheck <-chan time.Time
			if rechecks < len(followRechecks) {
				recheck = time.After(followRechecks[rechecks])
				rechecks++
			}
			select {
			case <-fctx.Done():
				fail(fctx.Err())
				return
			case <-bell:
				rechecks = 0
			case <-recheck:
			case <-poll.C:
			}
		}
	}
}

// followPoll is how often an idle Follow reads without a doorbell, and
// followRechecks the pauses before reading again when a doorbell rang
// but the replica answering had nothing new yet.
const followPoll = time.Second

var followRechecks = []time.Duration{2 * time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond, 200 * time.Millisecond}
