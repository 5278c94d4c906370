package node

import (
	"crypto/rand"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	ma "github.com/multiformats/go-multiaddr"
)

// FuzzPexRecord: whatever bytes a member sends as a peer record, pexRecord
// takes only a record signed by the node it is named for.
func FuzzPexRecord(f *testing.F) {
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(priv)
	env, err := record.Seal(&peer.PeerRecord{PeerID: id, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4001")}, Seq: 1}, priv)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := env.Marshal()
	f.Add(good)
	f.Add([]byte{})
	f.Add(good[:len(good)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := pexRecord(id, b)
		if err != nil {
			return
		}
		r, err := env.Record()
		if err != nil {
			t.Fatalf("accepted envelope has no record: %v", err)
		}
		if rec := r.(*peer.PeerRecord); rec.PeerID != id || !id.MatchesPublicKey(env.PublicKey) || len(rec.Addrs) > maxPexAddrs {
			t.Fatalf("accepted a record for %s signed by another key or with %d addresses", rec.PeerID, len(rec.Addrs))
		}
	})
}
