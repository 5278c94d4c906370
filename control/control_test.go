package control_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/member"
	"github.com/coconet/coconet/node"
)

func lookupIDs(t *testing.T, n *node.Node, srv *control.Server) ([]peer.ID, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := n.Proof(ctx)
	if p == nil {
		return nil, errors.New("no proof")
	}
	infos, err := controlproto.Lookup(ctx, n.Host(), srv.ID(), p.Marshal())
	var ids []peer.ID
	for _, ai := range infos {
		ids = append(ids, ai.ID)
	}
	return ids, err
}

func contains(ids []peer.ID, p peer.ID) bool {
	for _, id := range ids {
		if id == p {
			return true
		}
	}
	return false
}

// TestRegisterLookup: a guest's node gets its certificate from the owner's
// node over the certificate protocol, both register, and each finds the
// other by lookup; the control plane reflects their addresses.
func TestRegisterLookup(t *testing.T) {
	srv := startServer(t, control.Config{})
	us := newNet(t, "alice", "bob", "guest")
	alice, bob := us[0], us[1]
	an := startNode(t, alice, srv, nil)
	bn := startNode(t, bob, srv, nil)
	// Bob has no certificate until he meets an owner or admin node.
	bn.AddPeerAddrs([]peer.AddrInfo{{ID: an.ID(), Addrs: an.Host().Addrs()}})
	waitFor(t, "bob's node to register", func() bool {
		st := bn.ControlStatus()
		return len(st) == 1 && st[0].Registered && st[0].Relay
	})
	if p := bn.Proof(context.Background()); p == nil || p.Cert.Issuer != alice.id() || p.Cert.Role != ledger.RoleGuest {
		t.Fatalf("bob's proof = %+v, want a guest certificate issued by alice", p)
	}
	waitFor(t, "alice's node to register", func() bool { return an.ControlStatus()[0].Registered })
	ids, err := lookupIDs(t, bn, srv)
	if err != nil || !contains(ids, an.ID()) || contains(ids, bn.ID()) {
		t.Fatalf("Lookup(bob) = %v, %v; want alice's node only", ids, err)
	}
	ids, err = lookupIDs(t, an, srv)
	if err != nil || !contains(ids, bn.ID()) {
		t.Fatalf("Lookup(alice) = %v, %v; want bob's node", ids, err)
	}
	if obs := bn.ControlStatus()[0].Observed; !strings.Contains(obs, "127.0.0.1") {
		t.Errorf("reflected address of bob = %q, want a 127.0.0.1 address", obs)
	}
	u, err := bn.Usage(context.Background())
	if err != nil || u.Plan != "tier1" || u.Nodes != 2 || u.LimitNodes != 5 || u.ControlMessages == 0 || u.ControlBytes == 0 {
		t.Fatalf("Usage() = %+v, %v; want tier1 with 2 of 5 nodes and counted control messages", u, err)
	}
}

