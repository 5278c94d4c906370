package ota

import (
	"bytes"
	"testing"
)

// TestFrameBytes pins the image protocol's framing: a uvarint length and
// JSON.
func TestFrameBytes(t *testing.T) {
	var buf bytes.Buffer
	writeFrame(&buf, fetchReply{Size: 100})
	if got, want := buf.String(), "\x0c{\"size\":100}"; got != want {
		t.Errorf("writeFrame(fetchReply{Size: 100}) = %q, want %q", got, want)
	}
}
