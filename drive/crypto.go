package drive

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/restic/chunker"
	"golang.org/x/crypto/chacha20poly1305"
)

// Content-defined chunk bounds (restic's chunker, 1 MiB on average).
const (
	ChunkMin      = 256 << 10
	ChunkMax      = 4 << 20
	chunkOverhead = chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead
)

// Keys are the drive's content keys, derived from the drive secret. The
// secret never reaches a replicator; the logs verify without it.
type Keys struct {
	_          [0]func() // not comparable
	addr       Address
	epoch      uint32
	op         cipher.AEAD // seals log entries (names, metadata, chunk lists)
	chunk      cipher.AEAD // seals chunks
	chunkNonce []byte      // HMAC key deriving a chunk's nonce from its content
	pol        chunker.Pol // the drive's own chunking polynomial
}

// Key derivation contexts below the drive secret.
const (
	ctxOpKey     = "coconet/v1/drive/op-key"
	ctxChunkKey  = "coconet/v1/drive/chunk-key"
	ctxNonceKey  = "coconet/v1/drive/chunk-nonce-key"
	ctxPolSource = "coconet/v1/drive/chunk-polynomial"
	opAD         = "coconet/v1/drive-op\x00"
)

func subkey(secret [32]byte, addr Address, ctx string) []byte {
	k, err := hkdf.Key(sha256.New, secret[:], addr[:], ctx, 32)
	if err != nil {
		panic("drive: hkdf: " + err.Error())
	}
	return k
}

// NewKeys derives the content keys of the drive at addr from its secret
// (of epoch 0; later epochs come from Rotate).
func NewKeys(addr Address, secret [32]byte) (*Keys, error) { return newKeys(addr, 0, secret) }

func newKeys(addr Address, epoch uint32, secret [32]byte) (*Keys, error) {
	k := &Keys{addr: addr, epoch: epoch, chunkNonce: subkey(secret, addr, ctxNonceKey)}
	var err error
	if k.op, err = chacha20poly1305.NewX(subkey(secret, addr, ctxOpKey)); err != nil {
		return nil, err
	}
	if k.chunk, err = chacha20poly1305.NewX(subkey(secret, addr, ctxChunkKey)); err != nil {
		return nil, err
	}
	// The polynomial is derived from the secret so that chunk boundaries,
	// which a replica sees as sizes, do not fingerprint content across
	// drives.
	blk, err := aes.NewCipher(subkey(secret, addr, ctxPolSource))
	if err != nil {
		return nil, err
	}
	src := cipher.StreamReader{S: cipher.NewCTR(blk, make([]byte, aes.BlockSize)), R: zeroReader{}}
	if k.pol, err = chunker.DerivePolynomial(src); err != nil {
		return nil, fmt.Errorf("drive: chunk polynomial: %w", err)
	}
	return k, nil
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func (k *Keys) opAD(w WriterID) []byte {
	ad := append([]byte(opAD), k.addr[:]...)
	ad = append(ad, w[:]...)
	return binary.BigEndian.AppendUint32(ad, k.epoch)
}

// sealOp encrypts an encoded operation of writer w under a random nonce.
func (k *Keys) sealOp(w WriterID, plain []byte) []byte {
	nonce := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(plain)+chacha20poly1305.Overhead)
	rand.Read(nonce)
	return k.op.Seal(nonce, nonce, plain, k.opAD(w))
}

func (k *Keys) openOp(w WriterID, sealed []byte) ([]byte, error) {
	if len(sealed) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return nil, fmt.Errorf("%w: sealed op of %d bytes", ErrMalformed, len(sealed))
	}
	n := chacha20poly1305.NonceSizeX
	p, err := k.op.Open(nil, sealed[:n], sealed[n:], k.opAD(w))
	if err != nil {
		return nil, fmt.Errorf("%w: op of %s does not open with the drive key", ErrMalformed, w.Short())
	}
	return p, nil
}

// sealChunk encrypts a chunk deterministically: the nonce is a keyed hash
// of the content, so equal chunks give equal ciphertexts (deduplicated by
// the store) and unequal ones never share a nonce. Only a key holder can
// test a guess of the content.
func (k *Keys) sealChunk(plain []byte) []byte {
	m := hmac.New(sha256.New, k.chunkNonce)
	m.Write(plain)
	nonce := m.Sum(nil)[:chacha20poly1305.NonceSizeX]
	out := make([]byte, 0, len(nonce)+len(plain)+chacha20poly1305.Overhead)
	out = append(out, nonce...)
	return k.chunk.Seal(out, nonce, plain, k.addr[:])
}

func (k *Keys) openChunk(sealed []byte) ([]byte, error) {
	n := chacha20poly1305.NonceSizeX
	if len(sealed) < n+chacha20poly1305.Overhead {
		return nil, fmt.Errorf("%w: chunk of %d bytes", ErrMalformed, len(sealed))
	}
	p, err := k.chunk.Open(nil, sealed[:n], sealed[n:], k.addr[:])
	if err != nil {
		return nil, fmt.Errorf("%w: chunk does not open with the drive key", ErrTampered)
	}
	return p, nil
}
