package jetstream

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// ErrCorrupt is wrapped by the error for a stream message this package
// cannot decode: written by something else, or damaged. It wraps
// hub.ErrCorrupt, which the hub acts on.
var ErrCorrupt = fmt.Errorf("jetstream: corrupt message: %w", hub.ErrCorrupt)

// A message body is, in order: the format byte, the append time (Unix
// nanoseconds, varint), the flags byte, Retry (nanoseconds, varint), the
// ID, the Type and the topic count followed by the topics, each string as a
// uvarint length and its bytes, and then Data up to the end. Everything is
// in the body, not in headers: a topic or type may hold bytes a NATS header
// cannot carry.
const (
	format1     = 1
	flagPrivate = 1
	// flagReused marks an update published while the stream held an
	// earlier update with its ID (see Log.Append and Log.Find).
	flagReused = 2
)

// appendBody appends the body of u, appended at t, to b; reused sets
// flagReused.
func appendBody(b []byte, u *hub.Update, t time.Time, reused bool) []byte {
	var flags byte
	if u.Private {
		flags |= flagPrivate
	}
	if reused {
		flags |= flagReused
	}
	b = append(b, format1)
	b = binary.AppendVarint(b, t.UnixNano())
	b = append(b, flags)
	b = binary.AppendVarint(b, int64(u.Retry))
	b = appendString(b, u.ID)
	b = appendString(b, u.Type)
	b = binary.AppendUvarint(b, uint64(len(u.Topics)))
	for _, t := range u.Topics {
		b = appendString(b, t)
	}
	return append(b, u.Data...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeBody decodes a body written by appendBody into an Update with the
// given Seq.
func decodeBody(seq uint64, b []byte) (*hub.Update, error) {
	u, _, err := decodeBodyFlags(seq, b)
	return u, err
}

// decodeBodyFlags is decodeBody that also reports flagReused.
func decodeBodyFlags(seq uint64, b []byte) (*hub.Update, bool, error) {
	d := decoder{b: b}
	if f := d.byte(); f != format1 {
		if d.err != nil {
			return nil, false, fmt.Errorf("%w: Seq %d: empty body", ErrCorrupt, seq)
		}
		return nil, false, fmt.Errorf("%w: Seq %d: unknown format %d", ErrCorrupt, seq, f)
	}
	ns := d.varint()
	flags := d.byte()
	retry := d.varint()
	u := &hub.Update{Seq: seq, Private: flags&flagPrivate != 0}
	u.ID = d.string()
	u.Type = d.string()
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) { // each topic takes at least a byte
		d.err = errors.New("topic count beyond the body")
	}
	if d.err == nil {
		u.Topics = make([]string, 0, n)
		for range n {
			u.Topics = append(u.Topics, d.string())
		}
	}
	if d.err == nil && flags&^(flagPrivate|flagReused) != 0 {
		d.err = fmt.Errorf("unknown flags %#x", flags)
	}
	if d.err != nil {
		return nil, false, fmt.Errorf("%w: Seq %d: %v", ErrCorrupt, seq, d.err)
	}
	u.Time = time.Unix(0, ns)
	u.Retry = time.Duration(retry)
	u.Data = string(d.b)
	return u, flags&flagReused != 0, nil
}

// decoder reads a body, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail("body ends early")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail("string beyond the body")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = errors.New(msg)
	}
}

// idToken is the subject token for an update ID: the first 128 bits of its
// SHA-256 in unpadded base64url (22 characters, all valid in a subject
// token). Each update is published on the subject of its ID, so that Find
// is one lookup of the last (or first) message on that subject; a hash
// keeps subjects short and free of the characters subjects reserve.
func idToken(id string) string {
	sum := sha256.Sum256([]byte(id))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// msgID is the Nats-Msg-Id header value for an update's retry key
// (hub.RetryKey), which starts with its ID. A header value
// cannot hold every byte an ID may hold, and the server trims spaces, so
// the ID is sent as it is only when it is made of printable ASCII other
// than a leading '~' or a leading or trailing space; otherwise it is '~'
// and the ID in base64url, which no verbatim ID can equal.
func msgID(id string) string {
	plain := id != "" && id[0] != '~' && id[0] != ' ' && id[len(id)-1] != ' '
	for i := 0; plain && i < len(id); i++ {
		plain = id[i] >= 0x20 && id[i] < 0x7f
	}
	if plain {
		return id
	}
	return "~" + base64.RawURLEncoding.EncodeToString([]byte(id))
}
