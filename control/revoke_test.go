package control_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/member"
)

// rawNode is a bare libp2p host connected to the control plane that
// presents proofs made here: what a modified client can send.
type rawNode struct {
	h   host.Host
	key [32]byte
	srv *control.Server
}

func newRawNode(t *testing.T, srv *control.Server) *rawNode {
	t.Helper()
	h, priv := stranger(t)
	connectTo(t, h, srv)
	n := &rawNode{h: h, srv: srv}
	copy(n.key[:], priv.Public().(ed25519.PublicKey))
	return n
}

// proof is a certificate for this node, for user, signed by issuer (with
// its delegation d if an admin), issued at issued.
func (n *rawNode) proof(owner *tuser, user identity.UserID, role ledger.Role, issuer ed25519.PrivateKey, d *member.Delegation, issued time.Time) []byte {
	g, _ := owner.log.Get(ledger.ID(owner.log.Network()))
	c := member.IssueCert(issuer, owner.log.Network(), n.key, user, role, issued, time.Hour)
	return (&member.Proof{Genesis: g, Delegation: d, Cert: c}).Marshal()
}

// cut waits until the control plane has closed this node's connections
// (as it does when it revokes the node), then connects again.
func (n *rawNode) cut(t *testing.T) {
	t.Helper()
	waitFor(t, "the control plane to close the revoked node's connection", func() bool {
		return n.h.Network().Connectedness(n.srv.ID()) != network.Connected
	})
	connectTo(t, n.h, n.srv)
}

func (n *rawNode) register(t *testing.T, proof []byte) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.registerTTL(ctx, proof, time.Minute)
}

