package node

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/devnet"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

// devWorld is a developer network: its owner's ledger (the owner's node
// listed), a control service key with every scope and an enrol-only one.
type devWorld struct {
	owner    *tuser
	log      *ledger.Log
	genesis  *ledger.Op
	ctrl     ed25519.PrivateKey
	ctrlOp   *ledger.Op
	enroll   ed25519.PrivateKey
	enrollOp *ledger.Op
}

func newDevWorld(t testing.TB) *devWorld {
	t.Helper()
	w := &devWorld{owner: newTUser(t, "dev")}
	l, err := ledger.Create(t.TempDir(), w.owner.seed.UserKey(), "dev", "chat", ledger.NetKindDeveloper)
	if err != nil {
		t.Fatal(err)
	}
	w.log = l
	w.genesis, _ = l.Get(ledger.ID(l.Network()))
	if _, err := l.Append(w.owner.seed.UserKey(), ledger.Op{Kind: ledger.KindAddNode, Subject: w.owner.id(), Node: w.owner.nodeKey(l.Network())}); err != nil {
		t.Fatal(err)
	}
	_, w.ctrl, _ = ed25519.GenerateKey(rand.Reader)
	_, w.enroll, _ = ed25519.GenerateKey(rand.Reader)
	exp := time.Now().Add(24 * time.Hour).Unix()
	if w.ctrlOp, err = l.Append(w.owner.seed.UserKey(), ledger.Op{Kind: ledger.KindDelegateService, Subject: identity.UserID(pubOf(w.ctrl)), SubjectName: "control", Scopes: ledger.ScopeAll, Expires: exp}); err != nil {
		t.Fatal(err)
	}
	if w.enrollOp, err = l.Append(w.owner.seed.UserKey(), ledger.Op{Kind: ledger.KindDelegateService, Subject: identity.UserID(pubOf(w.enroll)), SubjectName: "enrol", Scopes: ledger.ScopeEnroll, Expires: exp}); err != nil {
		t.Fatal(err)
	}
	return w
}

// authKey mints an auth key with the control key and returns its string
// form, as `coco net authkey create` prints it.
func (w *devWorld) authKey(t testing.TB, o devnet.AuthKeyOptions) string {
	t.Helper()
	k, err := devnet.NewAuthKey(w.ctrl, w.ctrlOp, w.genesis, o, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return k.String()
}

// startOwner starts the owner's node, a member by the ledger.
func (w *devWorld) startOwner(t testing.TB) *Node {
	return startNode(t, w.owner, w.log, nil)
}

// join starts a node that enrols with the auth key string s: from the
// key alone (its genesis makes the node's ledger).
func (w *devWorld) join(t testing.TB, s string, logf func(string, ...any)) *Node {
	t.Helper()
	k, err := devnet.ParseAuthKey(s, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return w.startWith(t, Config{AuthKey: k, Logf: logf})
}

// startWith starts a node of the network with cfg (its Seed, Log and
// ListenHost filled in).
func (w *devWorld) startWith(t testing.TB, cfg Config) *Node {
	t.Helper()
	u := newTUser(t, "node")
	l, err := ledger.Init(t.TempDir(), w.genesis, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Seed, cfg.Log, cfg.ListenHost = u.seed, l, "127.0.0.1"
	cfg.Dir = t.TempDir()
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func dial(t testing.TB, a, b *Node) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return a.Host().Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Host().Addrs()})
}

// dialTCP connects a to b over TCP only.
func dialTCP(t testing.TB, a, b *Node) error {
	t.Helper()
	var addrs []ma.Multiaddr
	for _, ad := range b.Host().Addrs() {
		if _, err := ad.ValueForProtocol(ma.P_TCP); err == nil {
			addrs = append(addrs, ad)
		}
	}
	a.Host().Network().ClosePeer(b.ID())
	a.Host().Peerstore().ClearAddrs(b.ID())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return a.Host().Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: addrs})
}

// gaterOf is the gate n's host uses.
func (n *Node) gaterOf() *gater {
	return &gater{state: n.log.State, self: n.self, now: n.cfg.Now, control: n.isControl, dev: n.dev}
}

// connAddrs are the addresses of a connection from 127.0.0.1.
type connAddrs struct{}

