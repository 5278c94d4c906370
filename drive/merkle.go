package drive

import (
	"crypto"
	_ "crypto/sha256" // rfc6962.New(crypto.SHA256)
	"fmt"
	"slices"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// HashSize is the size of a Merkle hash, a chunk address and a key.
const HashSize = 32

// Hash is a SHA-256 value: a Merkle root or node, or a chunk's address.
type Hash [HashSize]byte

var hasher = rfc6962.New(crypto.SHA256)

var rangeFactory = &compact.RangeFactory{Hash: hasher.HashChildren}

// tree holds every perfect subtree hash of an RFC 6962 log: levels[l][i] is
// the hash of the perfect subtree at level l and index i. It answers roots
// at any past size and inclusion and consistency proofs; it is rebuilt from
// the blocks when a log is opened.
type tree struct {
	levels [][][]byte
	rng    *compact.Range
}

func newTree() *tree { return &tree{rng: rangeFactory.NewEmptyRange(0)} }

func (t *tree) size() uint64 { return t.rng.End() }

// appendLeaf adds the leaf hash of the next block.
func (t *tree) appendLeaf(leaf []byte) {
	err := t.rng.Append(leaf, func(id compact.NodeID, h []byte) {
		for uint(len(t.levels)) <= id.Level {
			t.levels = append(t.levels, nil)
		}
		l := t.levels[id.Level]
		if uint64(len(l)) != id.Index {
			panic(fmt.Sprintf("drive: merkle node %d/%d visited out of order", id.Level, id.Index))
		}
		t.levels[id.Level] = append(l, h)
	})
	if err != nil {
		panic("drive: merkle append: " + err.Error())
	}
}

// truncate drops the leaves from n on (rebuilding is simpler than undoing).
func (t *tree) truncate(n uint64) {
	if n >= t.size() {
		return
	}
	leaves := t.levels[0][:n]
	*t = *newTree()
	for _, l := range leaves {
		t.appendLeaf(l)
	}
}

func (t *tree) node(id compact.NodeID) []byte { return t.levels[id.Level][id.Index] }

// rangeHashes returns the hashes of the perfect subtrees covering [begin, end).
func (t *tree) rangeHashes(begin, end uint64) [][]byte {
	ids := compact.RangeNodes(begin, end, nil)
	hs := make([][]byte, len(ids))
	for i, id := range ids {
		hs[i] = t.node(id)
	}
	return hs
}

// root returns the root at size n <= size().
func (t *tree) root(n uint64) Hash {
	return rootOfRange(t.rangeHashes(0, n), n)
}

func rootOfRange(hashes [][]byte, n uint64) Hash {
	var h Hash
	if n == 0 {
		copy(h[:], hasher.EmptyRoot())
		return h
	}
	r, err := rangeFactory.NewRange(0, n, slices.Clone(hashes))
	if err != nil {
		panic("drive: merkle range: " + err.Error())
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		panic("drive: merkle root: " + err.Error())
	}
	copy(h[:], root)
	return h
}

func (t *tree) proof(n proof.Nodes) [][]byte {
	hs := make([][]byte, len(n.IDs))
	for i, id := range n.IDs {
		hs[i] = t.node(id)
	}
	out, err := n.Rehash(hs, hasher.HashChildren)
	if err != nil {
		panic("drive: merkle rehash: " + err.Error())
	}
	return out
}

// inclusion returns the proof that leaf i is in the tree of size n.
func (t *tree) inclusion(i, n uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(i, n)
	if err != nil {
		return nil, err
	}
	return t.proof(nodes), nil
}

// consistency returns the proof that the tree of size n1 is a prefix of the
// tree of size n2.
func (t *tree) consistency(n1, n2 uint64) ([][]byte, error) {
	nodes, err := proof.Consistency(n1, n2)
	if err != nil {
		return nil, err
	}
	return t.proof(nodes), nil
}

// extendRoot is the root of size from+len(leaves) of the log whose first
// from leaves are covered by prefix (the hashes of the perfect subtrees
// covering [0, from)), and the hashes covering [from, from+len(leaves)).
func extendRoot(prefix [][]byte, from uint64, leaves [][]byte) (Hash, [][]byte, error) {
	left, err := rangeFactory.NewRange(0, from, slices.Clone(prefix))
	if err != nil {
		return Hash{}, nil, err
	}
	right := rangeFactory.NewEmptyRange(from)
	for _, l := range leaves {
		if err := right.Append(l, nil); err != nil {
			return Hash{}, nil, err
		}
	}
	rightHashes := right.Hashes()
	if err := left.AppendRange(right, nil); err != nil {
		return Hash{}, nil, err
	}
	var h Hash
	if left.End() == 0 {
		copy(h[:], hasher.EmptyRoot())
		return h, rightHashes, nil
	}
	root, err := left.GetRootHash(nil)
	if err != nil {
		return Hash{}, nil, err
	}
	copy(h[:], root)
	return h, rightHashes, nil
}

func leafHash(block []byte) []byte { return hasher.HashLeaf(block) }

// VerifyInclusion checks that block is entry i of the log whose signed root
// is r, given the proof from Log.Inclusion.
func VerifyInclusion(r SignedRoot, i uint64, block []byte, p [][]byte) error {
	if err := proof.VerifyInclusion(hasher, i, r.Size, leafHash(block), p, r.Root[:]); err != nil {
		return fmt.Errorf("%w: block %d of %s: %v", ErrTampered, i, r.Writer.Short(), err)
	}
	return nil
}

// VerifyConsistency checks that the log at a is a prefix of the log at b
// (same writer, a.Size <= b.Size), given the proof from Log.Consistency.
func VerifyConsistency(a, b SignedRoot, p [][]byte) error {
	if a.Writer != b.Writer || a.Size > b.Size {
		return fmt.Errorf("drive: consistency of unrelated roots")
	}
	if err := proof.VerifyConsistency(hasher, a.Size, b.Size, p, a.Root[:], b.Root[:]); err != nil {
		return fmt.Errorf("%w: roots %d and %d of %s: %v", ErrInconsistent, a.Size, b.Size, a.Writer.Short(), err)
	}
	return nil
}
