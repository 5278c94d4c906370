package coconet

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"go.uber.org/goleak"

	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/rpc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// libp2p and quic-go keep package-level workers alive.
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/transport/quicreuse.(*reuse).gc"),
		goleak.IgnoreTopFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/host/resource-manager.(*resourceManager).background"),
		goleak.IgnoreAnyFunction("github.com/quic-go/quic-go.(*Transport).listen"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/net/swarm.(*Swarm).dialWorkerLoop"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/host/basic.(*BasicHost).background"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/host/autorelay.(*AutoRelay).background"),
		goleak.IgnoreAnyFunction("net.(*netFD).Read"),
		goleak.IgnoreAnyFunction("internal/poll.runtime_pollWait"),
	)
}

// user is one person with a home directory.
type user struct {
	name string
	home string
}

func newUser(t *testing.T, name string) *user {
	t.Helper()
	home := filepath.Join(t.TempDir(), name)
	if _, err := Init(home, name); err != nil {
		t.Fatalf("Init(%s): %v", name, err)
	}
	return &user{name, home}
}

func (u *user) start(t *testing.T, network string) *Node {
	t.Helper()
	n := &Node{Home: u.home, Network: network, ListenHost: "127.0.0.1", Logf: t.Logf}
	if err := n.Start(context.Background()); err != nil {
		t.Fatalf("%s: Start: %v", u.name, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func (u *user) join(t *testing.T, code string) []peer.AddrInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, peers, err := Join(ctx, u.home, code, JoinOptions{Logf: t.Logf})
	if err != nil {
		t.Fatalf("%s: Join: %v", u.name, err)
	}
	return peers
}

func makeInvite(t *testing.T, n *Node, role ledger.Role, uses int) string {
	t.Helper()
	code, _, err := n.Invite(InviteOptions{Role: role, Uses: uses, TTL: time.Hour})
	if err != nil {
		t.Fatalf("Invite: %v", err)
	}
	return code
}

// waitConnected waits until n has a connection to some node of member.
func waitConnected(t *testing.T, n *Node, member string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, p := range n.Peers(context.Background()) {
			if p.UserName == member && p.Connected {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no connection to %s after 15s", member)
}

func send(t *testing.T, from *Node, to string, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := from.Send(ctx, to, []byte(text)); err != nil {
		t.Fatalf("Send(%s, %q): %v", to, text, err)
	}
}

func expect(t *testing.T, n *Node, fromName, text string) {
	t.Helper()
	ch, cancel := n.Messages()
	defer cancel()
	select {
	case m := <-ch:
		if m.FromName != fromName || string(m.Data) != text {
			t.Fatalf("got message %q from %q, want %q from %q", m.Data, m.FromName, text, fromName)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no message %q from %s", text, fromName)
	}
}

// TestTwoUsersLoopback is the foundation story: create, invite, join, talk
// both ways, restart both daemons, talk again.
func TestTwoUsersLoopback(t *testing.T) {
	alice, bob := newUser(t, "alice"), newUser(t, "bob")
	if _, err := CreateNetwork(alice.home, "home", "user", ""); err != nil {
		t.Fatal(err)
	}
	an := alice.start(t, "home")
	code := makeInvite(t, an, ledger.RoleAdmin, 1)
	peers := bob.join(t, code)
	bn := bob.start(t, "home")
	bn.engine().Node().AddPeerAddrs(peers)
	waitConnected(t, bn, "alice")

	if got := bn.Ledger().State().Role(mustID(t, bob.home)); got != ledger.RoleAdmin {
		t.Fatalf("bob's role = %v, want admin", got)
	}
	send(t, bn, "alice", "hi alice")
	expect(t, an, "bob", "hi alice")
	send(t, an, "bob", "hi bob")
	expect(t, bn, "alice", "hi bob")

	for _, p := range bn.Peers(context.Background()) {
		if p.UserName == "alice" && (p.Path != "direct" || p.RTT <= 0 || p.Addr == "") {
			t.Errorf("bob's view of alice = %+v, want direct path with address and RTT", p)
		}
	}

	// Both daemons restart; ports and peer addresses were remembered.
	an.Close()
	bn.Close()
	an2 := alice.start(t, "home")
	bn2 := bob.start(t, "home")
	waitConnected(t, an2, "bob")
	send(t, an2, "bob", "after restart")
	expect(t, bn2, "alice", "after restart")
	send(t, bn2, "alice", "me too")
	expect(t, an2, "bob", "me too")
}

func mustID(t *testing.T, home string) identity.UserID {
	t.Helper()
	id, err := homedir.LoadIdentity(home)
	if err != nil {
		t.Fatal(err)
	}
	return id.ID()
}

// TestNonMemberRefusedAtTransport: a node that is not a member cannot open
// any stream to a member: the connection gater refuses the connection itself.
func TestNonMemberRefusedAtTransport(t *testing.T) {
	alice, mallory := newUser(t, "alice"), newUser(t, "mallory")
	if _, err := CreateNetwork(alice.home, "home", "user", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateNetwork(mallory.home, "home", "user", ""); err != nil {
		t.Fatal(err)
	}
	an := alice.start(t, "home")
	mn := mallory.start(t, "home") // a real coconet node, member of another network
	target := peer.AddrInfo{ID: an.PeerID(), Addrs: an.engine().Node().Host().Addrs()}

	// A plain libp2p host with a random key, TCP + Noise.
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.Transport(tcp.NewTCPTransport), libp2p.Security(noise.ID, noise.New))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Connect(ctx, target); err == nil {
		// The handshake may complete on the dialer's side before the
		// gater's verdict closes it; no stream may ever open.
		for _, proto := range []string{rpc.Proto, node.ProtoSync, node.ProtoJoin, "/ipfs/ping/1.0.0", "/ipfs/id/1.0.0"} {
			if s, err := h.NewStream(ctx, an.PeerID(), protoID(proto)); err == nil {
				s.Close()
				t.Errorf("stranger opened a %s stream to a member", proto)
			}
		}
	}
	mn.engine().Node().Host().Peerstore().AddAddrs(an.PeerID(), target.Addrs, time.Hour)
	if err := mn.engine().MessageService().Send(ctx, an.PeerID(), []byte("let me in")); err == nil {
		t.Fatal("a node of another network delivered a message to a member")
	}
	if n := len(an.engine().Node().Host().Network().Peers()); n != 0 {
		t.Errorf("alice has %d connected peers, want 0", n)
	}
}

// TestRemovalCutsOff: after removal the removed node's new streams are
// refused on every online member and the old code does not let it back in.
func TestRemovalCutsOff(t *testing.T) {
	alice, bob, carol := newUser(t, "alice"), newUser(t, "bob"), newUser(t, "carol")
	if _, err := CreateNetwork(alice.home, "home", "user", ""); err != nil {
		t.Fatal(err)
	}
	an := alice.start(t, "home")
	code := makeInvite(t, an, ledger.RoleGuest, 5) // uses left after carol
	bn := func() *Node {
		p := bob.join(t, code)
		n := bob.start(t, "home")
		n.engine().Node().AddPeerAddrs(p)
		return n
	}()
	cp := carol.join(t, code)
	cn := carol.start(t, "home")
	cn.engine().Node().AddPeerAddrs(cp)
	waitConnected(t, cn, "alice")
	waitConnected(t, bn, "alice")
	// bob learns carol through alice's ledger; connect carol to bob directly.
	cn.engine().Node().AddPeerAddrs([]peer.AddrInfo{{ID: bn.PeerID(), Addrs: bn.engine().Node().Host().Addrs()}})
	waitConnected(t, cn, "bob")
	send(t, cn, "alice", "hello from carol")
	expect(t, an, "carol", "hello from carol")

	if _, err := an.Remove("carol"); err != nil {
		t.Fatalf("Remove(carol): %v", err)
	}
	// Every online member drops carol: alice at once, bob when the removal
	// reaches it.
	carolNode := cn.PeerID()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ac := connectedTo(an, carolNode)
		bc := connectedTo(bn, carolNode)
		if !ac && !bc {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("carol still connected after removal: alice=%v bob=%v", ac, bc)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Carol was told before being cut off.
	if got := cn.Ledger().State().Role(mustID(t, carol.home)); got != ledger.RoleNone {
		t.Errorf("carol's own ledger says she is %v after removal, want removed", got)
	}
	for _, target := range []*Node{an, bn} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cn.engine().Node().Host().Peerstore().AddAddrs(target.PeerID(), target.engine().Node().Host().Addrs(), time.Hour)
		err := cn.engine().MessageService().Send(ctx, target.PeerID(), []byte("still here?"))
		cancel()
		if err == nil {
			t.Fatalf("removed carol delivered a message to %s", target.Info().Name)
		}
	}
	// The old code, which still has uses left, does not bring her back.
	cn.Close()
	os.RemoveAll(homedir.NetworkDir(carol.home, an.NetworkID()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err := Join(ctx, carol.home, code, JoinOptions{})
	var je *node.JoinError
	if !errors.As(err, &je) || !strings.Contains(err.Error(), "removed") {
		t.Fatalf("rejoin with old code: err = %v, want a refusal saying she was removed", err)
	}
	// A new invite created after the removal does.
	code2 := makeInvite(t, an, ledger.RoleGuest, 1)
	carol.join(t, code2)
}

func connectedTo(n *Node, p peer.ID) bool {
	return len(n.engine().Node().Host().Network().ConnsToPeer(p)) > 0
}