func (connAddrs) LocalMultiaddr() ma.Multiaddr  { return ma.StringCast("/ip4/127.0.0.1/tcp/1") }
func (connAddrs) RemoteMultiaddr() ma.Multiaddr { return ma.StringCast("/ip4/127.0.0.1/tcp/2") }

// link connects a to b and waits until each takes the other for a member.
func link(t *testing.T, a, b *Node) {
	t.Helper()
	if err := dial(t, a, b); err != nil {
		t.Fatalf("connect: %v", err)
	}
	waitCond(t, 10*time.Second, "the credential exchange", func() bool { return a.classifyPeer(b.ID()) && b.classifyPeer(a.ID()) })
}

func (n *Node) classifyPeer(p peer.ID) bool { m, _ := n.classify(p); return m }

const echoProto = "/test/devnet/echo"

// serveEcho makes n echo one line to members, as an application protocol
// does: it checks IsMember on every stream.
func serveEcho(n *Node) {
	n.Host().SetStreamHandler(echoProto, func(s network.Stream) {
		defer s.Close()
		if !n.IsMember(s.Conn().RemotePeer()) {
			s.Reset()
			return
		}
		b, _ := bufio.NewReader(s).ReadString('\n')
		io.WriteString(s, b)
	})
}

func echo(a, b *Node) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := a.Host().NewStream(ctx, b.ID(), echoProto)
	if err != nil {
		return "", err
	}
	defer s.Close()
	io.WriteString(s, "hi "+b.ID().ShortString()+"\n")
	return bufio.NewReader(s).ReadString('\n')
}

// The user story: a developer mints one auth key; N nodes join with it
// (from the key alone: no invite, no ledger entry each), recognise each
// other as members and talk. The ledger does not grow with the nodes.
func TestDevNodesJoinWithAuthKey(t *testing.T) {
	w := newDevWorld(t)
	owner := w.startOwner(t)
	opsBefore := len(w.log.Ops())
	key := w.authKey(t, devnet.AuthKeyOptions{Reusable: true, Tags: []string{"client"}})
	const N = 5
	var nodes []*Node
	for range N {
		n := w.join(t, key, nil)
		serveEcho(n)
		nodes = append(nodes, n)
	}
	link(t, nodes[0], owner)
	for i := 1; i < N; i++ {
		link(t, nodes[i], nodes[i-1])
		link(t, nodes[i], nodes[0])
	}
	for i, a := range nodes {
		for _, b := range nodes {
			if a == b || a.Host().Network().Connectedness(b.ID()) != network.Connected {
				continue
			}
			got, err := echo(a, b)
			if want := "hi " + b.ID().ShortString() + "\n"; err != nil || got != want {
				t.Fatalf("node %d echo from %s = %q, %v; want %q", i, b.ID().ShortString(), got, err, want)
			}
			s, ok := b.SenderOf(a.ID())
			if !ok || !slices.Equal(s.Tags, []string{"client"}) {
				t.Errorf("SenderOf = %+v, %v; want the tags of the auth key", s, ok)
			}
		}
	}
	// The owner's node (a ledger member) and the credential members know
	// each other; the governance ops reach the joined nodes by sync.
	if !owner.IsMember(nodes[0].ID()) || !nodes[0].IsMember(owner.ID()) {
		t.Error("the owner's node and a credential member do not take each other for members")
	}
	waitCond(t, 10*time.Second, "the governance ledger reaching a joined node", func() bool {
		return nodes[0].Log().State().Services[identity.UserID(pubOf(w.ctrl))] != nil
	})
	if got := len(w.log.Ops()); got != opsBefore {
		t.Errorf("the ledger has %d ops after %d nodes joined, want %d: membership must not be a ledger entry", got, N, opsBefore)
	}
	if got := len(nodes[N-1].Log().Ops()); got > opsBefore {
		t.Errorf("a joined node's ledger has %d ops, more than the owner's %d", got, opsBefore)
	}
}

