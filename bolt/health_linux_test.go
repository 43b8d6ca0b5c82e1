package bolt

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"

	"github.com/ssehub/ssehub/hub"
)

// TestHealthReportsFailedCommit is issue 19, item 5: Health reports the
// last commit's failure until a commit succeeds, so a hub whose writes fail
// (here the file may not grow, as on a full disk: RLIMIT_FSIZE makes the
// kernel refuse with EFBIG) is not called healthy.
//
// The limit is the whole process's, so the test runs in a child process
// of its own: set in this one, it also refused the test binary's own files
// (go test's testlog.txt failed with "file too large" in CI).
func TestHealthReportsFailedCommit(t *testing.T) {
	if os.Getenv(fsizeChildEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHealthReportsFailedCommit$", "-test.v")
		cmd.Env = append(os.Environ(), fsizeChildEnv+"=1")
		out, err := cmd.CombinedOutput()
		switch {
		case err != nil:
			t.Fatalf("child process: %v\n%s", err, out)
		case strings.Contains(string(out), "--- SKIP"):
			t.Skipf("child process skipped:\n%s", out)
		case !strings.Contains(string(out), "--- PASS: TestHealthReportsFailedCommit"):
			t.Fatalf("child process ran no test:\n%s", out)
		}
		return
	}
	l, _ := openTest(t, Options{})
	ctx := context.Background()
	appendN(t, l, 3, "id")
	if err := l.Health(ctx); err != nil {
		t.Fatalf("Health of a sound log: %v", err)
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Skip(err)
	}
	// Past the limit a write fails with EFBIG instead of killing us.
	signal.Ignore(syscall.SIGXFSZ)
	defer signal.Reset(syscall.SIGXFSZ)
	// Any size below the file's: it may not grow any more.
	limit := syscall.Rlimit{Cur: uint64(l.db.Info().PageSize) * 4, Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Skipf("cannot lower RLIMIT_FSIZE: %v", err)
	}
	big := strings.Repeat("x", 512<<10)
	var appendErr error
	for i := 0; i < 64 && appendErr == nil; i++ {
		appendErr = l.Append(ctx, &hub.Update{ID: "big", Topics: []string{"t"}, Data: big})
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if appendErr == nil {
		t.Fatal("every append succeeded though the file could not grow")
	}
	if err := l.Health(ctx); err == nil || !strings.Contains(err.Error(), "last commit failed") {
		t.Fatalf("Health after a failed commit = %v", err)
	}
	appendN(t, l, 1, "again")
	if err := l.Health(ctx); err != nil {
		t.Fatalf("Health after a successful commit: %v", err)
	}
	l.Close()
	if err := l.Health(ctx); !errors.Is(err, hub.ErrClosed) {
		t.Fatalf("Health after Close = %v", err)
	}
}

// fsizeChildEnv marks the child process that [TestHealthReportsFailedCommit]
// starts to lower its file size limit in.
const fsizeChildEnv = "SSEHUB_BOLT_FSIZE_CHILD"
