package hub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// ErrInvalidUpdate is wrapped by the *UpdateError Publish returns for an
// update that cannot be published as it is.
var ErrInvalidUpdate = errors.New("hub: invalid update")

// UpdateError reports the field that makes an update unpublishable. Field is
// named as in the Mercure publish form: "topic", "id", "type" or "retry".
type UpdateError struct {
	Field  string
	Reason string
}

func (e *UpdateError) Error() string {
	return "hub: invalid update: " + e.Field + ": " + e.Reason
}

// Unwrap returns ErrInvalidUpdate, so errors.Is(err, ErrInvalidUpdate) holds.
func (e *UpdateError) Unwrap() error { return ErrInvalidUpdate }

// Publish validates u, gives it an ID if it has none ("urn:uuid:" and a
// version 7 UUID, set in u.ID) and appends it to the log. It returns the ID
// once the log has stored the update; the hub's follower then fans it out,
// as it does for updates appended to a shared log by other hubs.
//
// An invalid update yields an error wrapping ErrInvalidUpdate that names the
// field; a log failure is returned wrapped, and a closed hub returns
// ErrClosed.
func (h *Hub) Publish(ctx context.Context, u *Update) (id string, err error) {
	if err := u.Validate(); err != nil {
		return "", err
	}
	if h.ctx.Err() != nil {
		return "", ErrClosed
	}
	if u.ID == "" {
		v7, err := uuid.NewV7()
		if err != nil {
			return "", fmt.Errorf("hub: generating an update ID: %w", err)
		}
		u.ID = v7.URN() // "urn:uuid:" and the UUID, in one allocation
	}
	if err := h.log.Append(ctx, u); err != nil {
		return "", fmt.Errorf("hub: storing update: %w", err)
	}
	h.published.Add(1)
	return u.ID, nil
}

// Validate reports the first field of u that Publish would reject, as an
// *UpdateError naming it (which wraps ErrInvalidUpdate), or nil. Transports
// call it to reject a request before doing further work on it.
func (u *Update) Validate() error {
	if u == nil {
		return &UpdateError{Field: "topic", Reason: "no update"}
	}
	if len(u.Topics) == 0 {
		return &UpdateError{Field: "topic", Reason: "at least one topic is required"}
	}
	for i, t := range u.Topics {
		switch {
		case t == "":
			return &UpdateError{Field: "topic", Reason: fmt.Sprintf("topic %d is empty", i)}
		case t == Wildcard:
			// "*" selects every topic, so a topic "*" could never be
			// selected alone (Mercure 1.0, "Matcher Types").
			return &UpdateError{Field: "topic", Reason: `"*" is reserved for the wildcard selector`}
		}
		if err := CheckText(t); err != nil {
			return &UpdateError{Field: "topic", Reason: fmt.Sprintf("topic %d %v", i, err)}
		}
	}
	if err := ValidateID(u.ID); err != nil {
		return err
	}
	if err := CheckText(u.Type); err != nil {
		return &UpdateError{Field: "type", Reason: err.Error()}
	}
	if !utf8.ValidString(u.Data) {
		return &UpdateError{Field: "data", Reason: "is not valid UTF-8"}
	}
	if u.Retry < 0 {
		return &UpdateError{Field: "retry", Reason: "negative"}
	}
	return nil
}

// MaxIDLen bounds an update's ID in bytes. Every ID must be able to come
// back as a subscriber's Last-Event-ID header, and servers bound those (the
// mercure handler refuses one longer than this), so a longer ID would be
// stored and then make its subscribers' resumption fail for good.
const MaxIDLen = 1024

// ValidateID reports why id cannot be an update's ID, as an *UpdateError for
// the field "id", or nil. The empty ID is valid: Publish assigns one. It is
// the one rule for IDs, which Validate applies: an ID is accepted only if it
// survives the round trip a resuming subscriber makes it take, from the SSE
// id field back into a Last-Event-ID request header, byte for byte. So it is
// valid UTF-8 (an EventSource decodes the stream as UTF-8), holds no control
// character (C0, DEL or C1: header values cannot hold most of them, and
// clients loop on the rest), does not start or end with a space (a header
// drops it), is at most MaxIDLen bytes, and is none of the values reserved
// by the Mercure protocol.
func ValidateID(id string) error {
	if len(id) > MaxIDLen {
		return &UpdateError{Field: "id", Reason: fmt.Sprintf("%d bytes, longer than %d: a subscriber could not resume from it", len(id), MaxIDLen)}
	}
	if !utf8.ValidString(id) {
		return &UpdateError{Field: "id", Reason: "not valid UTF-8"}
	}
	for i, r := range id {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return &UpdateError{Field: "id", Reason: fmt.Sprintf("control character %U at byte %d", r, i)}
		}
		// Mercure 1.0, "Publication": no format characters either, as in
		// topics.
		if unicode.Is(unicode.Cf, r) {
			return &UpdateError{Field: "id", Reason: fmt.Sprintf("format character %U at byte %d", r, i)}
		}
	}
	if strings.HasPrefix(id, " ") || strings.HasSuffix(id, " ") {
		return &UpdateError{Field: "id", Reason: "starts or ends with a space, which a Last-Event-ID header drops"}
	}
	// Mercure reserves IDs starting with '#' (they would be read as URI
	// fragments).
	if strings.HasPrefix(id, "#") {
		return &UpdateError{Field: "id", Reason: "starts with '#'"}
	}
	// "earliest" asks for the whole history as a Last-Event-ID; an update
	// with that ID could never be resumed from.
	if id == EarliestID {
		return &UpdateError{Field: "id", Reason: `"earliest" is reserved`}
	}
	return nil
}

// CheckText returns why s cannot be a topic, selector or event type, or
// nil: it must be UTF-8 without C0 or C1 control characters, DEL, or
// Unicode format characters (category Cf: bidirectional and zero-width
// controls, invisible and so a way to spoof identifiers). Mercure 1.0,
// "Terminology" and "Publication". IDs follow the same rule and more (see
// ValidateID).
func CheckText(s string) error {
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			return errors.New("is not valid UTF-8")
		case r < 0x20 || r >= 0x7f && r <= 0x9f:
			return fmt.Errorf("contains the control character %U", r)
		case unicode.Is(unicode.Cf, r):
			return fmt.Errorf("contains the format character %U", r)
		}
	}
	return nil
}
