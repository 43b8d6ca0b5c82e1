//go:build unix

package main

import (
	"os"
	"syscall"
	"testing"

	"github.com/ssehub/ssehub/cmd/ssehub/ssehubtest"
)

func TestMain(m *testing.M) {
	os.Exit(ssehubtest.Main(m))
}

const sigterm = syscall.SIGTERM
