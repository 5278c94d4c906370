package ledger

// A small CBOR (RFC 8949) codec for exactly the Op schema.
//
// The spec suggested github.com/fxamacker/cbor/v2, but the module is not in
// go.mod and this package must not edit files outside ledger/. The schema is
// a flat map with small integer keys whose values are unsigned or negative
// integers, byte strings, text strings and one array of byte strings, so the
// Core Deterministic Encoding (RFC 8949 §4.2.1) is easy to produce by hand:
// shortest-form heads, definite lengths, keys in ascending order. The bytes
// are the ones fxamacker's CoreDetEncOptions would produce for the same
// struct with keyasint and omitempty/omitzero tags.
//
// Decoding is strict: it accepts only what the encoder produces (checked by
// re-encoding and comparing), so every accepted encoding is canonical and an
// op has exactly one ID.

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

const (
	majUint  = 0
	majNeg   = 1
	majBytes = 2
	majText  = 3
	majArray = 4
	majMap   = 5
)

type cborEnc struct{ b []byte }

func (e *cborEnc) head(major byte, n uint64) {
	m := major << 5
	switch {
	case n < 24:
		e.b = append(e.b, m|byte(n))
	case n <= math.MaxUint8:
		e.b = append(e.b, m|24, byte(n))
	case n <= math.MaxUint16:
		e.b = append(e.b, m|25, byte(n>>8), byte(n))
	case n <= math.MaxUint32:
		e.b = append(e.b, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	default:
		e.b = append(e.b, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
			byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

func (e *cborEnc) int(v int64) {
	if v >= 0 {
		e.head(majUint, uint64(v))
	} else {
		e.head(majNeg, uint64(^v)) // -1-v
	}
}

func (e *cborEnc) bytes(b []byte) {
	e.head(majBytes, uint64(len(b)))
	e.b = append(e.b, b...)
}

func (e *cborEnc) text(s string) {
	e.head(majText, uint64(len(s)))
	e.b = append(e.b, s...)
}

type cborDec struct {
	b   []byte
	off int
}

var errShort = errors.New("unexpected end of data")

func (d *cborDec) head() (major byte, arg uint64, err error) {
	if d.off >= len(d.b) {
		return 0, 0, errShort
	}
	c := d.b[d.off]
	d.off++
	major, info := c>>5, c&31
	var n int
	switch {
	case info < 24:
		return major, uint64(info), nil
	case info == 24:
		n = 1
	case info == 25:
		n = 2
	case info == 26:
		n = 4
	case info == 27:
		n = 8
	default:
		return 0, 0, fmt.Errorf("indefinite length or reserved value (0x%02x) at byte %d", c, d.off-1)
	}
	if len(d.b)-d.off < n {
		return 0, 0, errShort
	}
	for _, x := range d.b[d.off : d.off+n] {
		arg = arg<<8 | uint64(x)
	}
	d.off += n
	return major, arg, nil
}

func (d *cborDec) int() (int64, error) {
	major, arg, err := d.head()
	if err != nil {
		return 0, err
	}
	if arg > math.MaxInt64 {
		return 0, errors.New("integer out of range")
	}
	switch major {
	case majUint:
		return int64(arg), nil
	case majNeg:
		return ^int64(arg), nil
	}
	return 0, fmt.Errorf("want an integer, got major type %d", major)
}

func (d *cborDec) uint8() (uint8, error) {
	major, arg, err := d.head()
	if err != nil {
		return 0, err
	}
	if major != majUint || arg > math.MaxUint8 {
		return 0, errors.New("want a small unsigned integer")
	}
	return uint8(arg), nil
}

func (d *cborDec) bytes() ([]byte, error) {
	major, n, err := d.head()
	if err != nil {
		return nil, err
	}
	if major != majBytes {
		return nil, fmt.Errorf("want a byte string, got major type %d", major)
	}
	if n > uint64(len(d.b)-d.off) {
		return nil, errShort
	}
	b := append([]byte(nil), d.b[d.off:d.off+int(n)]...)
	d.off += int(n)
	return b, nil
}

func (d *cborDec) key32() ([32]byte, error) {
	var k [32]byte
	b, err := d.bytes()
	if err != nil {
		return k, err
	}
	if len(b) != 32 {
		return k, fmt.Errorf("want 32 bytes, got %d", len(b))
	}
	copy(k[:], b)
	return k, nil
}

func (d *cborDec) text() (string, error) {
	major, n, err := d.head()
	if err != nil {
		return "", err
	}
	if major != majText {
		return "", fmt.Errorf("want a text string, got major type %d", major)
	}
	if n > uint64(len(d.b)-d.off) {
		return "", errShort
	}
	s := string(d.b[d.off : d.off+int(n)])
	d.off += int(n)
	if !utf8.ValidString(s) {
		return "", errors.New("text is not valid UTF-8")
	}
	return s, nil
}
