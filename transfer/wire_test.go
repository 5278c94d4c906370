package transfer

import (
	"bytes"
	"testing"
)

// TestFrameBytes pins the transfer protocol's framing: a uvarint length and
// JSON.
func TestFrameBytes(t *testing.T) {
	var buf bytes.Buffer
	writeJSON(&buf, answer{Offset: 5})
	if got, want := buf.String(), "\x0c{\"offset\":5}"; got != want {
		t.Errorf("writeJSON(answer{Offset: 5}) = %q, want %q", got, want)
	}
}
