//go:build unix

package hub

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time the process has used, user and system. The
// benchmarks report it per delivery because wall time on a shared machine
// says more about the neighbours than about the hub.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
