package drive

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode/utf8"
)

// Operation kinds.
const (
	opPut    = 1 // Path now holds Chunks
	opDelete = 2 // Path is gone
	opRename = 3 // From is gone and Path holds what From held
	opMark   = 4 // no change: proves the key of an epoch (Drive.Mark)
)

// Clock is one writer's entry in a version vector: the position (1-based)
// of the writer's latest operation on the path that the author had seen.
type Clock struct {
	W WriterID `cbor:"1,keyasint"`
	N uint64   `cbor:"2,keyasint"`
}

// VV is a version vector, sorted by writer, without zero entries.
type VV []Clock

func (v VV) get(w WriterID) uint64 {
	i, ok := slices.BinarySearchFunc(v, w, func(c Clock, w WriterID) int { return bytes.Compare(c.W[:], w[:]) })
	if !ok {
		return 0
	}
	return v[i].N
}

// merge returns the entry-wise maximum of v and o.
func (v VV) merge(o VV) VV {
	out := make(VV, 0, len(v)+len(o))
	i, j := 0, 0
	for i < len(v) || j < len(o) {
		switch {
		case j == len(o) || (i < len(v) && bytes.Compare(v[i].W[:], o[j].W[:]) < 0):
			out = append(out, v[i])
			i++
		case i == len(v) || bytes.Compare(v[i].W[:], o[j].W[:]) > 0:
			out = append(out, o[j])
			j++
		default:
			out = append(out, Clock{v[i].W, max(v[i].N, o[j].N)})
			i++
			j++
		}
	}
	return out
}

// with returns v with w's entry set to n.
func (v VV) with(w WriterID, n uint64) VV { return v.merge(VV{{w, n}}) }

// Ordering of two version vectors.
const (
	vvEqual = iota
	vvBefore
	vvAfter
	vvConcurrent
)

func (v VV) compare(o VV) int {
	m := v.merge(o)
	le, ge := true, true // v <= o, v >= o
	for _, c := range m {
		a, b := v.get(c.W), o.get(c.W)
		if a < b {
			ge = false
		}
		if a > b {
			le = false
		}
	}
	switch {
	case le && ge:
		return vvEqual
	case le:
		return vvBefore
	case ge:
		return vvAfter
	}
	return vvConcurrent
}

func (v VV) valid() bool {
	for i, c := range v {
		if c.N == 0 || (i > 0 && bytes.Compare(v[i-1].W[:], c.W[:]) >= 0) {
			return false
		}
	}
	return true
}

// Op is one change to the drive, sealed in a log entry.
type Op struct {
	Kind   uint8  `cbor:"1,keyasint"`
	Path   string `cbor:"2,keyasint"`
	VV     VV     `cbor:"3,keyasint"`
	From   string `cbor:"4,keyasint,omitempty"`
	FromVV VV     `cbor:"5,keyasint,omitempty"`
	MTime  int64  `cbor:"6,keyasint,omitempty"` // Unix nanoseconds
	Size   int64  `cbor:"7,keyasint,omitempty"`
	Chunks []Hash `cbor:"8,keyasint,omitempty"`
	// ChunkEpoch is the epoch whose key sealed Chunks (older than the
	// op's own after a rename of an old file).
	ChunkEpoch uint32 `cbor:"9,keyasint,omitempty"`
}

// MaxPath is the longest path in a drive, in bytes.
const MaxPath = 4096

// CleanPath returns p as the drive stores it: slash-separated, relative,
// cleaned; it refuses empty paths, "..", and invalid UTF-8.
func CleanPath(p string) (string, error) {
	if !utf8.ValidString(p) || len(p) > MaxPath || strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("%w: path %q", ErrMalformed, p)
	}
	c := strings.TrimPrefix(path.Clean("/"+p), "/")
	if c == "" || c == "." {
		return "", fmt.Errorf("%w: empty path %q", ErrMalformed, p)
	}
	return c, nil
}

// check validates an op read from a log against its author w at position
// seq: its own clock entry must be seq (so that two operations of one
// writer are never concurrent).
func (o *Op) check(w WriterID, seq uint64) error {
	if o.Kind == opMark {
		if o.Path != "" || o.From != "" || o.FromVV != nil || o.Size != 0 || len(o.Chunks) != 0 || !o.VV.valid() || o.VV.get(w) != seq {
			return fmt.Errorf("%w: mark with content", ErrMalformed)
		}
		return nil
	}
	if c, err := CleanPath(o.Path); err != nil || c != o.Path {
		return fmt.Errorf("%w: op path %q", ErrMalformed, o.Path)
	}
	if !o.VV.valid() || o.VV.get(w) != seq {
		return fmt.Errorf("%w: op version vector", ErrMalformed)
	}
	switch o.Kind {
	case opPut, opDelete:
		if o.From != "" || o.FromVV != nil {
			return fmt.Errorf("%w: from on a put or delete", ErrMalformed)
		}
	case opRename:
		if c, err := CleanPath(o.From); err != nil || c != o.From || o.From == o.Path {
			return fmt.Errorf("%w: rename from %q", ErrMalformed, o.From)
		}
		if !o.FromVV.valid() || o.FromVV.get(w) != seq {
			return fmt.Errorf("%w: rename version vector", ErrMalformed)
		}
	default:
		return fmt.Errorf("%w: op kind %d", ErrMalformed, o.Kind)
	}
	if o.Kind == opDelete && (o.Size != 0 || len(o.Chunks) != 0) {
		return fmt.Errorf("%w: delete with content", ErrMalformed)
	}
	return nil
}