// TestNonMembersRefused: without a valid proof for a network, nobody can
// look it up or reserve a relay slot.
func TestNonMembersRefused(t *testing.T) {
	srv := startServer(t, control.Config{})
	us := newNet(t, "alice", "bob", "guest")
	alice := us[0]
	an := startNode(t, alice, srv, nil)
	waitFor(t, "alice's node to register", func() bool { return an.ControlStatus()[0].Registered })

	other := newNet(t, "mallory")[0]
	h, priv := stranger(t)
	connectTo(t, h, srv)
	var hk [32]byte
	copy(hk[:], priv.Public().(ed25519.PublicKey))
	g, _ := alice.log.Get(ledger.ID(alice.log.Network()))
	og, _ := other.log.Get(ledger.ID(other.log.Network()))
	now := time.Now()
	tests := []struct {
		name  string
		proof []byte
	}{
		{"no proof", nil},
		{"garbage", []byte("hello")},
		{"self-signed", (&member.Proof{Genesis: g, Cert: member.IssueCert(priv, alice.log.Network(), hk, alice.id(), ledger.RoleOwner, now, 0)}).Marshal()},
		{"alice's proof, someone else's node", us[0].proof(alice, now, time.Hour).Marshal()},
		{"expired", (&member.Proof{Genesis: g, Cert: member.IssueCert(alice.seed.UserKey(), alice.log.Network(), hk, alice.id(), ledger.RoleGuest, now.Add(-2*time.Hour), time.Hour)}).Marshal()},
		{"another network's cert with alice's genesis", (&member.Proof{Genesis: g, Cert: member.IssueCert(other.seed.UserKey(), other.log.Network(), hk, other.id(), ledger.RoleOwner, now, 0)}).Marshal()},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tt := range tests {
		if infos, err := controlproto.Lookup(ctx, h, srv.ID(), tt.proof); !errors.Is(err, controlproto.ErrUnauthorized) {
			t.Errorf("%s: Lookup = %v, %v; want ErrUnauthorized", tt.name, infos, err)
		}
		if _, err := controlproto.GetUsage(ctx, h, srv.ID(), tt.proof); !errors.Is(err, controlproto.ErrUnauthorized) {
			t.Errorf("%s: GetUsage = %v; want ErrUnauthorized", tt.name, err)
		}
	}
	if _, err := client.Reserve(ctx, h, peer.AddrInfo{ID: srv.ID()}); err == nil {
		t.Errorf("Reserve by a stranger succeeded, want refused")
	}
	// A valid proof for another network sees that network only.
	own := (&member.Proof{Genesis: og, Cert: member.IssueCert(other.seed.UserKey(), other.log.Network(), hk, other.id(), ledger.RoleOwner, now, 0)}).Marshal()
	infos, err := controlproto.Lookup(ctx, h, srv.ID(), own)
	if err != nil || len(infos) != 0 {
		t.Errorf("Lookup(mallory's own network) = %v, %v; want no records and no error", infos, err)
	}
	// Registered, that proof opens the relay, but no circuit into alice's
	// network.
	mn := &rawNode{h: h, srv: srv, key: hk}
	if err := mn.register(t, own); err != nil {
		t.Fatalf("Register(mallory's own network) = %v, want ok", err)
	}
	if _, err := client.Reserve(ctx, h, peer.AddrInfo{ID: srv.ID()}); err != nil {
		t.Errorf("Reserve with mallory's valid proof = %v, want ok", err)
	}
	if err := h.Connect(ctx, peer.AddrInfo{ID: an.ID(), Addrs: circuitAddrs(srv)}); err == nil {
		t.Errorf("stranger reached alice's node through the relay")
	}
}

func circuitAddrs(srv *control.Server) (out []ma.Multiaddr) {
	for _, a := range srv.Addrs() {
		out = append(out, a.Encapsulate(ma.StringCast("/p2p-circuit")))
	}
	return out
}

// TestRevokedRefused: when the owner removes a member, the owner's node
// revokes the member's node at the control plane, which refuses its
// still-unexpired certificate from then on.
func TestRevokedRefused(t *testing.T) {
	srv := startServer(t, control.Config{})
	us := newNet(t, "alice", "bob", "guest")
	alice, bob := us[0], us[1]
	bob.giveProof(t, alice)
	an := startNode(t, alice, srv, nil)
	bn := startNode(t, bob, srv, nil)
	waitFor(t, "bob's node to register", func() bool { return bn.ControlStatus()[0].Registered })
	waitFor(t, "alice's node to register", func() bool { return an.ControlStatus()[0].Registered })
	proof := bn.Proof(context.Background())
	if proof == nil {
		t.Fatal("bob has no proof")
	}
	if _, err := alice.log.Append(alice.seed.UserKey(), ledger.Op{Kind: ledger.KindRemoveUser, Subject: bob.id()}); err != nil {
		t.Fatal(err)
	}
	var err error
	waitFor(t, "bob's certificate to be refused", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = controlproto.Lookup(ctx, bn.Host(), srv.ID(), proof.Marshal())
		return errors.Is(err, controlproto.ErrUnauthorized)
	})
	if !errors.Is(err, controlproto.ErrUnauthorized) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("Lookup with a revoked certificate = %v, want ErrUnauthorized saying revoked", err)
	}
	ids, _ := lookupIDs(t, an, srv)
	if contains(ids, bn.ID()) {
		t.Fatalf("Lookup(alice) = %v still lists removed bob", ids)
	}
}

