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
// a well-formed update, for example one added to the stream by hand. It
// wraps hub.ErrCorrupt, which the hub acts on.
var ErrCorrupt = fmt.Errorf("redis: corrupt stream entry: %w", hub.ErrCorrupt)

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
	d := entryDecoder{id: id, values: values}
	u := &hub.Update{Seq: seq}
	if t := d.required(fieldTime); d.err == nil {
		us, err := strconv.ParseInt(t, 10, 64)
		if err != nil || us < 0 {
			d.bad(fieldTime, t, "not Unix microseconds")
		}
		u.Time = time.UnixMicro(us)
	}
	u.ID = d.required(fieldID)
	if topics, ok := d.optional(fieldTopics); ok {
		var err error
		if u.Topics, err = parseTopics(topics); err != nil {
			d.bad(fieldTopics, topics, err.Error())
		}
	}
	u.Type, _ = d.optional(fieldType)
	u.Data, _ = d.optional(fieldData)
	if r, ok := d.optional(fieldRetry); ok {
		ns, err := strconv.ParseInt(r, 10, 64)
		if err != nil {
			d.bad(fieldRetry, r, "not nanoseconds")
		}
		u.Retry = time.Duration(ns)
	}
	if p, ok := d.optional(fieldPrivate); ok {
		if p != "1" {
			d.bad(fieldPrivate, p, `not "1"`)
		}
		u.Private = true
	}
	if d.err != nil {
		return nil, d.err
	}
	return u, nil
}

// entryDecoder reads the fields of a stream entry, remembering the first
// error so that decodeEntry checks once at the end, as bolt's decoder does.
type entryDecoder struct {
	id     string
	values map[string]any
	err    error
}

func (d *entryDecoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// bad records that field holds v, which it should not, and why.
func (d *entryDecoder) bad(field, v, why string) {
	d.fail(fmt.Errorf("%w: entry %s: field %q = %.40q: %s", ErrCorrupt, d.id, field, v, why))
}

// optional returns the value of field, and whether the entry has it.
func (d *entryDecoder) optional(field string) (string, bool) {
	if d.err != nil {
		return "", false
	}
	v, ok := d.values[field]
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		d.fail(fmt.Errorf("%w: entry %s: field %q holds a %T, not a string", ErrCorrupt, d.id, field, v))
		return "", false
	}
	return s, true
}

// required returns the value of field, which the entry must have.
func (d *entryDecoder) required(field string) string {
	s, ok := d.optional(field)
	if !ok && d.err == nil {
		d.fail(fmt.Errorf("%w: entry %s: field %q is missing", ErrCorrupt, d.id, field))
	}
	return s
}
