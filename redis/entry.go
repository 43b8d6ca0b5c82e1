package redis

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// ErrCorrupt is wrapped by the error returned for a stream entry that is not
// a well-formed update, for example one added to the stream by hand.
var ErrCorrupt = errors.New("redis: corrupt stream entry")

// Stream entry fields. The append script writes fieldTime and fieldID first,
// so the trimmer finds them without scanning the payload fields.
const (
	fieldTime    = "t"       // Redis server time of the append, Unix microseconds
	fieldID      = "id"      // Update.ID
	fieldTopics  = "topics"  // each topic as <byte length>:<bytes>, see appendTopics
	fieldType    = "type"    // omitted when empty
	fieldData    = "data"    // omitted when empty
	fieldRetry   = "retry"   // nanoseconds, omitted when zero
	fieldPrivate = "private" // "1", omitted when false
)

// appendFields returns the field-value pairs for u that the append script
// adds after fieldTime. fieldID comes first.
func appendFields(dst []any, u *hub.Update) []any {
	dst = append(dst, fieldID, u.ID)
	if len(u.Topics) > 0 {
		dst = append(dst, fieldTopics, appendTopics(nil, u.Topics))
	}
	if u.Type != "" {
		dst = append(dst, fieldType, u.Type)
	}
	if u.Data != "" {
		dst = append(dst, fieldData, u.Data)
	}
	if u.Retry != 0 {
		dst = append(dst, fieldRetry, strconv.FormatInt(int64(u.Retry), 10))
	}
	if u.Private {
		dst = append(dst, fieldPrivate, "1")
	}
	return dst
}

// appendTopics encodes topics as length-prefixed strings, "3:foo5:a:b:c".
// Unlike JSON it keeps any byte sequence as it is, and it stays readable in
// redis-cli.
func appendTopics(dst []byte, topics []string) []byte {
	for _, t := range topics {
		dst = strconv.AppendInt(dst, int64(len(t)), 10)
		dst = append(dst, ':')
		dst = append(dst, t...)
	}
	return dst
}

// parseTopics decodes what appendTopics wrote.
func parseTopics(s string) ([]string, error) {
	var topics []string
	for s != "" {
		n, rest, ok := strings.Cut(s, ":")
		if !ok {
			return nil, errors.New("missing ':' after a length")
		}
		l, err := strconv.ParseUint(n, 10, 31)
		if err != nil || (len(n) > 1 && n[0] == '0') {
			return nil, fmt.Errorf("bad length %.20q", n)
		}
		if uint64(len(rest)) < l {
			return nil, fmt.Errorf("length %d runs past the end", l)
		}
		topics = append(topics, rest[:l])
		s = rest[l:]
	}
	return topics, nil
}

// entryID returns the stream entry ID of the update with the given Seq.
func entryID(seq uint64) string {
	return strconv.FormatUint(seq, 10) + "-0"
}

// parseEntryID returns the Seq of a stream entry ID written by entryID.
func parseEntryID(id string) (uint64, error) {
	ms, rest, ok := strings.Cut(id, "-")
	if !ok || rest != "0" {
		return 0, fmt.Errorf("%w: entry ID %q is not <seq>-0", ErrCorrupt, id)
	}
	seq, err := strconv.ParseUint(ms, 10, 64)
	if err != nil || seq == 0 {
		return 0, fmt.Errorf("%w: entry ID %q is not <seq>-0", ErrCorrupt, id)
	}
	return seq, nil
}

// decodeEntry returns the update stored in the stream entry with the given
// ID and field values, as go-redis reports them.
func decodeEntry(id string, values map[string]any) (*hub.Update, error) {
	seq, err := parseEntryID(id)
	if err != nil {
		return nil, err
	}
	u := &hub.Update{Seq: seq}
	field := func(name string) (string, bool, error) {
		v, ok := values[name]
		if !ok {
			return "", false, nil
		}
		s, ok := v.(string)
		if !ok {
			return "", false, fmt.Errorf("%w: entry %s: field %q holds a %T, not a string", ErrCorrupt, id, name, v)
		}
		return s, true, nil
	}
	bad := func(name, v string, why string) error {
		return fmt.Errorf("%w: entry %s: field %q = %.40q: %s", ErrCorrupt, id, name, v, why)
	}

	t, ok, err := field(fieldTime)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: entry %s: field %q is missing", ErrCorrupt, id, fieldTime)
	}
	us, err := strconv.ParseInt(t, 10, 64)
	if err != nil || us < 0 {
		return nil, bad(fieldTime, t, "not Unix microseconds")
	}
	u.Time = time.UnixMicro(us)

	if u.ID, ok, err = field(fieldID); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("%w: entry %s: field %q is missing", ErrCorrupt, id, fieldID)
	}
	if topics, ok, err := field(fieldTopics); err != nil {
		return nil, err
	} else if ok {
		if u.Topics, err = parseTopics(topics); err != nil {
			return nil, bad(fieldTopics, topics, err.Error())
		}
	}
	if u.Type, _, err = field(fieldType); err != nil {
		return nil, err
	}
	if u.Data, _, err = field(fieldData); err != nil {
		return nil, err
	}
	if r, ok, err := field(fieldRetry); err != nil {
		return nil, err
	} else if ok {
		ns, err := strconv.ParseInt(r, 10, 64)
		if err != nil {
			return nil, bad(fieldRetry, r, "not nanoseconds")
		}
		u.Retry = time.Duration(ns)
	}
	if p, ok, err := field(fieldPrivate); err != nil {
		return nil, err
	} else if ok {
		if p != "1" {
			return nil, bad(fieldPrivate, p, `not "1"`)
		}
		u.Private = true
	}
	return u, nil
}
