// Package demo publishes the demo feed that the hub's demo page subscribes
// to: a steady stream of small JSON updates on one topic, numbered so that a
// subscriber can tell whether it missed any.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// Topic is the topic the demo feed is published to.
const Topic = "https://ssehub.local/demo"

// PrivateTopic is the topic of the demo page's private panel: its updates
// are private, so only a subscriber with a token for it receives them.
const PrivateTopic = "https://ssehub.local/demo/private"

// NoteType is the event type of every NoteEvery-th update. Its data is
// indented JSON, several lines long, so a page shows both a named event type
// and multi-line data.
const NoteType = "note"

// NoteEvery is how often an update is a note: the updates whose seq is a
// multiple of it.
const NoteEvery = 10

// DefaultInterval is the publishing interval Run uses when given none.
const DefaultInterval = time.Second

// idPrefix starts the ID of every demo update; the seq follows it. Putting
// the seq in the ID lets Run find where the feed stopped from the ID alone.
const idPrefix = "urn:ssehub:demo:"

// Payload is the JSON data of a demo update.
type Payload struct {
	Seq     uint64  `json:"seq"`
	Message string  `json:"message"`
	Value   float64 `json:"value"`
	Time    string  `json:"time"` // RFC 3339 with nanoseconds, server time
	Note    string  `json:"note,omitempty"`
}

// message returns the text of update number seq: a small rotation of facts
// about server-sent events.
func message(seq uint64) string {
	m := [...]string{
		"One HTTP response, many events.",
		"EventSource reconnects by itself.",
		"Last-Event-ID resumes where the stream broke off.",
		"A comment line keeps an idle connection open.",
		"The retry field sets the reconnection time.",
		"Every update is stored before it is delivered.",
		"Topics are URIs; selectors may be URI templates.",
		"Private updates reach authorized subscribers only.",
	}
	return m[seq%uint64(len(m))]
}

// Run publishes a demo update to Topic on h every interval until ctx ends.
// An interval of zero or less means DefaultInterval; a nil logger means
// slog.Default().
//
// The seq numbers continue the feed found in h's log, so a subscriber that
// resumes after a hub restart sees an unbroken sequence. A failed publish is
// logged and retried with the same seq on the next tick: the feed never
// skips a number of its own accord. Run returns when ctx ends or h is closed.
func Run(ctx context.Context, h *hub.Hub, interval time.Duration, logger *slog.Logger) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("topic", Topic)
	next, err := resume(ctx, h)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, hub.ErrClosed) {
			return
		}
		logger.Warn("demo: cannot find where the feed stopped; starting at 1", "err", err)
		next = 1
	}
	logger.Info("demo: publishing", "interval", interval, "seq", next)

	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			_, err := h.Publish(ctx, NewUpdate(next, now, rand.Float64()*100))
			switch {
			case err == nil:
				next++
			case ctx.Err() != nil || errors.Is(err, hub.ErrClosed):
				return
			default:
				logger.Warn("demo: publish failed; retrying on the next tick", "seq", next, "err", err)
			}
		}
	}
}

// NewUpdate returns demo update number seq, stamped with now and carrying
// value. Every NoteEvery-th update is a note.
func NewUpdate(seq uint64, now time.Time, value float64) *hub.Update {
	p := Payload{
		Seq:     seq,
		Message: message(seq),
		Value:   value,
		Time:    now.UTC().Format(time.RFC3339Nano),
	}
	u := &hub.Update{ID: ID(seq), Topics: []string{Topic}}
	var data []byte
	if seq%NoteEvery == 0 {
		u.Type = NoteType
		p.Note = fmt.Sprintf("Update %d is a note: its event type is %q\nand its data spans several lines.", seq, NoteType)
		data, _ = json.MarshalIndent(p, "", "  ") // a plain struct cannot fail to marshal
	} else {
		data, _ = json.Marshal(p)
	}
	u.Data = string(data)
	return u
}

// ID returns the ID of demo update number seq.
func ID(seq uint64) string { return idPrefix + strconv.FormatUint(seq, 10) }

// ParseID returns the seq of a demo update's ID and whether id is one.
func ParseID(id string) (uint64, bool) {
	s, ok := strings.CutPrefix(id, idPrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil && n > 0
}
