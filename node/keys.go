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

// KeyOf returns the Ed25519 public key inside a peer ID.
func KeyOf(p peer.ID) ([32]byte, error) {
	var k [32]byte
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
