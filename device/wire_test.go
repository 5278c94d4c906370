package device

import (
	"bytes"
	"testing"
)

// TestFrameBytes pins the claim protocol's framing: a 4-byte big-endian
// length and CBOR.
func TestFrameBytes(t *testing.T) {
	var buf bytes.Buffer
	writeFrame(&buf, claimReply{OK: true})
	if got, want := buf.Bytes(), []byte{0, 0, 0, 3, 0xa1, 0x01, 0xf5}; !bytes.Equal(got, want) {
		t.Errorf("writeFrame(claimReply{OK: true}) = % x, want % x", got, want)
	}
}
