package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestKeyCreatedPrivateAndReused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // created on demand
	kf, err := loadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(kf.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !kf.Created || fi.Mode().Perm() != 0o600 || len(kf.Key) < 43 {
		t.Errorf("created %v, mode %v, key %d bytes; want a new 0600 file with 32 random bytes", kf.Created, fi.Mode().Perm(), len(kf.Key))
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode %v, want 0700", di.Mode().Perm())
	}
	again, err := loadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Created || !bytes.Equal(again.Key, kf.Key) {
		t.Errorf("second load: created %v, same key %v; want the stored key back", again.Created, bytes.Equal(again.Key, kf.Key))
	}
	// No temporary files are left behind.
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("data directory holds %d entries, want only the key", len(ents))
	}
	other, _ := loadOrCreateKey(t.TempDir())
	if bytes.Equal(other.Key, kf.Key) {
		t.Error("two data directories got the same key")
	}
}

func TestKeyConcurrentFirstRunsAgree(t *testing.T) {
	dir := t.TempDir()
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			kf, err := loadOrCreateKey(dir)
			if err != nil {
				t.Error(err)
			}
			keys[i] = kf.Key
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) {
			t.Fatal("hubs starting together on one directory got different keys")
		}
	}
}

func TestKeyFileKept(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, keyFileName)
	// A key written by hand, loosely protected, is used as it is.
	os.WriteFile(path, []byte("  my own key\n"), 0o644)
	kf, err := loadOrCreateKey(dir)
	if err != nil || string(kf.Key) != "my own key" || kf.Mode != 0o644 {
		t.Errorf("key %q, mode %v, err %v", kf.Key, kf.Mode, err)
	}
	// An empty one is an error, never silently replaced.
	os.WriteFile(path, []byte("\n"), 0o600)
	if _, err := loadOrCreateKey(dir); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty key file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "\n" {
		t.Errorf("empty key file rewritten to %q", b)
	}
}