// TestRelayOnlyCiphertext: two members that cannot reach each other
// directly talk through the relay, which sees no plaintext.
func TestRelayOnlyCiphertext(t *testing.T) {
	var tp tap
	srv := startServer(t, control.Config{Tap: tp.record})
	us := newNet(t, "alice", "bob", "guest")
	alice, bob := us[0], us[1]
	bob.giveProof(t, alice)
	var f relayOnly
	f.on.Store(true)
	an := startNode(t, alice, srv, &f)
	bn := startNode(t, bob, srv, &f)
	waitFor(t, "a relayed connection", func() bool { return pathTo(bn, an.ID()) == "relayed" })

	secret := fmt.Sprintf("the secret word is coconut-%d", time.Now().UnixNano())
	if err := sendRecv(t, bn, an, secret); err != nil {
		t.Fatalf("bob → alice through the relay: %v", err)
	}
	if err := sendRecv(t, an, bn, secret+" back"); err != nil {
		t.Fatalf("alice → bob through the relay: %v", err)
	}
	seen := tp.bytes()
	if len(seen) < 2*len(secret) {
		t.Fatalf("the relay tap saw %d bytes, want the relayed traffic", len(seen))
	}
	if bytes.Contains(seen, []byte("coconut-")) {
		t.Fatalf("the relay saw the plaintext of a message")
	}
	u, err := an.Usage(context.Background())
	if err != nil || u.RelayBytes < int64(len(secret)) {
		t.Fatalf("Usage() = %+v, %v; want relayed bytes counted", u, err)
	}
}

// TestOverQuota: over its plan's monthly bytes a network's relayed traffic
// stops with an error naming the limit; direct traffic still flows.
func TestOverQuota(t *testing.T) {
	plans := control.DefaultPlans()
	plans.Plans["tier1"] = control.Plan{Networks: 1, Nodes: 5, Bytes: 256 << 10}
	srv := startServer(t, control.Config{Plans: plans})
	us := newNet(t, "alice", "bob", "guest")
	alice, bob := us[0], us[1]
	bob.giveProof(t, alice)
	var f relayOnly
	f.on.Store(true)
	an := startNode(t, alice, srv, &f)
	bn := startNode(t, bob, srv, &f)
	waitFor(t, "a relayed connection", func() bool { return pathTo(bn, an.ID()) == "relayed" })

	big := bytes.Repeat([]byte("x"), 200<<10)
	var err error
	for i := 0; i < 5 && err == nil; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err = msgOf(bn).Send(ctx, an.ID(), big)
		cancel()
	}
	if !errors.Is(err, controlproto.ErrLimit) || !strings.Contains(err.Error(), "larger plan") || !strings.Contains(err.Error(), "direct") {
		t.Fatalf("Send over the relay past the limit = %v; want ErrLimit saying what to do", err)
	}
	t.Logf("over the limit: %v", err)
	u, uerr := bn.Usage(context.Background())
	if uerr != nil || u.Exceeded == "" || u.Bytes < u.LimitBytes {
		t.Fatalf("Usage() = %+v, %v; want the byte limit exceeded", u, uerr)
	}
	// A direct path opens; messages flow over it.
	f.on.Store(false)
	bn.AddPeerAddrs([]peer.AddrInfo{{ID: an.ID(), Addrs: an.Host().Addrs()}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bn.Host().Connect(ctx, peer.AddrInfo{ID: an.ID(), Addrs: an.Host().Addrs()}); err != nil {
		t.Fatalf("direct connect: %v", err)
	}
	waitFor(t, "a direct connection", func() bool { return pathTo(bn, an.ID()) == "direct" })
	if err := sendRecv(t, bn, an, "direct still works"); err != nil {
		t.Fatalf("direct send over quota: %v", err)
	}
}

// TestControlRestart: the control plane restarts with its state directory;
// nodes register again by themselves and their relayed connection recovers.
func TestControlRestart(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, control.Config{Dir: dir})
	var listen []string
	for _, a := range srv.Host().Addrs() {
		listen = append(listen, a.String())
	}
	us := newNet(t, "alice", "bob", "guest")
	alice, bob := us[0], us[1]
	bob.giveProof(t, alice)
	var f relayOnly
	f.on.Store(true)
	an := startNode(t, alice, srv, &f)
	bn := startNode(t, bob, srv, &f)
	waitFor(t, "a relayed connection", func() bool { return pathTo(bn, an.ID()) == "relayed" })
	if err := sendRecv(t, bn, an, "before"); err != nil {
		t.Fatal(err)
	}
	id := srv.ID()
	srv.Close()
	waitFor(t, "the relayed connection to drop", func() bool { return pathTo(bn, an.ID()) == "" })

	srv2 := startServer(t, control.Config{Dir: dir, Listen: listen})
	if srv2.ID() != id {
		t.Fatalf("restarted control plane ID = %s, want %s (kept in --state)", srv2.ID(), id)
	}
	waitFor(t, "both nodes to register again", func() bool { return srv2.Registrations() == 2 })
	waitFor(t, "the relayed connection to recover", func() bool { return pathTo(bn, an.ID()) == "relayed" })
	if err := sendRecv(t, bn, an, "after"); err != nil {
		t.Fatal(err)
	}
}

