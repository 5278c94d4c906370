package node

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
)

// Frames on every coconet stream are a uvarint length and a JSON body.
// maxFrame bounds what a peer can make us allocate.
const maxFrame = 8 << 20

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

func readFrame(r *bufio.Reader, v any, max int) error {
	l, err := binary.ReadUvarint(r)
	if err != nil {
		return err
	}
	if l > uint64(max) {
		return fmt.Errorf("frame of %d bytes exceeds limit %d", l, max)
	}
	b := make([]byte, l)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	return json.Unmarshal(b, v)
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
	l, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if l > uint64(max) {
		return nil, fmt.Errorf("message of %d bytes exceeds limit %d", l, max)
	}
	b := make([]byte, l)
	_, err = io.ReadFull(r, b)
	return b, err
}
