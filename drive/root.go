package drive

import (
	"crypto/ed25519"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Address names a drive: the public key of a standalone group, or a value
// derived from a network and a drive name. Every root and block is bound to
// it.
type Address [32]byte

// String is the address in lowercase hex.
func (a Address) String() string { return hex.EncodeToString(a[:]) }

// ParseAddress parses the form produced by String.
func ParseAddress(s string) (Address, error) {
	var a Address
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(a) {
		return a, fmt.Errorf("%w: %q is not a drive address", ErrMalformed, s)
	}
	copy(a[:], b)
	return a, nil
}

// WriterID is the Ed25519 public key that signs one writer's log.
type WriterID [32]byte

// WriterOf returns the writer ID of a private key.
func WriterOf(k ed25519.PrivateKey) WriterID {
	var w WriterID
	copy(w[:], k.Public().(ed25519.PublicKey))
	return w
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// String is the full ID in lowercase hex.
func (w WriterID) String() string { return hex.EncodeToString(w[:]) }

// Short is 7 upper-case base32 characters, like Syncthing's short device ID;
// it names the writer in conflict copies.
func (w WriterID) Short() string { return b32.EncodeToString(w[:])[:7] }

func (w WriterID) less(o WriterID) bool { return strings.Compare(string(w[:]), string(o[:])) < 0 }

// SignedRoot is a writer's signature over the Merkle root of the first Size
// blocks of its log in one drive. A replica holds the latest one of each
// writer and serves it with the blocks.
type SignedRoot struct {
	Drive  Address  `cbor:"1,keyasint"`
	Writer WriterID `cbor:"2,keyasint"`
	Size   uint64   `cbor:"3,keyasint"`
	Root   Hash     `cbor:"4,keyasint"`
	Sig    []byte   `cbor:"5,keyasint"`
}

const rootContext = "coconet/v1/drive-root\x00"

func rootMessage(drive Address, w WriterID, size uint64, root Hash) []byte {
	m := make([]byte, 0, len(rootContext)+32+32+8+32)
	m = append(m, rootContext...)
	m = append(m, drive[:]...)
	m = append(m, w[:]...)
	m = binary.BigEndian.AppendUint64(m, size)
	return append(m, root[:]...)
}

func signRoot(k ed25519.PrivateKey, drive Address, size uint64, root Hash) SignedRoot {
	w := WriterOf(k)
	return SignedRoot{Drive: drive, Writer: w, Size: size, Root: root,
		Sig: ed25519.Sign(k, rootMessage(drive, w, size, root))}
}

// Verify checks the signature of r for drive.
func (r SignedRoot) Verify(drive Address) error {
	if r.Drive != drive {
		return fmt.Errorf("%w: root of %s, this is %s", ErrWrongDrive, r.Drive, drive)
	}
	if len(r.Sig) != ed25519.SignatureSize ||
		!ed25519.Verify(ed25519.PublicKey(r.Writer[:]), rootMessage(r.Drive, r.Writer, r.Size, r.Root), r.Sig) {
		return fmt.Errorf("%w: root %d of writer %s", ErrBadSignature, r.Size, r.Writer.Short())
	}
	return nil
}

// ForkProof shows that a writer signed two roots that cannot both be
// prefixes of one log: A.Size <= B.Size, Prefix are the hashes of the
// perfect subtrees covering [0, A.Size) in B's tree and Rest those covering
// [A.Size, B.Size); Prefix does not hash to A.Root but Prefix and Rest
// together hash to B.Root. When the sizes are equal and the roots differ,
// Prefix and Rest are empty. Anyone can check it with the writer's public
// key alone; it cannot be made without the writer's signatures.
type ForkProof struct {
	A      SignedRoot `cbor:"1,keyasint"`
	B      SignedRoot `cbor:"2,keyasint"`
	Prefix [][]byte   `cbor:"3,keyasint"`
	Rest   [][]byte   `cbor:"4,keyasint"`
}

// Verify checks the proof for drive.
func (p ForkProof) Verify(drive Address) error {
	if err := p.A.Verify(drive); err != nil {
		return err
	}
	if err := p.B.Verify(drive); err != nil {
		return err
	}
	if p.A.Writer != p.B.Writer || p.A.Size > p.B.Size {
		return fmt.Errorf("%w: fork proof of unrelated roots", ErrMalformed)
	}
	if p.A.Size == p.B.Size {
		if p.A.Root == p.B.Root || len(p.Prefix)+len(p.Rest) != 0 {
			return fmt.Errorf("%w: fork proof of equal roots", ErrMalformed)
		}
		return nil
	}
	for _, h := range append(append([][]byte(nil), p.Prefix...), p.Rest...) {
		if len(h) != HashSize {
			return fmt.Errorf("%w: fork proof hash of %d bytes", ErrMalformed, len(h))
		}
	}
	left, err := rangeFactory.NewRange(0, p.A.Size, slices.Clone(p.Prefix))
	if err != nil {
		return fmt.Errorf("%w: fork proof prefix: %v", ErrMalformed, err)
	}
	right, err := rangeFactory.NewRange(p.A.Size, p.B.Size, slices.Clone(p.Rest))
	if err != nil {
		return fmt.Errorf("%w: fork proof rest: %v", ErrMalformed, err)
	}
	if rootOfRange(p.Prefix, p.A.Size) == p.A.Root {
		return fmt.Errorf("%w: fork proof of consistent roots", ErrMalformed)
	}
	if err := left.AppendRange(right, nil); err != nil {
		return fmt.Errorf("%w: fork proof: %v", ErrMalformed, err)
	}
	b, err := left.GetRootHash(nil)
	if err != nil || Hash(b) != p.B.Root {
		return fmt.Errorf("%w: fork proof does not hash to its second root", ErrMalformed)
	}
	return nil
}
