package pubsub

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	lenframe "github.com/coconet/coconet/internal/frame"
)

// TestFrameTooLargeIs: a frame over the limit matches the one sentinel.
func TestFrameTooLargeIs(t *testing.T) {
	_, _, err := readFrame(bufio.NewReader(bytes.NewReader(binary.AppendUvarint(nil, maxFrame+1))))
	if !errors.Is(err, lenframe.ErrTooLarge) {
		t.Errorf("readFrame(%d byte frame) = %v, want frame.ErrTooLarge", maxFrame+1, err)
	}
}
