package node

import (
	"crypto/ed25519"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// PeerIDOf returns the libp2p peer ID of an Ed25519 node key.
func PeerIDOf(key [32]byte) (peer.ID, error) {
	pub, err := crypto.UnmarshalEd25519PublicKey(key[:])
	if err != nil {
		return "", err
	}
	return peer.IDFromPublicKey(pub)
}

// ed25519IDPrefix starts every peer ID of an Ed25519 key: an identity
// multihash (0x00, length 36) of the protobuf PublicKey{Type: Ed25519,
// Data: 32 bytes}.
const ed25519IDPrefix = "\x00\x24\x08\x01\x12\x20"

// KeyOf returns the Ed25519 public key inside a peer ID.
func KeyOf(p peer.ID) ([32]byte, error) {
	var k [32]byte
	if s := string(p); len(s) == len(ed25519IDPrefix)+32 && s[:len(ed25519IDPrefix)] == ed25519IDPrefix {
		copy(k[:], s[len(ed25519IDPrefix):])
		return k, nil
	}
	pub, err := p.ExtractPublicKey()
	if err != nil {
		return k, fmt.Errorf("node: peer %s: %w", p, err)
	}
	if pub.Type() != crypto.Ed25519 {
		return k, fmt.Errorf("node: peer %s does not use an Ed25519 key", p)
	}
	raw, err := pub.Raw()
	if err != nil || len(raw) != 32 {
		return k, fmt.Errorf("node: peer %s: bad key", p)
	}
	copy(k[:], raw)
	return k, nil
}

func libp2pKey(k ed25519.PrivateKey) (crypto.PrivKey, error) {
	return crypto.UnmarshalEd25519PrivateKey(k)
}

func pubOf(k ed25519.PrivateKey) [32]byte {
	var out [32]byte
	copy(out[:], k.Public().(ed25519.PublicKey))
	return out
}
