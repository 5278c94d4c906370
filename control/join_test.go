package control_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/invite"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/rpc"
)

// TestJoinCircuit: a peer without a membership proof may open a circuit to
// a member node that holds one (to join), but not reserve a relay slot; the
// member's node still refuses, at the handshake, any key but its members'
// and its invites'; the holder of an invite code whose only working path is
// the relay joins through it; the new member's node, still without a proof,
// fetches its first certificate through a join circuit, whose bytes do not
// count against the network's plan; once registered, the same circuit is a
// members' circuit: past the join allowance, counted against the plan.
func TestJoinCircuit(t *testing.T) {
	const allowance = 96 << 10
	srv := startServer(t, control.Config{Relay: control.RelayLimits{JoinData: allowance, JoinDuration: time.Minute}})
	alice := newNet(t, "alice")[0]
	var f relayOnly
	f.on.Store(true)
	an := startNode(t, alice, srv, &f)
	waitFor(t, "alice's node to hold a relay slot", func() bool {
		st := an.ControlStatus()
		return st[0].Registered && st[0].Relay
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// A stranger: no relay slot; its circuit is relayed but refused by
	// alice's node at the handshake.
	h, _ := stranger(t)
	connectTo(t, h, srv)
	if _, err := client.Reserve(ctx, h, peer.AddrInfo{ID: srv.ID()}); err == nil {
		t.Errorf("Reserve by a stranger succeeded, want refused")
	}
	// (The dialer finishes its side of the handshake before the listener's
	// gater decides, so Connect itself may succeed; no stream opens.)
	err := h.Connect(ctx, peer.AddrInfo{ID: an.ID(), Addrs: circuitAddrs(srv)})
	if err != nil && strings.Contains(err.Error(), "PERMISSION_DENIED") {
		t.Errorf("stranger's circuit to alice = %v; want it relayed, then refused by alice's node", err)
	}
	if err == nil {
		for _, proto := range []protocol.ID{node.ProtoJoin, node.ProtoSync, rpc.Proto} {
			if s, err := h.NewStream(network.WithAllowLimitedConn(ctx, "test"), an.ID(), proto); err == nil {
				s.Reset()
				t.Errorf("stranger opened a %s stream to alice's node through the relay", proto)
			}
		}
	}
	if c := an.Host().Network().Connectedness(h.ID()); c == network.Connected {
		t.Errorf("alice's node is connected to the stranger")
	}
	t.Logf("stranger's circuit to alice: %v", err)

	// An invite; the code names an unreachable direct address and the
	// control plane, not even a relay address.
	secret, err := invite.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	var ik [32]byte
	copy(ik[:], identity.InviteKey(secret[:]).Public().(ed25519.PublicKey))
	expires := time.Now().Add(time.Hour).Unix()
	if _, err := alice.log.Append(alice.seed.UserKey(), ledger.Op{Kind: ledger.KindInvite, InviteKey: ik, Role: ledger.RoleGuest, Expires: expires, Uses: 1}); err != nil {
		t.Fatal(err)
	}
	code := &invite.Code{Network: alice.log.Network(), Secret: secret, Role: uint8(ledger.RoleGuest), Expires: expires, NetName: "home",
		Addrs: [][]byte{ma.StringCast("/ip4/192.0.2.1/tcp/9/p2p/" + an.ID().String()).Bytes()}}
	for _, a := range srv.Addrs() {
		code.Controls = append(code.Controls, a.Bytes())
	}
	code, err = invite.Decode(code.Encode())
	if err != nil {
		t.Fatal(err)
	}
	before, err := an.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := identity.NewSeed()
	if err != nil {
		t.Fatal(err)
	}
	bob := &tuser{name: "bob", seed: seed, dir: filepath.Join(t.TempDir(), "bob")}
	l, peers, err := node.Join(ctx, node.JoinConfig{Seed: seed, UserName: "bob", Code: code, Dir: bob.dir, Logf: prefixed(t, "bob joining")})
	if err != nil {
		t.Fatalf("Join through the control plane: %v", err)
	}
	bob.log = l
	if r := l.State().Role(seed.UserID()); r != ledger.RoleGuest {
		t.Fatalf("bob's role after joining = %v, want guest", r)
	}

	// Bob's node: no proof yet. Its circuit to alice's node is a join
	// circuit, over which it gets its certificate and registers.
	bn := startNode(t, bob, srv, &f)
	bn.AddPeerAddrs(peers)
	waitFor(t, "bob's node to register", func() bool { return bn.ControlStatus()[0].Registered })
	conns := bn.Host().Network().ConnsToPeer(an.ID())
	if len(conns) != 1 || !strings.Contains(conns[0].RemoteMultiaddr().String(), "p2p-circuit") {
		t.Fatalf("bob's connections to alice = %v, want one relayed", conns)
	}
	joinConn := conns[0]
	// Join circuits have a budget of their own: what bob joined with and
	// fetched his certificate over did not count against alice's plan.
	mid, err := an.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := mid.RelayBytes - before.RelayBytes; d >= allowance/4 {
		t.Errorf("relay bytes of alice's network grew by %d over the join circuits, want them outside the plan", d)
	}
	// Now a proof holder of alice's network, bob's node keeps its circuit:
	// it is a members' circuit (issue 15, item 3). A message twice the
	// join allowance goes through on it, and counts against the plan.
	big := bytes.Repeat([]byte("x"), 2*allowance)
	if err := sendRecv(t, bn, an, string(big)); err != nil {
		t.Fatalf("Send(%d bytes) over bob's first circuit after he registered = %v, want it delivered", len(big), err)
	}
	if joinConn.IsClosed() {
		t.Errorf("bob's first relayed connection closed; want it kept once he registered")
	}
	after, err := an.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := after.RelayBytes - mid.RelayBytes; d < int64(len(big)) {
		t.Errorf("relay bytes of alice's network grew by %d for a %d-byte message on a members' circuit, want it counted", d, len(big))
	}
}

// TestJoinUnreachable: when no address of the inviting node works, Join
// says what was tried and what each path answered.
func TestJoinUnreachable(t *testing.T) {
	srv := startServer(t, control.Config{})
	h, _ := stranger(t) // stands for an inviter whose node is not running
	secret, _ := invite.NewSecret()
	code := &invite.Code{Secret: secret, NetName: "home",
		Addrs: [][]byte{ma.StringCast("/ip4/127.0.0.1/tcp/1/p2p/" + h.ID().String()).Bytes()}}
	for _, a := range srv.Addrs() {
		code.Controls = append(code.Controls, a.Bytes())
	}
	seed, _ := identity.NewSeed()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _, err := node.Join(ctx, node.JoinConfig{Seed: seed, UserName: "bob", Code: code, Dir: t.TempDir()})
	if err == nil {
		t.Fatal("Join with no reachable address succeeded")
	}
	for _, want := range []string{`could not join "home"`, "1 direct and 2 relay", "direct: connection refused", "would not relay", "coco up"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Join = %v; want it to say %q", err, want)
		}
	}
}
