package node

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/coconet/coconet/internal/frame"
)

// Frames on every coconet stream are a uvarint length and a JSON body,
// read and written by internal/frame: a declared length over the limit is
// ErrFrameTooLarge, and a body is allocated as its bytes arrive.

// ErrFrameTooLarge is a frame (or message) longer than its protocol allows.
// It is frame.ErrTooLarge, so errors.Is matches either name.
var ErrFrameTooLarge = frame.ErrTooLarge

func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return frame.Write(w, b)
}

// readFrame reads one frame of at most max bytes and decodes it into v.
func readFrame(r *bufio.Reader, v any, max int) error {
	b, err := frame.Read(r, max)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("bad frame: %w", err)
	}
	return nil
}

// readBody reads a uvarint length of at most max and that many bytes,
// allocating as they arrive. what no longer shows in errors (they all say
// "frame"); it stays for the tests that call readBody.
func readBody(r *bufio.Reader, max int, what string) ([]byte, error) {
	_ = what
	return frame.Read(r, max)
}
