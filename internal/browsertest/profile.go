package browsertest

import (
	"bytes"
	"os"
	"strconv"
	"testing"
	"time"
)

// Profile returns a new empty directory for a browser's profile
// (--user-data-dir), which the test may fill before New starts the
// browser. When the test ends, after the browser, Profile kills what is
// left of it and removes the directory. chromedp waits for the main
// process only, and Chromium's children (the network service, the
// zygote) can outlive it and still write there: t.TempDir's removal then
// failed the test with "directory not empty".
func Profile(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "browsertest-profile-")
	if err != nil {
		t.Fatal(err)
	}
	// Registered before New's cleanup, this one runs after it.
	t.Cleanup(func() {
		killLeftovers(dir)
		var err error
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if err = os.RemoveAll(dir); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Errorf("browsertest: remove the profile: %v", err)
		}
	})
	return dir
}

// killLeftovers kills the processes started with dir as their profile,
// which Chromium passes to every child, until none has shown up for a few
// looks in a row (a child may fork as its parent dies), for at most two
// seconds. Without /proc it finds none.
func killLeftovers(dir string) {
	want := []byte("--user-data-dir=" + dir)
	deadline := time.Now().Add(2 * time.Second)
	for quiet := 0; quiet < 3 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		quiet++
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if err != nil {
				continue
			}
			for arg := range bytes.SplitSeq(cmdline, []byte{0}) {
				if bytes.Equal(arg, want) {
					if p, err := os.FindProcess(pid); err == nil {
						p.Kill()
					}
					quiet = 0
					break
				}
			}
		}
	}
}
