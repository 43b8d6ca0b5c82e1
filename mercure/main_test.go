package mercure

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: every
// subscriber's stream, watcher and hub goroutine must end with its test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
