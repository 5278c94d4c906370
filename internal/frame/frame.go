// Package frame reads and writes the length-prefixed frames of coconet's streams.
//
// A frame is a length and that many bytes of body. Most protocols prefix the
// length as a uvarint (Read, Write, Append); the device claim protocol uses a
// 4-byte big-endian length (Read32, Write32). What the body holds (JSON,
// CBOR, raw bytes) is the caller's business.
//
// A reader never trusts the declared length for an allocation: it refuses a
// length over its limit with ErrTooLarge and otherwise reads the body into a
// buffer that grows as bytes actually arrive (4 KiB, then up to 32 KiB at a
// time), so a peer that declares a large frame and sends nothing costs a few
// KiB, not the frame.
package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// ErrTooLarge is a frame whose declared length is over the reader's limit.
var ErrTooLarge = errors.New("frame too large")

// A reader buffers firstChunk bytes at first and doubles that up to
// readChunk as bytes keep arriving: a declared length makes it allocate at
// most firstChunk before any of the body arrives, and a frame of up to
// firstChunk bytes is one allocation.
const (
	firstChunk = 4 << 10
	readChunk  = 32 << 10
)

// Reader is what Read needs: a bufio.Reader is one.
type Reader interface {
	io.Reader
	io.ByteReader
}

// Read reads a uvarint length of at most max and that many bytes. An error
// reading the length is returned as it is (io.EOF before the first byte); a
// length over max is ErrTooLarge; a body cut short wraps
// io.ErrUnexpectedEOF.
func Read(r Reader, max int) ([]byte, error) {
	l, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	return readBody(r, l, max)
}

// Read32 is Read for a 4-byte big-endian length.
func Read32(r io.Reader, max int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	return readBody(r, uint64(binary.BigEndian.Uint32(hdr[:])), max)
}

func readBody(r io.Reader, l uint64, max int) ([]byte, error) {
	if max < 0 || l > uint64(max) {
		return nil, fmt.Errorf("%w: a frame of %d bytes, more than the %d allowed", ErrTooLarge, l, max)
	}
	// A frame of up to firstChunk bytes is one allocation of its size; a
	// longer one grows by doubling, at most readChunk at a time, as its
	// bytes arrive.
	b := make([]byte, 0, min(l, firstChunk))
	for uint64(len(b)) < l {
		if len(b) == cap(b) {
			b = slices.Grow(b, int(min(l-uint64(len(b)), uint64(min(len(b), readChunk)))))
		}
		n, err := io.ReadFull(r, b[len(b):int(min(l, uint64(cap(b))))])
		b = b[:len(b)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("frame cut after %d of %d bytes: %w", len(b), l, err)
		}
	}
	return b, nil
}

// Append appends b to dst as one uvarint-prefixed frame.
func Append(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// Write writes b as one uvarint-prefixed frame, in one call to w.Write.
func Write(w io.Writer, b []byte) error {
	_, err := w.Write(Append(make([]byte, 0, binary.MaxVarintLen64+len(b)), b))
	return err
}

// Write32 writes b as one frame with a 4-byte big-endian length, in one call
// to w.Write. b must be shorter than 4 GiB.
func Write32(w io.Writer, b []byte) error {
	buf := make([]byte, 4, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	_, err := w.Write(append(buf, b...))
	return err
}
