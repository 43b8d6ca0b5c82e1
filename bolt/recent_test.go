package bolt

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

func recentUpdates(first uint64, n int, data string) []*hub.Update {
	out := make([]*hub.Update, n)
	for i := range out {
		seq := first + uint64(i)
		out[i] = &hub.Update{ID: fmt.Sprint("r", seq), Topics: []string{"t"}, Data: data, Seq: seq, Time: time.Unix(0, int64(seq))}
	}
	return out
}

func TestRecentWindow(t *testing.T) {
	r := recent{limit: 10}
	if got, ok := r.get(nil, 0, 0, 100); ok || len(got) != 0 {
		t.Fatalf("empty window: get = %v, %v", seqs(got), ok)
	}
	for first := uint64(1); first <= 26; first += 5 {
		r.add(recentUpdates(first, 5, "x"))
	}
	// Seqs 1..30 were added, the newest 10 are kept.
	for _, tt := range []struct {
		after  uint64
		max    int
		cutoff int64
		want   []uint64
		ok     bool
	}{
		{after: 19, max: 100, ok: false},
		{after: 20, max: 100, want: []uint64{21, 22, 23, 24, 25, 26, 27, 28, 29, 30}, ok: true},
		{after: 27, max: 100, want: []uint64{28, 29, 30}, ok: true},
		{after: 22, max: 2, want: []uint64{23, 24}, ok: true},
		{after: 30, max: 100, ok: true},
		{after: 40, max: 100, ok: true},
		// Past MaxAge: skipped without counting against max.
		{after: 20, max: 2, cutoff: 26, want: []uint64{26, 27}, ok: true},
	} {
		got, ok := r.get(nil, tt.after, tt.cutoff, tt.max)
		if ok != tt.ok || !reflect.DeepEqual(seqs(got), append([]uint64{}, tt.want...)) {
			t.Errorf("get(after %d, max %d, cutoff %d) = %v, %v; want %v, %v", tt.after, tt.max, tt.cutoff, seqs(got), ok, tt.want, tt.ok)
		}
	}

	// A gap empties the window rather than serving across it.
	r.add(recentUpdates(40, 2, "x"))
	if got, ok := r.get(nil, 30, 0, 100); ok {
		t.Errorf("after a gap, get(30) = %v, true; want a miss", seqs(got))
	}
	if got, ok := r.get(nil, 39, 0, 100); !ok || !reflect.DeepEqual(seqs(got), []uint64{40, 41}) {
		t.Errorf("after a gap, get(39) = %v, %v", seqs(got), ok)
	}
}

func TestRecentBoundsBytes(t *testing.T) {
	r := recent{limit: maxRecent}
	big := strings.Repeat("d", maxRecentBytes/4)
	r.add(recentUpdates(1, 10, big))
	if r.bytes > maxRecentBytes {
		t.Errorf("window holds %d bytes, more than %d", r.bytes, maxRecentBytes)
	}
	got, ok := r.get(nil, 9, 0, 100)
	if !ok || !reflect.DeepEqual(seqs(got), []uint64{10}) {
		t.Errorf("get(9) = %v, %v; want the newest update", seqs(got), ok)
	}
	if _, ok := r.get(nil, 0, 0, 100); ok {
		t.Error("the oldest updates are still held past the byte bound")
	}
}

// A follower gets from memory exactly what it would have read from the
// file, and one further behind than the window reads the file and then
// joins the window without losing or repeating an update.
func TestFollowFromMemoryMatchesFile(t *testing.T) {
	l, path := openTest(t, Options{})
	l.recent.limit = 100 // so that following from 0 starts in the file
	const n = readChunk + 50
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 10 {
		wg.Go(func() {
			for i := g; i < n; i += 10 {
				u := &hub.Update{ID: fmt.Sprint("id", i), Topics: []string{"https://example.com/t", fmt.Sprint("t", i%3)},
					Type: []string{"", "kind"}[i%2], Data: strings.Repeat("é", i%7), Retry: time.Duration(i%4) * time.Second, Private: i%5 == 0}
				if err := l.Append(ctx, u); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	follow := func(l *Log) []*hub.Update {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var out []*hub.Update
		for u, err := range l.Follow(ctx, 0) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, u)
			if len(out) == n {
				break
			}
		}
		return out
	}
	before := l.visited.Load()
	mem := follow(l)
	if v := l.visited.Load() - before; v != readChunk {
		t.Errorf("following from 0 read %d records from the file; want one chunk of %d, the rest from memory", v, readChunk)
	}
	file := follow(reopen(t, l, path, Options{}))
	if len(mem) != n || len(file) != n {
		t.Fatalf("followed %d updates live and %d after reopening, want %d", len(mem), len(file), n)
	}
	for i := range mem {
		if mem[i].Seq != uint64(i+1) {
			t.Fatalf("update %d has Seq %d", i, mem[i].Seq)
		}
		if !reflect.DeepEqual(mem[i], file[i]) {
			t.Fatalf("update %d differs:\nlive %+v\nfile %+v", i, mem[i], file[i])
		}
	}
}
