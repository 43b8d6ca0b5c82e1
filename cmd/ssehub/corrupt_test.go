package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// TestRunCorruptHistory is issue 19, items 4 and 5, on the binary: one
// record of the bolt history no longer decodes (its version byte flipped,
// as a disk fault would). The hub refuses to start on the file, naming it
// and what to do; with --skip-check it starts, and a subscriber resuming
// before the damage gets the updates up to it and then a stream that
// fails, never a silent empty 200; /healthz turns 503, and resuming again
// is refused with 503 while live-only subscribers are still served.
func TestRunCorruptHistory(t *testing.T) {
	for _, noHijack := range []bool{false, true} {
		t.Run(fmt.Sprint("no-hijack=", noHijack), func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"--data", dir, "--jwt-key", testKey, "--anonymous"}
			if noHijack {
				args = append(args, "--no-hijack")
			}
			const topic = "https://example.com/c"
			r := startRun(t, args...)
			c := newClient(t)
			tok := token(t, testKey, []string{"*"}, nil, time.Minute)
			for i := 1; i <= 10; i++ {
				mustPublish(t, c, r.base, tok, url.Values{"topic": {topic}, "id": {fmt.Sprint("u", i)}, "data": {fmt.Sprint(i)}})
			}
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
			c.CloseIdleConnections()
			flipRecordVersion(t, filepath.Join(dir, historyFileName), 5)

			cfg, err := parseConfig(append([]string{"--addr", "127.0.0.1:0"}, args...), noEnv, &strings.Builder{})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			err = run(ctx, cfg, runEnv{Logger: testLogger(t), Stderr: &strings.Builder{}, Ready: func(string) { t.Error("the hub started on a corrupt file") }})
			if err == nil || !strings.Contains(err.Error(), historyFileName) || !strings.Contains(err.Error(), "backup") || !strings.Contains(err.Error(), "--skip-check") {
				t.Fatalf("run on a corrupt file = %v, want an error naming the file and what to do", err)
			}

			r = startRun(t, append(args, "--skip-check")...)
			s := subscribe(t, c, r.base, "", "u2", topic)
			for _, want := range []string{"u3", "u4"} {
				if ev := s.next(); ev.ID != want {
					t.Fatalf("resumed from u2: got %+v, want %s", ev, want)
				}
			}
			end := s.ended()
			if noHijack && end == nil {
				t.Error("the stream over the corrupt record ended as if complete")
			}
			code, body := get(t, c, r.base+"/healthz")
			if code != http.StatusServiceUnavailable || !strings.Contains(body, "corrupt") {
				t.Errorf("/healthz after the damage was read = %d %q, want 503 naming it", code, body)
			}
			_, err = openSubscription(t, c, r.base, "", "u4", topic)
			if statusOf(err) != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "Last-Event-ID") {
				t.Errorf("resuming again: %v, want 503 naming Last-Event-ID", err)
			}
			live := subscribe(t, c, r.base, "", "", topic)
			mustPublish(t, c, r.base, tok, url.Values{"topic": {topic}, "id": {"live"}, "data": {"live"}})
			if ev := live.next(); ev.ID != "live" {
				t.Errorf("live-only subscriber got %+v", ev)
			}
		})
	}
}

// flipRecordVersion sets the version byte of the record of update seq in
// the bolt file at path to 9.
func flipRecordVersion(t *testing.T, path string, seq uint64) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key := binary.BigEndian.AppendUint64(nil, seq)
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("updates"))
		if b == nil || b.Get(key) == nil {
			return errors.New("no such record")
		}
		v := bytes.Clone(b.Get(key))
		v[0] = 9
		return b.Put(key, v)
	})
	if err != nil {
		t.Fatal(err)
	}
}
