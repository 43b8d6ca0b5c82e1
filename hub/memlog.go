package hub

import (
	"cmp"
	"context"
	"iter"
	"slices"
	"sync"
	"time"
)

// DefaultMemoryLogMaxLen is the number of updates a MemoryLog keeps when
// MemoryLogOptions.MaxLen is zero.
const DefaultMemoryLogMaxLen = 10_000

// DefaultMemoryLogMaxBytes bounds the size of the updates a MemoryLog keeps
// when MemoryLogOptions.MaxBytes is zero: a count alone lets large updates
// take gigabytes (600 updates of 1 MiB took 931 MiB of RSS).
const DefaultMemoryLogMaxBytes = 256 << 20

// updateOverhead is what one kept update costs besides its strings: the
// Update and its pointer, the Topics slice header, the ID index entry.
const updateOverhead = 256

// readBatch bounds how many updates Read and Follow copy out per lock hold,
// so a long replay never blocks appends for long.
const readBatch = 256

// MemoryLogOptions configures a MemoryLog. The zero value keeps the newest
// DefaultMemoryLogMaxLen updates, within DefaultMemoryLogMaxBytes, with no
// age limit.
type MemoryLogOptions struct {
	// MaxLen is the number of newest updates kept; 0 means
	// DefaultMemoryLogMaxLen.
	MaxLen int
	// MaxAge, when positive, drops updates appended longer ago than this.
	MaxAge time.Duration
	// MaxBytes bounds the size of the kept updates: their ID, type, data
	// and topics, plus a fixed overhead each. The oldest are dropped
	// beyond it, but the newest update is always kept, however large. 0
	// means DefaultMemoryLogMaxBytes, negative no bound.
	MaxBytes int64
	// DuplicateWindow is how long an appended update's ID answers a second
	// append of it as a duplicate (see Log.Append) while the update is
	// kept; 0 means DefaultDuplicateWindow, negative turns that off.
	DuplicateWindow time.Duration
}

// MemoryLog is a Log held in process memory: fast, bounded, and lost when
// the process exits. A hub without a durable log uses one.
//
// Retention is applied on every operation, so an update older than MaxAge
// is never returned by Find or Read even if no append has happened since it
// aged out.
type MemoryLog struct {
	maxLen   int
	maxAge   time.Duration
	maxBytes int64         // 0: no bound
	window   time.Duration // the duplicate window; 0 for none

	mu      sync.Mutex
	ups     []*Update // ups[head:] are kept, in Seq order; Seqs are contiguous
	head    int
	bytes   int64             // the size of ups[head:], by updateSize
	last    uint64            // Seq of the newest update ever appended
	ids     map[string]idSpan // ID → its first and last copy
	wake    chan struct{}     // closed on the next append if waiting is set
	waiting bool
	closed  bool
	done    chan struct{} // closed by Close
}

// NewMemoryLog returns an empty MemoryLog.
func NewMemoryLog(opts MemoryLogOptions) *MemoryLog {
	if opts.MaxLen <= 0 {
		opts.MaxLen = DefaultMemoryLogMaxLen
	}
	switch {
	case opts.MaxBytes == 0:
		opts.MaxBytes = DefaultMemoryLogMaxBytes
	case opts.MaxBytes < 0:
		opts.MaxBytes = 0
	}
	return &MemoryLog{
		maxLen:   opts.MaxLen,
		maxAge:   max(opts.MaxAge, 0),
		maxBytes: opts.MaxBytes,
		window:   max(cmp.Or(opts.DuplicateWindow, DefaultDuplicateWindow), 0),
		ids:      make(map[string]idSpan),
		wake:     make(chan struct{}),
		done:     make(chan struct{}),
	}
}

// Append stores a copy of u and sets u.Seq and u.Time, unless it is a
// duplicate (see Log.Append).
func (m *MemoryLog) Append(ctx context.Context, u *Update) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := *u
	c.Topics = slices.Clone(u.Topics)

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	now := time.Now()
	m.expire(now)
	if d := m.duplicate(u, now); d != nil {
		u.Seq, u.Time = d.Seq, d.Time
		return nil
	}
	m.last++
	c.Seq, c.Time = m.last, now
	u.Seq, u.Time = c.Seq, c.Time
	m.ups = append(m.ups, &c)
	m.bytes += updateSize(&c)
	if c.ID != "" {
		sp, ok := m.ids[c.ID]
		if !ok {
			sp.first = c.Seq
		}
		sp.last = c.Seq
		m.ids[c.ID] = sp
	}
	for len(m.ups)-m.head > m.maxLen {
		m.dropOldest()
	}
	for m.maxBytes > 0 && m.bytes > m.maxBytes && len(m.ups)-m.head > 1 {
		m.dropOldest()
	}
	if m.waiting {
		// Followers wait on this channel; replacing it only when someone
		// waits keeps appends without followers allocation-free.
		close(m.wake)
		m.wake = make(chan struct{})
		m.waiting = false
	}
	return nil
}

