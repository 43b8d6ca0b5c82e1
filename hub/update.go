package hub

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"slices"
	"time"
)

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

// RetryKey returns the key that tells a publisher's retry of u from a
// different update reusing u.ID (see Log.Append): u.ID, '#', and a digest
// of everything else the publisher supplies (Topics, Type, Data, Retry,
// Private; not Seq or Time), which is the first 16 bytes of the SHA-256 of
// their length-prefixed encoding in unpadded base64url, 22 characters.
// The digest has a fixed length, so the key splits back unambiguously,
// and a fixed definition, so every node and release computes the same key
// for the same update: a log that deduplicates by it across nodes (the
// jetstream package's Nats-Msg-Id) relies on that. Changing it makes
// retries that straddle the change be stored twice.
func RetryKey(u *Update) string {
	h := sha256.New()
	var b []byte
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
		h.Write(b)
		b = b[:0]
	}
	b = binary.AppendUvarint(b, uint64(len(u.Topics)))
	for _, t := range u.Topics {
		str(t)
	}
	str(u.Type)
	str(u.Data)
	b = binary.AppendVarint(b, int64(u.Retry))
	if u.Private {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	h.Write(b)
	var sum [sha256.Size]byte
	return u.ID + "#" + base64.RawURLEncoding.EncodeToString(h.Sum(sum[:0])[:16])
}

// sameContent reports whether u and v carry the same update as a publisher
// supplies it: RetryKey's fields, compared exactly.
func sameContent(u, v *Update) bool {
	return u.ID == v.ID && u.Type == v.Type && u.Data == v.Data && u.Retry == v.Retry &&
		u.Private == v.Private && slices.Equal(u.Topics, v.Topics)
}
