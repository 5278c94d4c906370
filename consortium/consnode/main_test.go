package consnode_test

import (
	"testing"

	"github.com/coconet/coconet/internal/nettest"
)

// The service, its streams and its node stop their goroutines on Close.
func TestMain(m *testing.M) { nettest.VerifyNoLeaks(m) }
