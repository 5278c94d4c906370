package engine_test

import (
	"testing"

	"github.com/coconet/coconet/internal/nettest"
)

// Every engine, its node and services stop their goroutines on Close.
func TestMain(m *testing.M) { nettest.VerifyNoLeaks(m) }
