//go:build !linux

package main

import (
	"errors"
	"syscall"
	"time"
)

var errNoProc = errors.New("process statistics need Linux's /proc")

func bindNoPort(network, address string, c syscall.RawConn) error { return nil }

// fdLimit assumes the limit of the machines the generator is tuned for.
func fdLimit() (uint64, error) { return 20000, nil }

func selfCPU() time.Duration { return 0 }

func procRSS(pid string) (uint64, error) { return 0, errNoProc }

func procCPU(pid string) (time.Duration, error) { return 0, errNoProc }
