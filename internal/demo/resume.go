package demo

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// scanTimeout bounds the history scan of resume.
const scanTimeout = 10 * time.Second

// resume returns the seq to publish next: one past the newest demo update in
// h's log, or 1 when the log holds none.
//
// The hub does not expose its log, so resume asks through subscriptions. A
// live-only subscription reports the ID of the newest update in the log;
// usually that is a demo update and its ID carries the seq. Otherwise resume
// replays the whole log (every topic, private updates included) up to that
// newest update and takes the highest demo seq on the way.
func resume(ctx context.Context, h *hub.Hub) (uint64, error) {
	sub, err := h.Subscribe(ctx, hub.Subscription{Topics: []string{Topic}})
	if err != nil {
		return 0, fmt.Errorf("demo: subscribe for the log's newest ID: %w", err)
	}
	newest := sub.LastEventID()
	sub.Close()
	if newest == hub.EarliestID || newest == "" {
		return 1, nil
	}
	if n, ok := ParseID(newest); ok {
		return n + 1, nil
	}

	ctx, cancel := context.WithTimeout(ctx, scanTimeout)
	defer cancel()
	sub, err = h.Subscribe(ctx, hub.Subscription{
		Topics:      []string{"*"},
		Authorized:  []string{"*"},
		LastEventID: hub.EarliestID,
	})
	if err != nil {
		return 0, fmt.Errorf("demo: subscribe to scan the log: %w", err)
	}
	sc := &idScanner{stop: newest, done: cancel}
	err = sub.Run(ctx, sc)
	if !sc.found {
		if err == nil {
			err = context.Cause(ctx)
		}
		return 0, fmt.Errorf("demo: scan the log up to %q: %w", newest, err)
	}
	return sc.max + 1, nil
}

// idScanner reads the id fields of an event stream, as Subscriber.Run writes
// it, keeping the highest demo seq and calling done once the ID stop went by.
type idScanner struct {
	stop  string
	done  func()
	max   uint64
	found bool
	rest  []byte // an incomplete last line
}

func (s *idScanner) Write(p []byte) (int, error) {
	n := len(p)
	if len(s.rest) > 0 {
		p = append(s.rest, p...)
		s.rest = s.rest[:0]
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.rest = append(s.rest[:0], p...)
			break
		}
		line := p[:i]
		p = p[i+1:]
		// The hub encodes with sse.AppendEvent: "id: " then the ID, one
		// field per line, and IDs never hold a line break.
		id, ok := bytes.CutPrefix(line, []byte("id: "))
		if !ok {
			continue
		}
		if seq, ok := ParseID(string(id)); ok && seq > s.max {
			s.max = seq
		}
		if string(id) == s.stop && !s.found {
			s.found = true
			s.done()
		}
	}
	return n, nil
}
