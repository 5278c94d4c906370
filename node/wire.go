package node

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Frames on every coconet stream are a uvarint length and a JSON body.
//
// A reader never trusts the declared length for an allocation: it refuses a
// length over its limit (ErrFrameTooLarge) and otherwise reads the body into
// a buffer that grows as bytes actually arrive, so a peer that declares a
// large frame and sends nothing costs us a few hundred bytes, not the frame.

// ErrFrameTooLarge is a frame (or message) longer than its protocol allows.
var ErrFrameTooLarge = errors.New("frame too large")

// readChunk is how much a reader buffers at a time: the most a declared
// length makes it allocate before the bytes arrive.
const readChunk = 32 << 10

func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(b)))
	if _, err := w.Write(append(hdr[:n:n], b...)); err != nil {
		return err
	}
	return nil
}

// readFrame reads one frame of at most max bytes and decodes it into v.
func readFrame(r *bufio.Reader, v any, max int) error {
	b, err := readBody(r, max, "frame")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("bad frame: %w", err)
	}
	return nil
}

// readBody reads a uvarint length of at most max and that many bytes,
// allocating as they arrive.
func readBody(r *bufio.Reader, max int, what string) ([]byte, error) {
	l, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if l > uint64(max) {
		return nil, fmt.Errorf("%w: a %s of %d bytes, more than the %d allowed", ErrFrameTooLarge, what, l, max)
	}
	var buf bytes.Buffer
	for rest := int64(l); rest > 0; {
		n := min(rest, readChunk)
		buf.Grow(int(n))
		got, err := io.CopyN(&buf, r, n)
		rest -= got
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("%s cut after %d of %d bytes: %w", what, int64(l)-rest, l, err)
		}
	}
	if buf.Len() == 0 {
		return []byte{}, nil
	}
	return buf.Bytes(), nil
}

// writeBytes writes a uvarint length and b in one write.
func writeBytes(w io.Writer, b []byte) error {
	buf := make([]byte, binary.MaxVarintLen64+len(b))
	n := binary.PutUvarint(buf, uint64(len(b)))
	n += copy(buf[n:], b)
	_, err := w.Write(buf[:n])
	return err
}

// readBytes reads what writeBytes wrote, refusing lengths over max.
func readBytes(r *bufio.Reader, max int) ([]byte, error) {
	return readBody(r, max, "message")
}
