package jetstream_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves goroutines behind: every Follow,
// sweep and connection must end with its context or its Log.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
