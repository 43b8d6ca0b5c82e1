package hub

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/ssehub/ssehub/sse"
)

// announcedIDs bounds the IDs of announced events the hub remembers, for
// subscribers resuming from one. At about 100 bytes each, 10,000 take 1 MiB.
const announcedIDs = 10_000

// firstAnnounceMark is the first of the fan-out marks of announced events:
// far above any Seq of a log, so the two never meet.
const firstAnnounceMark = 1 << 63

// announced remembers, for the IDs of the last announced events, the
// position of the log when each was announced, oldest first. Under h.mu.
type announced struct {
	at    map[string]uint64
	order []string // a ring of at most announcedIDs
	next  int      // where the next ID goes in order once it is full
	mark  uint64   // the fan-out mark of the last announced event
}

func (a *announced) add(id string, pos uint64) {
	if a.at == nil {
		a.at = make(map[string]uint64)
		a.mark = firstAnnounceMark
	}
	if _, dup := a.at[id]; dup {
		a.at[id] = pos
		return
	}
	if len(a.order) < announcedIDs {
		a.order = append(a.order, id)
	} else {
		delete(a.at, a.order[a.next])
		a.order[a.next] = id
		a.next = (a.next + 1) % announcedIDs
	}
	a.at[id] = pos
}

// Announce fans u out to the subscribers live now, by the same delivery
// rule as a published update, without storing it in the log: for events
// that must never take the place of updates in a bounded history, such as
// Mercure's subscription events, which one client can make by the hundred
// by opening and closing connections. An announced event is not replayed;
// a subscriber resuming from its ID replays the updates published after
// it was announced (the hub remembers the last 10,000 such IDs; an older
// one is resumed from as an unknown ID is).
//
// Without Options.Announcements only this hub's subscribers receive u, at
// once: an update published just before it but not yet read back from the
// log by the hub's follower reaches subscribers after it. With them, u is
// appended there and returned from once stored; every hub sharing them,
// this one included, fans it out when its follower reads it, so that the
// subscribers of every hub get it once, and all hubs' announced events
// come in one order. Then a closed hub still appends: the ends of its
// subscriptions, announced as it shuts down, are for the other hubs.
//
// u gets an ID as in Publish if it has none; Announce returns it. An
// invalid update yields an error wrapping ErrInvalidUpdate; a failed
// append is returned wrapped; a closed hub without Announcements returns
// ErrClosed.
func (h *Hub) Announce(ctx context.Context, u *Update) (id string, err error) {
	if err := u.Validate(); err != nil {
		return "", err
	}
	if u.ID == "" {
		v7, err := uuid.NewV7()
		if err != nil {
			return "", fmt.Errorf("hub: generating an update ID: %w", err)
		}
		u.ID = v7.URN()
	}
	if h.announcements == nil {
		if err := h.announce(u); err != nil {
			return "", err
		}
		return u.ID, nil
	}
	// Refused here, not by every hub's follower.
	if _, err := sse.AppendEvent(nil, eventOf(u)); err != nil {
		return "", &UpdateError{Field: "id", Reason: err.Error()}
	}
	v := *u // Append sets Seq and Time, which are the announcements'
	if err := h.announcements.Append(ctx, &v); err != nil {
		return "", fmt.Errorf("hub: storing an announced event: %w", err)
	}
	return u.ID, nil
}

// announce fans u out to this hub's live subscribers.
func (h *Hub) announce(u *Update) error {
	e, err := sse.AppendEvent(nil, eventOf(u))
	if err != nil {
		return &UpdateError{Field: "id", Reason: err.Error()}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	h.announced.add(u.ID, h.pos)
	h.announced.mark++
	v := *u
	v.Seq = h.announced.mark
	h.fanout(&v, e)
	return nil
}

// findAnnounced returns the log position at which the event with the given
// ID was announced, if the hub remembers it. Called with h.mu held.
func (h *Hub) findAnnounced(id string) (uint64, bool) {
	pos, ok := h.announced.at[id]
	return pos, ok
}
