package hub

import "time"

// Update is one published message: the unit the hub stores in its Log and
// fans out to subscribers.
type Update struct {
	// ID identifies the update to subscribers (the SSE id field) and is what
	// they resume from with Last-Event-ID. A publisher's ID is kept; the hub
	// assigns a unique one when it is empty.
	ID string
	// Topics are the topics the update belongs to; the first is canonical.
	// There is at least one.
	Topics []string
	// Type is the SSE event type; empty means the default, "message".
	Type string
	// Data is the payload.
	Data string
	// Retry, when positive, is sent as the SSE retry field.
	Retry time.Duration
	// Private updates reach only subscribers authorized for one of their
	// topics.
	Private bool

	// Seq is the update's place in the log, set by Log.Append: strictly
	// increasing in log order, never zero, never reused.
	Seq uint64
	// Time is when the log appended the update; it drives age retention.
	Time time.Time
}