// TestAdminDelegation: an admin's node gets the owner's delegation and
// issues its own certificate and a guest's, which the control plane accepts.
func TestAdminDelegation(t *testing.T) {
	srv := startServer(t, control.Config{})
	us := newNet(t, "alice", "carol", "admin", "dave", "guest")
	alice, carol, dave := us[0], us[1], us[2]
	an := startNode(t, alice, srv, nil)
	cn := startNode(t, carol, srv, nil)
	cn.AddPeerAddrs([]peer.AddrInfo{{ID: an.ID(), Addrs: an.Host().Addrs()}})
	waitFor(t, "carol's node to register", func() bool { return cn.ControlStatus()[0].Registered })
	cp := cn.Proof(context.Background())
	if cp.Delegation == nil || cp.Delegation.Admin != carol.id() || cp.Cert.Issuer != carol.id() {
		t.Fatalf("carol's proof = %+v, want her own certificate with alice's delegation", cp)
	}
	// Alice goes away; dave meets only carol.
	an.Close()
	dn := startNode(t, dave, srv, nil)
	dn.AddPeerAddrs([]peer.AddrInfo{{ID: cn.ID(), Addrs: cn.Host().Addrs()}})
	waitFor(t, "dave's node to register", func() bool { return dn.ControlStatus()[0].Registered })
	if dp := dn.Proof(context.Background()); dp.Cert.Issuer != carol.id() || dp.Delegation == nil {
		t.Fatalf("dave's proof = %+v, want a certificate from carol with her delegation", dp)
	}
	ids, err := lookupIDs(t, dn, srv)
	if err != nil || !contains(ids, cn.ID()) {
		t.Fatalf("Lookup(dave) = %v, %v; want carol's node", ids, err)
	}
}

// TestOfflineRemovalRevoked: the owner removes a member while her node is
// offline (a ledger-only write, as `coco remove` does with no daemon);
// when her node starts, it finds the removal in the ledger and delivers
// the revocation, and records the delivery so it is not sent again.
func TestOfflineRemovalRevoked(t *testing.T) {
	srv := startServer(t, control.Config{})
	us := newNet(t, "alice", "bob", "guest")
	alice, bob := us[0], us[1]
	bob.giveProof(t, alice)
	an := startNode(t, alice, srv, nil)
	bn := startNode(t, bob, srv, nil)
	waitFor(t, "bob's node to register", func() bool { return bn.ControlStatus()[0].Registered })
	waitFor(t, "alice's node to register", func() bool { return an.ControlStatus()[0].Registered })
	proof := bn.Proof(context.Background())
	an.Close()
	if _, err := alice.log.Append(alice.seed.UserKey(), ledger.Op{Kind: ledger.KindRemoveUser, Subject: bob.id()}); err != nil {
		t.Fatal(err)
	}
	startNode(t, alice, srv, nil)
	var err error
	waitFor(t, "bob's certificate to be refused", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = controlproto.Lookup(ctx, bn.Host(), srv.ID(), proof.Marshal())
		return errors.Is(err, controlproto.ErrUnauthorized)
	})
	if !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("Lookup with the removed member's certificate = %v, want refused as revoked", err)
	}
	b, rerr := os.ReadFile(filepath.Join(alice.dir, "node", "control-revocations.json"))
	if rerr != nil || !bytes.Contains(b, []byte(srv.ID().String())) {
		t.Fatalf("delivery record = %s, %v; want the control plane recorded", b, rerr)
	}
}
