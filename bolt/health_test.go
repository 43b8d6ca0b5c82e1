package bolt

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	bbolt "go.etcd.io/bbolt"
)

// damage closes l and changes its file with fn, as a disk fault or a
// careless hand would, outside the log.
func damage(t *testing.T, l *Log, path string, fn func(f *os.File, pageSize int)) {
	t.Helper()
	pageSize := l.db.Info().PageSize
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fn(f, pageSize)
}

// pagesOfType returns the IDs of l's pages of type typ.
func pagesOfType(t *testing.T, l *Log, typ string) []int64 {
	t.Helper()
	var ids []int64
	l.db.View(func(tx *bbolt.Tx) error {
		for id := range int(tx.Size()) / l.db.Info().PageSize {
			if p, err := tx.Page(id); err == nil && p != nil && p.Type == typ {
				ids = append(ids, int64(id))
			}
		}
		return nil
	})
	if len(ids) == 0 {
		t.Fatalf("no %s page", typ)
	}
	return ids
}

// flipVersion sets the version byte of the record of update seq to 9.
func flipVersion(t *testing.T, path string, seq uint64) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketUpdates)
		v := bytes.Clone(b.Get(seqKey(seq)))
		v[0] = 9
		return b.Put(seqKey(seq), v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpenRefusesCorruptFile is issue 19, item 4, at start: a file with a
// record that does not decode, or with damaged pages, is refused by Open
// with an error naming the file and what to do, never a panic and never a
// silent start; SkipCheck opens the record-damaged one anyway.
func TestOpenRefusesCorruptFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, l *Log, path string)
		canSkip bool
	}{
		{"a record's version byte", func(t *testing.T, l *Log, path string) {
			l.Close()
			flipVersion(t, path, 5)
		}, true},
		{"the freelist page", func(t *testing.T, l *Log, path string) {
			free := pagesOfType(t, l, "freelist")
			damage(t, l, path, func(f *os.File, ps int) {
				for _, id := range free {
					f.WriteAt(bytes.Repeat([]byte{0xAB}, ps), id*int64(ps))
				}
			})
		}, false},
		{"a leaf page", func(t *testing.T, l *Log, path string) {
			leaves := pagesOfType(t, l, "leaf")
			damage(t, l, path, func(f *os.File, ps int) {
				// The page header's flags: a page of no known type.
				f.WriteAt([]byte{0xEE, 0xEE}, leaves[len(leaves)/2]*int64(ps)+8)
			})
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, path := openTest(t, Options{})
			appendN(t, l, 200, "id")
			tc.damage(t, l, path)
			l2, err := Open(path, Options{})
			if err == nil {
				l2.Close()
				t.Fatal("Open accepted the damaged file")
			}
			t.Logf("Open: %v", err)
			if !errors.Is(err, ErrCorruptFile) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "backup") {
				t.Fatalf("Open = %v, want ErrCorruptFile naming the file and what to do", err)
			}
			if !tc.canSkip {
				return
			}
			l2, err = Open(path, Options{SkipCheck: true})
			if err != nil {
				t.Fatalf("Open with SkipCheck: %v", err)
			}
			defer l2.Close()
			if err := l2.Health(context.Background()); err != nil {
				t.Fatalf("Health before the damaged record is read: %v", err)
			}
		})
	}
}

// TestCorruptRecordAtRunTime is issue 19, items 4 and 5, at run time: a read
// that reaches a record that does not decode yields the records before it
// and then the error (never a silent end), logs an ERROR naming the file
// once, and makes Health report the corruption from then on.
func TestCorruptRecordAtRunTime(t *testing.T) {
	l, path := openTest(t, Options{})
	appendN(t, l, 10, "id")
	l.Close()
	flipVersion(t, path, 5)
	logs := &syncBuffer{}
	l, err := Open(path, Options{SkipCheck: true, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	for range 2 {
		var got []uint64
		var last error
		for u, err := range l.Read(ctx, 2) {
			if err != nil {
				last = err
				break
			}
			got = append(got, u.Seq)
		}
		if len(got) != 2 || !errors.Is(last, ErrCorrupt) {
			t.Fatalf("Read(2) = %v then %v, want 3, 4 then ErrCorrupt", got, last)
		}
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 || !strings.Contains(logs.String(), path) {
		t.Errorf("%d ERROR lines naming the file, want 1:\n%s", n, logs)
	}
	if err := l.Health(ctx); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Errorf("Health = %v, want the corruption naming the file", err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
