package node

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestKeyOfFastPath checks the byte-level shortcut against libp2p's own
// decoding, and that other key types fall back to it.
func TestKeyOfFastPath(t *testing.T) {
	for i := 0; i < 20; i++ {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		var k [32]byte
		copy(k[:], pub)
		id, err := PeerIDOf(k)
		if err != nil {
			t.Fatal(err)
		}
		got, err := KeyOf(id)
		if err != nil || got != k {
			t.Fatalf("KeyOf(PeerIDOf(k)) = %x, %v; want %x", got, err, k)
		}
	}
	_, sec, _ := crypto.GenerateSecp256k1Key(rand.Reader)
	id, _ := peer.IDFromPublicKey(sec)
	if _, err := KeyOf(id); err == nil {
		t.Fatal("KeyOf accepted a secp256k1 peer")
	}
}