// forged builds credentials a modified client could present.
func (w *devWorld) forged(t testing.TB, kind string, node [32]byte) *devnet.NodeCred {
	t.Helper()
	now := time.Now()
	mint := func(issuer ed25519.PrivateKey, d, g *ledger.Op, o devnet.AuthKeyOptions, at time.Time) *devnet.AuthKey {
		k, err := devnet.NewAuthKey(issuer, d, g, o, at)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	switch kind {
	case "expired":
		k := mint(w.ctrl, w.ctrlOp, w.genesis, devnet.AuthKeyOptions{Expiry: time.Hour, NodeValidity: time.Hour}, now.Add(-3*time.Hour))
		return k.Enroll(node, now.Add(-3*time.Hour))
	case "forged issuer":
		// A stranger's auth key, claiming the control key's delegation.
		_, stranger, _ := ed25519.GenerateKey(rand.Reader)
		k := mint(w.ctrl, w.ctrlOp, w.genesis, devnet.AuthKeyOptions{}, now)
		c := k.Enroll(node, now)
		c.AuthKey.Sign(stranger, w.ctrlOp)
		return c
	case "other network":
		other, err := ledger.Create(t.TempDir(), w.owner.seed.UserKey(), "dev", "chat", ledger.NetKindDeveloper)
		if err != nil {
			t.Fatal(err)
		}
		g, _ := other.Get(ledger.ID(other.Network()))
		return mint(w.owner.seed.UserKey(), nil, g, devnet.AuthKeyOptions{}, now).Enroll(node, now)
	case "tampered chain":
		k := mint(w.ctrl, w.ctrlOp, w.genesis, devnet.AuthKeyOptions{Tags: []string{"client"}}, now)
		c := k.Enroll(node, now)
		c.AuthKey.Tags = []string{"admin", "client"} // the certificate's signature no longer holds
		return c
	case "another node's":
		return mint(w.ctrl, w.ctrlOp, w.genesis, devnet.AuthKeyOptions{}, now).Enroll([32]byte{1}, now)
	case "enrol-only key as the owner":
		// The enrol-only service key signs an auth key naming the owner
		// as its issuer: it cannot forge the owner.
		k := mint(w.enroll, w.enrollOp, w.genesis, devnet.AuthKeyOptions{}, now)
		c := k.Enroll(node, now)
		c.AuthKey.Delegation = nil
		c.AuthKey.Issuer = w.owner.id()
		return c
	}
	t.Fatalf("unknown forgery %q", kind)
	return nil
}

// A node with a bad credential is refused at the connection: the
// exchange fails, the connection is closed, it is never a member, and no
// protocol but the hello answers it meanwhile.
func TestDevGateRefusesBadCredentials(t *testing.T) {
	w := newDevWorld(t)
	target := w.join(t, w.authKey(t, devnet.AuthKeyOptions{Reusable: true}), nil)
	serveEcho(target)
	for _, kind := range []string{"expired", "forged issuer", "other network", "tampered chain", "another node's", "enrol-only key as the owner", "none"} {
		t.Run(kind, func(t *testing.T) {
			u := newTUser(t, "mallory")
			cfg := Config{}
			if kind != "none" {
				cfg.DevCred = w.forged(t, kind, pubOf(u.seed.NodeKey(w.log.Network(), DefaultApp)))
			}
			l, err := ledger.Init(t.TempDir(), w.genesis, nil)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Seed, cfg.Log, cfg.ListenHost = u.seed, l, "127.0.0.1"
			m, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			dial(t, m, target) // may succeed: the hello then fails
			waitCond(t, 10*time.Second, "the refusal", func() bool {
				return target.Host().Network().Connectedness(m.ID()) != network.Connected
			})
			if target.IsMember(m.ID()) || target.classifyPeer(m.ID()) {
				t.Fatal("the target takes the forger for a member")
			}
			if _, err := echo(m, target); err == nil {
				t.Error("the forger got an echo: an application protocol answered it")
			}
		})
	}
}

// A stranger that connects and never sends its credential gets only the
// hello protocol, for devHelloTimeout; with a thousand throwaway keys it
// holds at most devMaxPendingPerIP places (devMaxPending in all), and the
// rest are refused at the gate.
func TestDevThrowawayKeysBounded(t *testing.T) {
	w := newDevWorld(t)
	target := w.join(t, w.authKey(t, devnet.AuthKeyOptions{}), nil)
	serveEcho(target)
	const keys = 1000
	accepted := 0
	for i := range keys {
		priv, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		h, err := libp2p.New(libp2p.Identity(priv), libp2p.NoListenAddrs,
			libp2p.Transport(tcp.NewTCPTransport), libp2p.Security(noise.ID, noise.New))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = h.Connect(ctx, peer.AddrInfo{ID: target.ID(), Addrs: target.Host().Addrs()})
		if err == nil && i == 0 {
			// Connected but unverified: every protocol but the hello is refused.
			for _, proto := range []protocol.ID{ProtoSync, ProtoPex, echoProto, devnet.ProtoLists} {
				s, err := h.NewStream(ctx, target.ID(), proto)
				if err == nil {
					s.Write([]byte{1, 0})
					if _, err = s.Read(make([]byte, 1)); err == nil {
						t.Errorf("an unverified stranger got an answer on %s", proto)
					}
					s.Reset()
				}
			}
		}
		cancel()
		if err == nil && h.Network().Connectedness(target.ID()) == network.Connected {
			accepted++
		}
		defer h.Close()
	}
	if p := target.dev.pendingCount(); p > devMaxPendingPerIP {
		t.Errorf("the target holds %d pending connections from one address, want at most %d", p, devMaxPendingPerIP)
	}
	if got := len(target.Host().Network().Peers()); got > devMaxPendingPerIP {
		t.Errorf("the target holds connections to %d strangers, want at most %d", got, devMaxPendingPerIP)
	}
	t.Logf("%d of %d throwaway keys got a connection at some point (places are swept every %v)", accepted, keys, devHelloTimeout)
	// A real member still gets in once the sweep frees the places.
	n := w.join(t, w.authKey(t, devnet.AuthKeyOptions{}), nil)
	waitCond(t, 3*devHelloTimeout, "a member getting in past the strangers", func() bool {
		dial(t, n, target)
		return target.classifyPeer(n.ID())
	})
}

// waitCutOff waits until no node of nodes is connected to x or takes it
// for a member.
func waitCutOff(t *testing.T, x *Node, nodes ...*Node) {
	t.Helper()
	waitCond(t, 10*time.Second, "the revoked node cut off everywhere", func() bool {
		for _, n := range nodes {
			if n.Host().Network().Connectedness(x.ID()) == network.Connected || n.classifyPeer(x.ID()) {
				return false
			}
		}
		return true
	})
}

// Revocation: a list signed by the control key, published at one node,
// reaches every connected node, which disconnect the revoked node and
// refuse it afterwards; an older list does not undo it; a service key
// with only enrol scope cannot revoke.
func TestDevRevocationCutsOff(t *testing.T) {
	w := newDevWorld(t)
	key := w.authKey(t, devnet.AuthKeyOptions{Reusable: true})
	var nodes []*Node
	for range 4 {
		nodes = append(nodes, w.join(t, key, nil))
	}
	x := w.join(t, key, nil)
	for i := 1; i < len(nodes); i++ {
		link(t, nodes[i], nodes[i-1])
	}
	for _, n := range nodes {
		link(t, x, n)
	}
	net := w.log.Network()
	now := time.Now()
	// The enrol-only key's list is refused, and nothing changes.
	bad := &devnet.Revocations{Net: net, Version: 5, Issued: now.Unix(), Nodes: [][32]byte{x.NodeKey()}}
	bad.Sign(w.enroll, w.enrollOp)
	if err := nodes[0].PublishLists(context.Background(), bad, nil); !errors.Is(err, devnet.ErrNotAuthorized) {
		t.Fatalf("PublishLists(enrol-only key's list) = %v, want ErrNotAuthorized", err)
	}
	if !nodes[3].classifyPeer(x.ID()) {
		t.Fatal("a refused list cut the node off")
	}

	v2 := &devnet.Revocations{Net: net, Version: 2, Issued: now.Unix(), Nodes: [][32]byte{x.NodeKey()}}
	v2.Sign(w.ctrl, w.ctrlOp)
	if err := nodes[0].PublishLists(context.Background(), v2, nil); err != nil {
		t.Fatalf("PublishLists = %v", err)
	}
	waitCutOff(t, x, nodes...)
	for i, n := range nodes {
		if v, _ := n.Lists().Versions(); v != 2 {
			t.Errorf("node %d holds revocation list version %d, want 2", i, v)
		}
	}
	// Refused afterwards at the gate, whoever dials: no connection, not
	// even a pending one for the hello. (Over TCP: the gate decides before
	// the muxer, so the dialer sees the refusal; over QUIC it would see a
	// connection that the other side closes.)
	g := nodes[2].gaterOf()
	if g.InterceptPeerDial(x.ID()) || g.InterceptSecured(network.DirInbound, x.ID(), connAddrs{}) {
		t.Error("the gate admits a revoked node")
	}
	dialTCP(t, x, nodes[2])
	time.Sleep(200 * time.Millisecond)
	if nodes[2].Host().Network().Connectedness(x.ID()) == network.Connected || nodes[2].classifyPeer(x.ID()) {
		t.Error("a revoked node connected again")
	}
	// An older list, even properly signed, is not taken.
	v1 := &devnet.Revocations{Net: net, Version: 1, Issued: now.Unix()}
	v1.Sign(w.ctrl, w.ctrlOp)
	if err := nodes[3].PublishLists(context.Background(), v1, nil); !errors.Is(err, devnet.ErrStale) {
		t.Errorf("PublishLists(older list) = %v, want ErrStale", err)
	}
	if !nodes[3].dev.refused(x.NodeKey()) {
		t.Error("an older list undid the revocation")
	}
}

// The tag policy, enforced by each node from the signed list: clients may
// talk to servers, not to each other; servers may not open to clients.
func TestDevTagPolicy(t *testing.T) {
	w := newDevWorld(t)
	server := w.join(t, w.authKey(t, devnet.AuthKeyOptions{Tags: []string{"server"}}), nil)
	c1 := w.join(t, w.authKey(t, devnet.AuthKeyOptions{Tags: []string{"client"}}), nil)
	c2 := w.join(t, w.authKey(t, devnet.AuthKeyOptions{Tags: []string{"client"}}), nil)
	for _, n := range []*Node{server, c1, c2} {
		serveEcho(n)
	}
	link(t, c1, server)
	link(t, c2, server)
	link(t, c1, c2)
	pol := &devnet.Policy{Net: w.log.Network(), Version: 1, Issued: time.Now().Unix(), Rules: []devnet.Rule{{From: "client", To: "server"}}}
	pol.Sign(w.ctrl, w.ctrlOp)
	if err := server.PublishLists(context.Background(), nil, pol); err != nil {
		t.Fatal(err)
	}
	waitCond(t, 10*time.Second, "the policy reaching the clients", func() bool {
		_, p1 := c1.Lists().Versions()
		_, p2 := c2.Lists().Versions()
		return p1 == 1 && p2 == 1
	})
	waitCond(t, 10*time.Second, "the clients' connection closed", func() bool {
		return c1.Host().Network().Connectedness(c2.ID()) != network.Connected
	})
	if _, err := echo(c1, server); err != nil {
		t.Errorf("client → server: %v, want an echo", err)
	}
	if _, err := echo(server, c1); err == nil {
		t.Error("server → client answered; the policy allows only client → server")
	}
	if !server.IsMember(c1.ID()) || c1.IsMember(server.ID()) {
		t.Errorf("IsMember: server sees client %v (want true), client sees server %v (want false)", server.IsMember(c1.ID()), c1.IsMember(server.ID()))
	}
	if err := dial(t, c1, c2); err == nil {
		time.Sleep(200 * time.Millisecond)
	}
	if c2.IsMember(c1.ID()) || c1.IsMember(c2.ID()) {
		t.Error("two clients take each other for members under a policy that lets neither talk")
	}
}

// A user network's node refuses an auth key: credentials are for developer
// networks only.
func TestDevAuthKeyNotForUserNetworks(t *testing.T) {
	alice := newTUser(t, "alice")
	l, err := ledger.Create(t.TempDir(), alice.seed.UserKey(), "alice", "home", ledger.NetKindUser)
	if err != nil {
		t.Fatal(err)
	}
	w := newDevWorld(t)
	k, _ := devnet.ParseAuthKey(w.authKey(t, devnet.AuthKeyOptions{}), time.Now())
	_, err = New(Config{Seed: alice.seed, Log: l, AuthKey: k})
	if !errors.Is(err, devnet.ErrNotDeveloper) {
		t.Errorf("New(user network, AuthKey) = %v, want ErrNotDeveloper", err)
	}
}

var _ = fmt.Sprint
