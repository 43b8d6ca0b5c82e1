package testproc

import (
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestStartWithLines: Options.Line gets every line of the output once, in
// order, however the writes split it, and Options.Env is the environment.
func TestStartWithLines(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	p, err := StartWith("/bin/sh", Options{
		Env:  []string{"GREETING=hello"},
		Line: func(b []byte) { mu.Lock(); lines = append(lines, string(b)); mu.Unlock() },
	}, "-c", `printf 'a\nb'; sleep 0.05; printf 'b\n%s\n' "$GREETING"; printf 'tail'`)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Exited():
	case <-time.After(10 * time.Second):
		p.Stop(syscall.SIGKILL, time.Second)
		t.Fatal("sh did not exit")
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"a", "bb", "hello"}; !slices.Equal(lines, want) {
		t.Errorf("lines %q, want %q", lines, want)
	}
	if out := p.Output(); out != "a\nbb\nhello\ntail" || p.ExitCode() != 0 || !strings.HasSuffix(p.Tail(), "tail") {
		t.Errorf("output %q, exit %d", out, p.ExitCode())
	}
}
