package bolt

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// ErrCorrupt is wrapped by the error returned for a stored record that
// cannot be decoded, or for page damage bbolt panics on. It wraps
// hub.ErrCorrupt, which the hub acts on.
var ErrCorrupt = fmt.Errorf("bolt: corrupt record: %w", hub.ErrCorrupt)

// Record layout, version 1. The time sits at a fixed offset so the committer
// can stamp a pre-encoded record and the trimmer can read it without decoding
// the rest; the ID follows right after so trimming can find its index entry
// cheaply.
//
//	version   1 byte (recordV1)
//	time      8 bytes, big-endian Unix nanoseconds
//	flags     1 byte (flagPrivate)
//	id        uvarint length + bytes
//	retry     varint nanoseconds
//	type      uvarint length + bytes
//	topics    uvarint count, then each uvarint length + bytes
//	data      uvarint length + bytes
const (
	recordV1    = 1
	timeOffset  = 1
	flagsOffset = timeOffset + 8
	headerLen   = flagsOffset + 1

	flagPrivate = 1 << 0
	knownFlags  = flagPrivate
)

// encodeUpdate appends the record form of u to dst, with a zero time; the
// committer stamps the time with setRecordTime.
func encodeUpdate(dst []byte, u *hub.Update) []byte {
	dst = slices.Grow(dst, recordLen(u))
	dst = append(dst, recordV1)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	var flags byte
	if u.Private {
		flags |= flagPrivate
	}
	dst = append(dst, flags)
	dst = appendString(dst, u.ID)
	dst = binary.AppendVarint(dst, int64(u.Retry))
	dst = appendString(dst, u.Type)
	dst = binary.AppendUvarint(dst, uint64(len(u.Topics)))
	for _, t := range u.Topics {
		dst = appendString(dst, t)
	}
	dst = appendString(dst, u.Data)
	return dst
}

// recordLen returns the length of the record form of u, so that encoding
// it takes one allocation.
func recordLen(u *hub.Update) int {
	n := headerLen + stringLen(u.ID) + varintLen(int64(u.Retry)) + stringLen(u.Type) +
		uvarintLen(uint64(len(u.Topics))) + stringLen(u.Data)
	for _, t := range u.Topics {
		n += stringLen(t)
	}
	return n
}

func stringLen(s string) int { return uvarintLen(uint64(len(s))) + len(s) }

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// varintLen mirrors binary.AppendVarint's zig-zag encoding.
func varintLen(v int64) int {
	ux := uint64(v) << 1
	if v < 0 {
		ux = ^ux
	}
	return uvarintLen(ux)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// setRecordTime stamps an encoded record with t (Unix nanoseconds).
func setRecordTime(rec []byte, t int64) {
	binary.BigEndian.PutUint64(rec[timeOffset:], uint64(t))
}

// recordTime returns the time stamped on an encoded record.
func recordTime(rec []byte) (int64, error) {
	if len(rec) < headerLen || rec[0] != recordV1 {
		return 0, fmt.Errorf("%w: bad header", ErrCorrupt)
	}
	return int64(binary.BigEndian.Uint64(rec[timeOffset:])), nil
}

// recordID returns the ID of an encoded record without decoding the rest.
// The returned slice aliases rec.
func recordID(rec []byte) ([]byte, error) {
	if _, err := recordTime(rec); err != nil {
		return nil, err
	}
	d := decoder{b: rec[headerLen:]}
	id := d.bytes("id")
	return id, d.err
}

// decodeUpdate decodes a record into a new Update whose Seq is seq. The
// strings are copied, so rec may be reused afterwards (bbolt's memory is
// valid only inside its transaction).
func decodeUpdate(rec []byte, seq uint64) (*hub.Update, error) {
	t, err := recordTime(rec)
	if err != nil {
		return nil, err
	}
	flags := rec[flagsOffset]
	if flags&^knownFlags != 0 {
		return nil, fmt.Errorf("%w: unknown flags %#x", ErrCorrupt, flags)
	}
	d := decoder{b: rec[headerLen:]}
	u := &hub.Update{
		Seq:     seq,
		Time:    time.Unix(0, t),
		Private: flags&flagPrivate != 0,
	}
	u.ID = string(d.bytes("id"))
	u.Retry = time.Duration(d.varint("retry"))
	u.Type = string(d.bytes("type"))
	// Each topic takes at least one byte, which bounds the allocation by
	// the record's size whatever count a corrupt record claims.
	if n := d.uvarint("topics"); d.err == nil {
		if n > uint64(len(d.b)) {
			d.fail("topics", "count exceeds record")
		} else if n > 0 {
			u.Topics = make([]string, n)
			for i := range u.Topics {
				u.Topics[i] = string(d.bytes("topics"))
			}
		}
	}
	u.Data = string(d.bytes("data"))
	if d.err == nil && len(d.b) != 0 {
		d.fail("data", "trailing bytes")
	}
	if d.err != nil {
		return nil, d.err
	}
	return u, nil
}

// decoder reads fields from a record, remembering the first error so the
// caller can check once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(field, reason string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: field %s: %s", ErrCorrupt, field, reason)
	}
	d.b = nil
}

func (d *decoder) uvarint(field string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	// Only the minimal encoding is accepted, so one update has one record.
	var buf [binary.MaxVarintLen64]byte
	if n <= 0 || n != len(binary.AppendUvarint(buf[:0], v)) {
		d.fail(field, "bad length")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(field string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	var buf [binary.MaxVarintLen64]byte
	if n <= 0 || n != len(binary.AppendVarint(buf[:0], v)) {
		d.fail(field, "bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(field string) []byte {
	n := d.uvarint(field)
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(field, "length exceeds record")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}
