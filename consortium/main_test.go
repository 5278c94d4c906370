package consortium

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that every node, transport and network a test started was
// stopped with all its goroutines.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
