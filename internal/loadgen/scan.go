package loadgen

import (
	"bytes"
	"errors"
	"io"
)

// errBadPayload reports a data line that is not "SEQ UNIXNANOS".
var errBadPayload = errors.New("data: want \"SEQ UNIXNANOS\"")

// dataScanner reads the values of the data fields of an event stream with
// one small fixed buffer, skipping every other line. It is what each of the
// generator's connections runs, so it does no per-line allocation; lines
// longer than the buffer are skipped whole.
type dataScanner struct {
	r          io.Reader
	buf        []byte
	start, end int
	skipping   bool // inside a line too long for buf
}

func newDataScanner(r io.Reader, size int) *dataScanner {
	return &dataScanner{r: r, buf: make([]byte, size)}
}

// next returns the value of the next data field, valid until the following
// call, or the reader's error (io.EOF at the end of the stream).
func (s *dataScanner) next() ([]byte, error) {
	for {
		if i := bytes.IndexByte(s.buf[s.start:s.end], '\n'); i >= 0 {
			line := s.buf[s.start : s.start+i]
			s.start += i + 1
			if s.skipping {
				s.skipping = false
				continue
			}
			if v, ok := bytes.CutPrefix(line, []byte("data:")); ok {
				v = bytes.TrimSuffix(v, []byte("\r"))
				if len(v) > 0 && v[0] == ' ' {
					v = v[1:]
				}
				return v, nil
			}
			continue
		}
		if s.start > 0 {
			s.end = copy(s.buf, s.buf[s.start:s.end])
			s.start = 0
		}
		if s.end == len(s.buf) {
			s.skipping, s.end = true, 0
		}
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if n == 0 && err != nil {
			return nil, err
		}
	}
}

// parsePayload parses the generator's data value "SEQ UNIXNANOS".
func parsePayload(v []byte) (seq uint64, ts int64, err error) {
	sp := bytes.IndexByte(v, ' ')
	if sp <= 0 {
		return 0, 0, errBadPayload
	}
	seq, ok := parseDecimal(v[:sp])
	t, ok2 := parseDecimal(v[sp+1:])
	if !ok || !ok2 || t > 1<<62 {
		return 0, 0, errBadPayload
	}
	return seq, int64(t), nil
}

// parseDecimal parses up to 19 ASCII digits.
func parseDecimal(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}