// duplicate returns the newest kept update with u's ID when it was
// appended within the duplicate window before now and has u's content (a
// retry, see Log.Append), or nil. Only the newest copy is compared: a
// retry of an earlier copy of a reused ID is stored again.
func (m *MemoryLog) duplicate(u *Update, now time.Time) *Update {
	sp, ok := m.ids[u.ID]
	if !ok || m.window <= 0 || m.head == len(m.ups) {
		return nil
	}
	// Seqs are contiguous, so the newest copy's place follows from it.
	i := m.head + int(sp.last-m.ups[m.head].Seq)
	if i < m.head || i >= len(m.ups) || m.ups[i].Seq != sp.last {
		return nil
	}
	if d := m.ups[i]; now.Sub(d.Time) < m.window && sameContent(d, u) {
		return d
	}
	return nil
}

// Find returns the Seq of the earliest update with the given ID, as
// [Log] specifies.
func (m *MemoryLog) Find(ctx context.Context, id string) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	m.expire(time.Now())
	sp, ok := m.ids[id]
	if !ok || sp.first == 0 {
		return 0, ErrNotFound
	}
	return sp.first, nil
}

// Read yields the kept updates with Seq > after, up to the newest one at
// the time of the call. The yielded updates are shared: do not modify them.
func (m *MemoryLog) Read(ctx context.Context, after uint64) iter.Seq2[*Update, error] {
	return func(yield func(*Update, error) bool) {
		m.mu.Lock()
		end := m.last
		m.mu.Unlock()
		var batch []*Update
		for after < end {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			var err error
			batch, _, err = m.next(batch[:0], after, end, false)
			if err != nil {
				yield(nil, err)
				return
			}
			if len(batch) == 0 {
				return
			}
			for _, u := range batch {
				if !yield(u, nil) {
					return
				}
			}
			after = batch[len(batch)-1].Seq
		}
	}
}

// Follow yields every kept update with Seq > after and then each new one as
// it is appended, until ctx is done or the log is closed (ErrClosed). The
// yielded updates are shared: do not modify them.
func (m *MemoryLog) Follow(ctx context.Context, after uint64) iter.Seq2[*Update, error] {
	return func(yield func(*Update, error) bool) {
		var batch []*Update
		for {
			var (
				wake <-chan struct{}
				err  error
			)
			batch, wake, err = m.next(batch[:0], after, ^uint64(0), true)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, u := range batch {
				if !yield(u, nil) {
					return
				}
			}
			if len(batch) > 0 {
				after = batch[len(batch)-1].Seq
				continue
			}
			select {
			case <-ctx.Done():
				return
			case <-m.done:
			case <-wake:
			}
		}
	}
}

// next appends to dst up to readBatch kept updates with after < Seq ≤ end.
// When there are none and wait is set, it also returns the channel the next
// append closes.
func (m *MemoryLog) next(dst []*Update, after, end uint64, wait bool) ([]*Update, <-chan struct{}, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return dst, nil, ErrClosed
	}
	m.expire(time.Now())
	kept := m.ups[m.head:]
	if len(kept) > 0 && after < m.last {
		i := 0
		if first := kept[0].Seq; after >= first {
			i = int(after - first + 1)
		}
		for _, u := range kept[i:min(len(kept), i+readBatch)] {
			if u.Seq > end {
				break
			}
			dst = append(dst, u)
		}
	}
	if len(dst) > 0 || !wait {
		return dst, nil, nil
	}
	m.waiting = true
	return dst, m.wake, nil
}

// Last returns the Seq of the newest update ever appended.
func (m *MemoryLog) Last(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	return m.last, nil
}

// Len returns the number of updates kept. Its signature is that of the
// stores' Len (bolt, redis), so that a server reports any log's size alike.
func (m *MemoryLog) Len(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	m.expire(time.Now())
	return len(m.ups) - m.head, nil
}

// Close drops every update and ends all Follow calls with ErrClosed.
// Closing a closed log returns ErrClosed.
func (m *MemoryLog) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.closed = true
	close(m.done)
	m.ups, m.ids = nil, nil
	return nil
}

// expire drops the updates older than maxAge at now.
func (m *MemoryLog) expire(now time.Time) {
	if m.maxAge <= 0 {
		return
	}
	for m.head < len(m.ups) && now.Sub(m.ups[m.head].Time) > m.maxAge {
		m.dropOldest()
	}
}

func (m *MemoryLog) dropOldest() {
	u := m.ups[m.head]
	if sp, ok := m.ids[u.ID]; ok {
		switch u.Seq {
		case sp.last:
			delete(m.ids, u.ID)
		case sp.first:
			// Later copies are kept, but where a subscriber holding the
			// ID stands is no longer known.
			sp.first = 0
			m.ids[u.ID] = sp
		}
	}
	m.bytes -= updateSize(u)
	m.ups[m.head] = nil
	m.head++
	// Compact once the dropped prefix dominates, so the slice stays within
	// twice the kept length and each update is moved O(1) times amortized.
	if m.head >= 64 && m.head*2 >= len(m.ups) {
		n := copy(m.ups, m.ups[m.head:])
		clear(m.ups[n:])
		m.ups = m.ups[:n]
		m.head = 0
	}
}

// updateSize is what u counts for against MaxBytes.
func updateSize(u *Update) int64 {
	n := updateOverhead + len(u.ID) + len(u.Type) + len(u.Data)
	for _, t := range u.Topics {
		n += 16 + len(t)
	}
	return int64(n)
}

// idSpan is the first and last kept update with one ID; first is 0 once
// the first copy is gone and later ones are kept.
type idSpan struct{ first, last uint64 }
