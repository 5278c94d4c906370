package gateway

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha512"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
)

// Account keys in the ledger are sealed to each of their readers (the
// admins' user keys and the named push-server nodes' keys): HPKE (RFC 9180)
// with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and ChaCha20-Poly1305, to the
// X25519 form of the reader's Ed25519 key (RFC 7748's birational map, as
// age and libsodium's crypto_sign_ed25519_pk_to_curve25519 do). The HPKE
// info binds a box to its network and record, so a box cannot be moved to
// another record.

// sealInfo is the HPKE info of the box of record id in network.
func sealInfo(network [32]byte, id string) []byte {
	info := append([]byte("coconet push key v1\x00"), network[:]...)
	return append(info, id...)
}

// x25519Public is the X25519 public key of an Ed25519 public key.
func x25519Public(pub ed25519.PublicKey) (*ecdh.PublicKey, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("gateway: not an ed25519 public key")
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return nil, fmt.Errorf("gateway: ed25519 public key: %w", err)
	}
	return ecdh.X25519().NewPublicKey(p.BytesMontgomery())
}

// x25519Private is the X25519 private key of an Ed25519 private key: the
// scalar Ed25519 signs with (RFC 8032 5.1.5), which X25519 clamps the
// same way.
func x25519Private(priv ed25519.PrivateKey) (*ecdh.PrivateKey, error) {
	h := sha512.Sum512(priv.Seed())
	return ecdh.X25519().NewPrivateKey(h[:32])
}

// seal encrypts key to the holder of the Ed25519 private key of pub.
func seal(pub ed25519.PublicKey, info []byte, key string) ([]byte, error) {
	x, err := x25519Public(pub)
	if err != nil {
		return nil, err
	}
	pk, err := hpke.NewDHKEMPublicKey(x)
	if err != nil {
		return nil, err
	}
	return hpke.Seal(pk, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), info, []byte(key))
}

// open decrypts a box sealed to priv's public key.
func open(priv ed25519.PrivateKey, info, box []byte) (string, error) {
	x, err := x25519Private(priv)
	if err != nil {
		return "", err
	}
	k, err := hpke.NewDHKEMPrivateKey(x)
	if err != nil {
		return "", err
	}
	b, err := hpke.Open(k, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), info, box)
	if err != nil {
		return "", fmt.Errorf("gateway: open sealed key: %w", err)
	}
	return string(b), nil
}