func (n *rawNode) registerTTL(ctx context.Context, proof []byte, ttl time.Duration) error {
	rec := peer.PeerRecordFromAddrInfo(peer.AddrInfo{ID: n.h.ID(), Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/9")}})
	env, err := record.Seal(rec, n.h.Peerstore().PrivKey(n.h.ID()))
	if err != nil {
		return err
	}
	eb, _ := env.Marshal()
	_, err = controlproto.Register(ctx, n.h, n.srv.ID(), proof, eb, ttl)
	return err
}

func (n *rawNode) lookup(t *testing.T, proof []byte) ([]peer.AddrInfo, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return controlproto.Lookup(ctx, n.h, n.srv.ID(), proof)
}

func (n *rawNode) revoke(t *testing.T, proof []byte, rv *member.Revocation) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return controlproto.SendRevocation(ctx, n.h, n.srv.ID(), proof, rv.Marshal())
}

// TestRemovedAdminCannotRevoke: an admin removed by the owner (revoked at
// the control plane) still holds an unexpired delegation; with it she
// tries to revoke the owner, the owner's node and a guest — from her own
// node, with a certificate she issues herself afterwards, and through a
// guest's node. Every attempt is refused, and the owner's node still
// registers and looks up.
func TestRemovedAdminCannotRevoke(t *testing.T) {
	srv := startServer(t, control.Config{})
	us := newNet(t, "alice", "carol", "admin", "bob", "guest")
	alice, carol, bob := us[0], us[1], us[2]
	now := time.Now()
	d := member.Delegate(alice.seed.UserKey(), alice.log.Network(), carol.id(), now.Add(-time.Minute), 0)

	an, cn, bn := newRawNode(t, srv), newRawNode(t, srv), newRawNode(t, srv)
	ap := an.proof(alice, alice.id(), ledger.RoleOwner, alice.seed.UserKey(), nil, now)
	cp := cn.proof(alice, carol.id(), ledger.RoleAdmin, carol.seed.UserKey(), d, now)
	bp := bn.proof(alice, bob.id(), ledger.RoleGuest, alice.seed.UserKey(), nil, now)
	for _, x := range []struct {
		n *rawNode
		p []byte
	}{{an, ap}, {cn, cp}, {bn, bp}} {
		if err := x.n.register(t, x.p); err != nil {
			t.Fatalf("register: %v", err)
		}
	}
	// Alice removes carol: her node revokes carol's user.
	if err := an.revoke(t, ap, member.Revoke(alice.seed.UserKey(), nil, alice.log.Network(), member.RevokeUser, [32]byte(carol.id()), time.Now())); err != nil {
		t.Fatalf("owner's revocation of carol: %v", err)
	}
	cn.cut(t)
	later := time.Now().Add(time.Second)
	attacks := []struct {
		name  string
		from  *rawNode
		proof []byte
		rv    *member.Revocation
	}{
		{"RevokeUser(owner) from carol's revoked node", cn, cp,
			member.Revoke(carol.seed.UserKey(), d, alice.log.Network(), member.RevokeUser, [32]byte(alice.id()), later)},
		{"RevokeUser(owner) with a certificate carol issued herself after her revocation", cn,
			cn.proof(alice, carol.id(), ledger.RoleAdmin, carol.seed.UserKey(), d, later),
			member.Revoke(carol.seed.UserKey(), d, alice.log.Network(), member.RevokeUser, [32]byte(alice.id()), later)},
		{"RevokeUser(guest) by carol, sent through bob's node", bn, bp,
			member.Revoke(carol.seed.UserKey(), d, alice.log.Network(), member.RevokeUser, [32]byte(bob.id()), later)},
		{"RevokeNode(owner's node) by carol, sent through bob's node", bn, bp,
			member.Revoke(carol.seed.UserKey(), d, alice.log.Network(), member.RevokeNode, an.key, later)},
	}
	for _, a := range attacks {
		if err := a.from.revoke(t, a.proof, a.rv); !errors.Is(err, controlproto.ErrUnauthorized) {
			t.Errorf("%s: SendRevocation = %v, want ErrUnauthorized", a.name, err)
		}
	}
	if err := an.register(t, ap); err != nil {
		t.Fatalf("owner's node after the attacks: Register = %v, want ok", err)
	}
	if infos, err := an.lookup(t, ap); err != nil || len(infos) != 1 || infos[0].ID != bn.h.ID() {
		t.Fatalf("owner's node after the attacks: Lookup = %v, %v; want bob's node", infos, err)
	}
	if err := bn.register(t, bp); err != nil {
		t.Fatalf("bob's node after the attacks: Register = %v, want ok", err)
	}
}

// TestAdminCannotRevokeOwner: an admin in good standing cannot revoke the
// owner, nor cut the owner's nodes.
func TestAdminCannotRevokeOwner(t *testing.T) {
	srv := startServer(t, control.Config{})
	us := newNet(t, "alice", "carol", "admin")
	alice, carol := us[0], us[1]
	now := time.Now()
	d := member.Delegate(alice.seed.UserKey(), alice.log.Network(), carol.id(), now.Add(-time.Minute), 0)
	an, cn := newRawNode(t, srv), newRawNode(t, srv)
	ap := an.proof(alice, alice.id(), ledger.RoleOwner, alice.seed.UserKey(), nil, now)
	cp := cn.proof(alice, carol.id(), ledger.RoleAdmin, carol.seed.UserKey(), d, now)
	if err := an.register(t, ap); err != nil {
		t.Fatal(err)
	}
	if err := cn.register(t, cp); err != nil {
		t.Fatal(err)
	}
	err := cn.revoke(t, cp, member.Revoke(carol.seed.UserKey(), d, alice.log.Network(), member.RevokeUser, [32]byte(alice.id()), time.Now()))
	if !errors.Is(err, controlproto.ErrUnauthorized) {
		t.Errorf("admin's RevokeUser(owner) = %v, want ErrUnauthorized", err)
	}
	// A RevokeNode of the owner's node is accepted (the control plane
	// cannot tell whose node a key is) but does not cover the owner's
	// certificate.
	if err := cn.revoke(t, cp, member.Revoke(carol.seed.UserKey(), d, alice.log.Network(), member.RevokeNode, an.key, time.Now())); err != nil {
		t.Logf("admin's RevokeNode(owner's node) = %v", err)
	}
	if err := an.register(t, ap); err != nil {
		t.Fatalf("owner's node after an admin's revocations: Register = %v, want ok", err)
	}
	if _, err := an.lookup(t, ap); err != nil {
		t.Fatalf("owner's node after an admin's revocations: Lookup = %v, want ok", err)
	}
}

// TestRevocationNotForward: a revocation covers the certificates issued
// before it, not those issued after it (a member removed and added back,
// or a node given a new certificate).
func TestRevocationNotForward(t *testing.T) {
	srv := startServer(t, control.Config{})
	us := newNet(t, "alice", "bob", "guest")
	alice, bob := us[0], us[1]
	now := time.Now()
	an, bn := newRawNode(t, srv), newRawNode(t, srv)
	ap := an.proof(alice, alice.id(), ledger.RoleOwner, alice.seed.UserKey(), nil, now)
	old := bn.proof(alice, bob.id(), ledger.RoleGuest, alice.seed.UserKey(), nil, now.Add(-time.Minute))
	if err := an.register(t, ap); err != nil {
		t.Fatal(err)
	}
	if err := bn.register(t, old); err != nil {
		t.Fatal(err)
	}
	if err := an.revoke(t, ap, member.Revoke(alice.seed.UserKey(), nil, alice.log.Network(), member.RevokeUser, [32]byte(bob.id()), now)); err != nil {
		t.Fatal(err)
	}
	bn.cut(t)
	if err := bn.register(t, old); !errors.Is(err, controlproto.ErrUnauthorized) {
		t.Fatalf("Register with a certificate issued before the revocation = %v, want ErrUnauthorized", err)
	}
	fresh := bn.proof(alice, bob.id(), ledger.RoleGuest, alice.seed.UserKey(), nil, now.Add(time.Second))
	if err := bn.register(t, fresh); err != nil {
		t.Fatalf("Register with a certificate issued after the revocation = %v, want ok", err)
	}
}

// TestOwnerRevocationSupersedes: an admin revokes a guest; the owner then
// revokes the admin, which withdraws the admin's revocations: the guest's
// node is served again.
func TestOwnerRevocationSupersedes(t *testing.T) {
	srv := startServer(t, control.Config{})
	us := newNet(t, "alice", "carol", "admin", "bob", "guest")
	alice, carol, bob := us[0], us[1], us[2]
	now := time.Now()
	d := member.Delegate(alice.seed.UserKey(), alice.log.Network(), carol.id(), now.Add(-time.Minute), 0)
	an, cn, bn := newRawNode(t, srv), newRawNode(t, srv), newRawNode(t, srv)
	ap := an.proof(alice, alice.id(), ledger.RoleOwner, alice.seed.UserKey(), nil, now.Add(-time.Minute))
	cp := cn.proof(alice, carol.id(), ledger.RoleAdmin, carol.seed.UserKey(), d, now.Add(-time.Minute))
	bp := bn.proof(alice, bob.id(), ledger.RoleGuest, alice.seed.UserKey(), nil, now.Add(-time.Minute))
	for _, x := range []struct {
		n *rawNode
		p []byte
	}{{an, ap}, {cn, cp}, {bn, bp}} {
		if err := x.n.register(t, x.p); err != nil {
			t.Fatal(err)
		}
	}
	if err := cn.revoke(t, cp, member.Revoke(carol.seed.UserKey(), d, alice.log.Network(), member.RevokeUser, [32]byte(bob.id()), now)); err != nil {
		t.Fatalf("admin's revocation of bob: %v", err)
	}
	bn.cut(t)
	if err := bn.register(t, bp); !errors.Is(err, controlproto.ErrUnauthorized) {
		t.Fatalf("bob after carol's revocation: Register = %v, want ErrUnauthorized", err)
	}
	if err := an.revoke(t, ap, member.Revoke(alice.seed.UserKey(), nil, alice.log.Network(), member.RevokeUser, [32]byte(carol.id()), now)); err != nil {
		t.Fatalf("owner's revocation of carol: %v", err)
	}
	if err := bn.register(t, bp); err != nil {
		t.Fatalf("bob after the owner revoked carol: Register = %v, want ok (the owner's revocation supersedes carol's)", err)
	}
}

// TestRevokedNodeCannotRevoke: a node whose certificate was revoked can
// send no revocation, even one signed by a user who is still an admin.
func TestRevokedNodeCannotRevoke(t *testing.T) {
	srv := startServer(t, control.Config{})
	us := newNet(t, "alice", "carol", "admin", "bob", "guest")
	alice, carol, bob := us[0], us[1], us[2]
	now := time.Now()
	d := member.Delegate(alice.seed.UserKey(), alice.log.Network(), carol.id(), now.Add(-time.Minute), 0)
	an, cn, bn := newRawNode(t, srv), newRawNode(t, srv), newRawNode(t, srv)
	ap := an.proof(alice, alice.id(), ledger.RoleOwner, alice.seed.UserKey(), nil, now)
	cp := cn.proof(alice, carol.id(), ledger.RoleAdmin, carol.seed.UserKey(), d, now)
	bp := bn.proof(alice, bob.id(), ledger.RoleGuest, alice.seed.UserKey(), nil, now)
	for _, x := range []struct {
		n *rawNode
		p []byte
	}{{an, ap}, {cn, cp}, {bn, bp}} {
		if err := x.n.register(t, x.p); err != nil {
			t.Fatal(err)
		}
	}
	// Alice removes carol's node (a lost laptop), not carol.
	if err := an.revoke(t, ap, member.Revoke(alice.seed.UserKey(), nil, alice.log.Network(), member.RevokeNode, cn.key, time.Now())); err != nil {
		t.Fatal(err)
	}
	cn.cut(t)
	rv := member.Revoke(carol.seed.UserKey(), d, alice.log.Network(), member.RevokeUser, [32]byte(bob.id()), time.Now())
	if err := cn.revoke(t, cp, rv); !errors.Is(err, controlproto.ErrUnauthorized) {
		t.Fatalf("revocation sent from a revoked node = %v, want ErrUnauthorized", err)
	}
	if err := bn.register(t, bp); err != nil {
		t.Fatalf("bob after the refused revocation: Register = %v, want ok", err)
	}
}
