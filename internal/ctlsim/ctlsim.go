// Package ctlsim simulates many nodes of generated networks registering at control planes, for tests and benchmarks.
package ctlsim

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/member"
)

// Network is a generated network: its genesis and owner key.
type Network struct {
	Owner   ed25519.PrivateKey
	Genesis *ledger.Op
	ID      ledger.NetworkID
}

// NewNetwork generates a network.
func NewNetwork() *Network {
	_, owner, _ := ed25519.GenerateKey(rand.Reader)
	nonce := make([]byte, ledger.NonceSize)
	rand.Read(nonce)
	g := &ledger.Op{V: ledger.Version, Time: time.Now().UnixMilli(), Kind: ledger.KindGenesis,
		SubjectName: "owner", Name: "sim", NetKind: "user", Nonce: nonce}
	g.Sign(owner)
	return &Network{Owner: owner, Genesis: g, ID: ledger.NetworkID(g.ID())}
}

// OwnerID is the owner's user ID (for a plans file).
func (n *Network) OwnerID() identity.UserID {
	return identity.UserIDOf(n.Owner.Public().(ed25519.PublicKey))
}

// Key is the network's rendezvous key at control planes.
func (n *Network) Key() [32]byte { return member.RendezvousKey(n.ID) }

// Node is a simulated node: a key, a guest certificate and a signed peer
// record.
type Node struct {
	Key   crypto.PrivKey
	ID    peer.ID
	Proof []byte
	// Record is a signed peer record made by Node (NewRecord makes a fresh one).
	Record []byte
	addrs  []ma.Multiaddr
}

// Node makes a node of the network with a certificate valid for validity.
func (n *Network) Node(validity time.Duration) *Node {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := crypto.UnmarshalEd25519PrivateKey(priv)
	id, _ := peer.IDFromPrivateKey(k)
	_, u, _ := ed25519.GenerateKey(rand.Reader)
	user := identity.UserIDOf(u.Public().(ed25519.PublicKey))
	c := member.IssueCert(n.Owner, n.ID, [32]byte(pub), user, ledger.RoleGuest, time.Now(), validity)
	nd := &Node{Key: k, ID: id, Proof: (&member.Proof{Genesis: n.Genesis, Cert: c}).Marshal(),
		addrs: []ma.Multiaddr{ma.StringCast("/ip4/198.51.100.7/udp/4242/quic-v1"), ma.StringCast("/ip4/198.51.100.7/tcp/4242")}}
	nd.Record = nd.NewRecord()
	return nd
}

// NewRecord signs a fresh peer record (a newer sequence number).
func (nd *Node) NewRecord() []byte {
	env, err := record.Seal(peer.PeerRecordFromAddrInfo(peer.AddrInfo{ID: nd.ID, Addrs: nd.addrs}), nd.Key)
	if err != nil {
		panic(err)
	}
	b, _ := env.Marshal()
	return b
}

// Client is a libp2p host that registers simulated nodes (one connection
// registers for many, as a gateway does).
func Client() (host.Host, error) {
	return libp2p.New(libp2p.NoListenAddrs, libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New), libp2p.DisableMetrics(), libp2p.DisableRelay())
}

// Register registers nd at the control plane cp through h.
func Register(ctx context.Context, h host.Host, cp peer.ID, nd *Node, ttl time.Duration) error {
	_, err := controlproto.Register(ctx, h, cp, nd.Proof, nd.Record, ttl)
	return err
}

// Host is a libp2p host with nd's key: lookups and usage queries prove
// the connection's key, so they go through it.
func (nd *Node) Host() (host.Host, error) {
	return libp2p.New(libp2p.Identity(nd.Key), libp2p.NoListenAddrs, libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New), libp2p.DisableMetrics(), libp2p.DisableRelay())
}
