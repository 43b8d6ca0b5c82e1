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

func (r *reader) run(ctx context.Context, yield func(*hub.Update, error) bool) error {
	for r.next <= r.last {
		got, err := r.batch(ctx, yield)
		if errors.Is(err, errStop) {
			return nil
		}
		if err != nil {
			return err
		}
		if got > 0 {
			r.lagSince = time.Time{}
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
	rctx, cancel := l.bound(ctx)
	defer cancel()
	got := 0
	for {
		m, err := sub.NextMsgWithContext(rctx)
		if err != nil {
			return got, err
		}
		if status := m.Header.Get("Status"); status != "" {
			switch status {
			case "204", "404": // end of batch; nothing at or after the Seq
				return got, nil
			case "503":
				return got, fmt.Errorf("%w: %w", ErrUnavailable, nats.ErrNoResponders)
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
// any node appends it, from an ordered consumer that nats.go recreates
// after a server failure. It ends without error when ctx is done; a
// failure is yielded as the final element, after which the caller may
// Follow again from the last Seq it received. Close ends it with
// hub.ErrClosed.
func (l *Log) Follow(ctx context.Context, after uint64) iter.Seq2[*hub.Update, error] {
	return func(yield func(*hub.Update, error) bool) {
		if err := l.check(ctx); err != nil {
			if ctx.Err() == nil {
				yield(nil, err)
			}
			return
		}
		fail := func(op string, err error) {
			switch {
			case ctx.Err() != nil:
			case l.ctx.Err() != nil:
				yield(nil, hub.ErrClosed)
			default:
				yield(nil, l.classify(ctx, op, err))
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

		cctx, ccancel := l.bound(fctx)
		cons, err := l.stream.OrderedConsumer(cctx, njs.OrderedConsumerConfig{
			DeliverPolicy: njs.DeliverByStartSequencePolicy,
			OptStartSeq:   after + 1,
		})
		ccancel()
		if err != nil {
			fail("follow", err)
			return
		}
		it, err := cons.Messages(njs.PullExpiry(followExpiry), njs.PullHeartbeat(followHeartbeat))
		if err != nil {
			fail("follow", err)
			return
		}
		defer it.Stop()
		for {
			m, err := it.Next(njs.NextContext(fctx))
			if err != nil {
				fail("follow", err)
				return
			}
			md, err := m.Metadata()
			if err != nil {
				fail("follow", err)
				return
			}
			if l.expired(md.Timestamp) {
				continue
			}
			u, err := decodeBody(md.Sequence.Stream, m.Data())
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(u, nil) {
				return
			}
		}
	}
}

// A Follow's pull requests last followExpiry and the server sends an idle
// heartbeat every followHeartbeat, so a lost server is noticed, and the
// consumer recreated on another, within about two heartbeats.
const (
	followExpiry    = 5 * time.Second
	followHeartbeat = time.Second
)
