package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT: with a source
// address set, it defers choosing the source port to connect, so that the
// port range is per destination rather than shared by every bound socket.
const ipBindAddressNoPort = 24

// bindNoPort is a net.Dialer Control function setting ipBindAddressNoPort.
func bindNoPort(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// fdLimit returns the process's file descriptor limit, raising the soft
// limit to the hard one first.
func fdLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
		}
	}
	return l.Cur, nil
}

// selfCPU returns the CPU time (user and system) this process used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procRSS returns the resident set size of process pid ("self" for this
// one) in KiB, from /proc/PID/status.
func procRSS(pid string) (uint64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:")); ok {
			f := bytes.Fields(v)
			if len(f) >= 1 {
				return strconv.ParseUint(string(f[0]), 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("/proc/%s/status: no VmRSS line", pid)
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// procCPU returns the CPU time (user and system) process pid used so far,
// from /proc/PID/stat.
func procCPU(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name in parentheses may hold spaces; fields follow it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%s/stat: malformed", pid)
	}
	f := bytes.Fields(b[i+1:])
	// utime and stime are fields 14 and 15, the 12th and 13th after ")".
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%s/stat: malformed", pid)
	}
	u, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	s, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%s/stat: malformed times", pid)
	}
	return time.Duration(u+s) * time.Second / clockTicks, nil
}
