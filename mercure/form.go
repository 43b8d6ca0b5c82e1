package mercure

import (
	"errors"
	"net/url"
	"strconv"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// reservedType is the event type of the updates the hub generates itself,
// such as Mercure 1.0 subscription events.
const reservedType = "mercure"

// maxRetryMillis keeps a retry field representable as a time.Duration.
const maxRetryMillis = int64(1<<63-1) / int64(time.Millisecond)

// parseUpdate turns publish form fields into an update: topic (repeatable,
// the first canonical), data, id, type, retry (milliseconds) and private
// (present means private, whatever its value).
func parseUpdate(form url.Values, maxTopics int) (*hub.Update, error) {
	topics := form["topic"]
	switch {
	case len(topics) == 0:
		return nil, badField("topic", "missing: at least one is required")
	case len(topics) > maxTopics:
		return nil, badField("topic", "%d given, at most %d allowed", len(topics), maxTopics)
	}
	for _, t := range topics {
		if t == "" {
			return nil, badField("topic", "must not be empty")
		}
	}
	u := &hub.Update{
		Topics: topics,
		ID:     form.Get("id"),
		Type:   form.Get("type"),
		Data:   form.Get("data"),
	}
	_, u.Private = form["private"]
	if u.Type == reservedType {
		// Mercure 1.0, "Publication": a subscriber must be able to trust
		// that an event of this type comes from the hub.
		return nil, badField("type", "%q is reserved for the events the hub generates", reservedType)
	}
	// The id, type and topic rules are the hub's: one definition, here
	// turned into an error that names the form field.
	if err := u.Validate(); err != nil {
		if ue, ok := errors.AsType[*hub.UpdateError](err); ok {
			return nil, badField(ue.Field, "%s", ue.Reason)
		}
		return nil, err
	}
	if s := form.Get("retry"); s != "" {
		ms, err := parseDigits(s)
		if err != nil || ms > maxRetryMillis {
			return nil, badField("retry", "must be a number of milliseconds in ASCII digits, got %q", s)
		}
		u.Retry = time.Duration(ms) * time.Millisecond
	}
	return u, nil
}

// parseDigits parses s as decimal ASCII digits only: no sign, no spaces.
func parseDigits(s string) (int64, error) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	return strconv.ParseInt(s, 10, 64)
}
