package enginetest

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

// Net is a network of engines on one mocknet. Its methods must be called
// from the test's goroutine, except Link, which ops may call.
type Net struct {
	t     testing.TB
	MN    mocknet.Mocknet
	owner *identity.Identity
	log   *ledger.Log // the owner's ledger; the owner's first engine runs on it

	mu      sync.Mutex
	users   map[string]*identity.Identity // by name, the owner's too
	devices map[string]*identity.Identity // by device name
	started []*engine.Engine
	addrs   map[peer.ID]ma.Multiaddr
	ownerOn bool // an engine runs on log
}

// New creates a network named "home" owned by a new user named owner, in
// a temporary directory, with the owner's node for node.DefaultApp. The
// engines and the mocknet close when the test ends.
func New(t testing.TB, owner string) *Net {
	t.Helper()
	return newNet(t, owner, ledger.NetKindUser)
}

// NewDeveloper is New for a developer network (ledger.NetKindDeveloper):
// its engines run pub-sub over gossipsub.
func NewDeveloper(t testing.TB, owner string) *Net {
	t.Helper()
	return newNet(t, owner, ledger.NetKindDeveloper)
}

func newNet(t testing.TB, owner, kind string) *Net {
	t.Helper()
	n := &Net{t: t, MN: mocknet.New(), users: map[string]*identity.Identity{}, devices: map[string]*identity.Identity{}, addrs: map[peer.ID]ma.Multiaddr{}}
	dir := t.TempDir() // before the cleanup below, so removed after the engines closed
	t.Cleanup(func() {
		n.mu.Lock()
		es := n.started
		n.mu.Unlock()
		for i := len(es) - 1; i >= 0; i-- {
			es[i].Close()
		}
		n.MN.Close()
	})
	n.owner = newIdentity(t, owner)
	n.users[owner] = n.owner
	l, err := ledger.Create(filepath.Join(dir, "ledger"), n.owner.Seed.UserKey(), owner, "home", kind)
	if err != nil {
		t.Fatalf("enginetest: create ledger: %v", err)
	}
	n.log = l
	n.AddNode(owner, node.DefaultApp)
	return n
}

func newIdentity(t testing.TB, name string) *identity.Identity {
	s, err := identity.NewSeed()
	if err != nil {
		t.Fatalf("enginetest: %v", err)
	}
	return &identity.Identity{Name: name, Seed: s}
}

// Log is the owner's ledger. Operations appended to it reach the other
// engines by the network's own sync, or at once with Sync.
func (n *Net) Log() *ledger.Log { return n.log }

// Owner is the owner's identity.
func (n *Net) Owner() *identity.Identity { return n.owner }

// User returns the identity of a user (or device) added by name.
func (n *Net) User(name string) *identity.Identity {
	n.mu.Lock()
	defer n.mu.Unlock()
	if id := n.users[name]; id != nil {
		return id
	}
	if id := n.devices[name]; id != nil {
		return id
	}
	n.t.Fatalf("enginetest: no user or device %q", name)
	return nil
}

func (n *Net) append(o ledger.Op) *ledger.Op {
	n.t.Helper()
	op, err := n.log.Append(n.owner.Seed.UserKey(), o)
	if err != nil {
		n.t.Fatalf("enginetest: append %s: %v", o.Kind, err)
	}
	return op
}

// AddUser adds a user with role (directly, by the owner) and its node for
// node.DefaultApp.
func (n *Net) AddUser(name string, role ledger.Role) *identity.Identity {
	n.t.Helper()
	id := newIdentity(n.t, name)
	n.mu.Lock()
	n.users[name] = id
	n.mu.Unlock()
	n.append(ledger.Op{Kind: ledger.KindAddUser, Subject: id.ID(), Role: role, SubjectName: name})
	n.AddNode(name, node.DefaultApp)
	return id
}

// Stranger is an identity the ledger does not list: a node started with
// it runs on a copy of the ledger but is no member node.
func (n *Net) Stranger(name string) *identity.Identity {
	id := newIdentity(n.t, name)
	n.mu.Lock()
	n.users[name] = id
	n.mu.Unlock()
	return id
}

// AddNode adds user's node for app and returns its peer ID.
func (n *Net) AddNode(user, app string) peer.ID {
	n.t.Helper()
	id := n.User(user)
	nk := id.Seed.NodeKey(n.log.Network(), app)
	n.append(ledger.Op{Kind: ledger.KindAddNode, Subject: id.ID(), Node: pub(nk), SubjectName: app,
		NodeSig: ledger.SignNodeProof(nk, n.log.Network(), id.ID())})
	return peerOf(n.t, nk)
}

// NodeID is the peer ID of user's node for app (added or not).
func (n *Net) NodeID(user, app string) peer.ID {
	return peerOf(n.t, n.User(user).Seed.NodeKey(n.log.Network(), app))
}

// AddDevice adds a device of the owner's, named name, as `coco device add`
// does: its node (with the device's key, owned by the owner) and its
// record in ledger.TableDevice. Start it with Options{Device: true}.
func (n *Net) AddDevice(name string) peer.ID {
	n.t.Helper()
	id := newIdentity(n.t, name)
	n.mu.Lock()
	n.devices[name] = id
	n.mu.Unlock()
	dk := id.Seed.DeviceKey()
	pid := peerOf(n.t, dk)
	n.append(ledger.Op{Kind: ledger.KindAddNode, Subject: n.owner.ID(), Node: pub(dk), SubjectName: name})
	val, _ := json.Marshal(map[string]any{"name": name, "node": pid.String(), "added": time.Now().UTC().Truncate(time.Second)})
	n.append(ledger.Op{Kind: ledger.KindPut, Table: ledger.TableDevice, Key: pid.String(), Value: val})
	return pid
}

// Remove removes a user (by name) from the network in the owner's ledger.
func (n *Net) Remove(name string) {
	n.t.Helper()
	n.append(ledger.Op{Kind: ledger.KindRemoveUser, Subject: n.User(name).ID()})
}

// Options say how Start runs an engine.
type Options struct {
	// App is the node's app; "" means node.DefaultApp.
	App string
	// Device runs the device's key (a name given to AddDevice).
	Device bool
	// Alone links the new host to no other and tells no engine its
	// address (nor it theirs), so nothing connects to it until Link.
	Alone bool
	// Logf receives the engine's diagnostic lines; nil discards them.
	Logf func(format string, args ...any)
}

// Start starts an engine for user (or device) name on a mock host. The
// owner's first engine runs on the owner's ledger, every other on a copy
// of it. Unless o.Alone, the new host is linked to every host started
// before and the engines learn each other's addresses, so their
// reconnect loops connect them (see WaitConnected).
func (n *Net) Start(name string, o Options) *engine.Engine {
	n.t.Helper()
	id := n.User(name)
	l := n.log
	n.mu.Lock()
	if id != n.owner || n.ownerOn || o.Device {
		l = nil
	} else {
		n.ownerOn = true
	}
	n.mu.Unlock()
	if l == nil {
		l = n.copyLog()
	}
	var h host.Host
	cfg := engine.Config{Identity: id, Log: l, App: o.App, Device: o.Device, Logf: o.Logf,
		Host: func(key crypto.PrivKey) (host.Host, error) {
			var err error
			h, err = n.MN.AddPeer(key, n.nextAddr())
			return h, err
		}}
	e, err := engine.Start(context.Background(), cfg)
	if err != nil {
		n.t.Fatalf("enginetest: start %s: %v", name, err)
	}
	n.mu.Lock()
	others := n.started
	n.started = append(n.started, e)
	n.addrs[e.PeerID()] = h.Addrs()[0]
	n.mu.Unlock()
	if !o.Alone {
		for _, x := range others {
			n.Link(e, x)
			n.Introduce(e, x)
		}
	}
	return e
}

var addrCount struct {
	sync.Mutex
	n int
}

func (n *Net) nextAddr() ma.Multiaddr {
	addrCount.Lock()
	addrCount.n++
	i := addrCount.n
	addrCount.Unlock()
	return ma.StringCast(fmt.Sprintf("/ip4/10.%d.%d.%d/tcp/4242", i>>16&255, i>>8&255, i&255))
}

// copyLog starts a ledger on a copy of the owner's operations, as a member
// that joined holds.
func (n *Net) copyLog() *ledger.Log {
	n.t.Helper()
	ops := n.log.Ops()
	if len(ops) == 0 || ops[0].Kind != ledger.KindGenesis {
		n.t.Fatal("enginetest: the owner's ledger does not begin with its genesis")
	}
	l, err := ledger.Init(filepath.Join(n.t.TempDir(), "ledger"), ops[0], nil)
	if err != nil {
		n.t.Fatalf("enginetest: copy ledger: %v", err)
	}
	if _, errs := l.AddAll(ops[1:]); errors.Join(errs...) != nil {
		n.t.Fatalf("enginetest: copy ledger: %v", errors.Join(errs...))
	}
	return l
}

// Sync adds the owner's operations to the ledgers of es at once, without
// waiting for the network's sync.
func (n *Net) Sync(es ...*engine.Engine) {
	n.t.Helper()
	ops := n.log.Ops()
	for _, e := range es {
		if e.Ledger() == n.log {
			continue
		}
		if _, errs := e.Ledger().AddAll(ops); errors.Join(errs...) != nil {
			n.t.Fatalf("enginetest: sync %v: %v", e, errors.Join(errs...))
		}
	}
}

// Link makes a path between a's and b's hosts (it does not connect them).
// It may be called from any goroutine.
func (n *Net) Link(a, b *engine.Engine) {
	if len(n.MN.LinksBetweenPeers(a.PeerID(), b.PeerID())) > 0 {
		return
	}
	if _, err := n.MN.LinkPeers(a.PeerID(), b.PeerID()); err != nil {
		panic(fmt.Sprintf("enginetest: link: %v", err)) // t.Fatal is for the test's goroutine
	}
}

// Cut removes the path between a and b and closes their connections.
func (n *Net) Cut(a, b *engine.Engine) {
	n.t.Helper()
	if err := n.MN.UnlinkPeers(a.PeerID(), b.PeerID()); err != nil && !strings.Contains(err.Error(), "no link") {
		n.t.Fatalf("enginetest: unlink: %v", err)
	}
	a.Node().Host().Network().ClosePeer(b.PeerID())
	b.Node().Host().Network().ClosePeer(a.PeerID())
}

// Introduce tells a and b each other's address: their reconnect loops
// then connect them if they are linked and members of each other's
// ledgers.
func (n *Net) Introduce(a, b *engine.Engine) {
	n.mu.Lock()
	aa, ba := n.addrs[a.PeerID()], n.addrs[b.PeerID()]
	n.mu.Unlock()
	a.Node().AddPeerAddrs([]peer.AddrInfo{{ID: b.PeerID(), Addrs: []ma.Multiaddr{ba}}})
	b.Node().AddPeerAddrs([]peer.AddrInfo{{ID: a.PeerID(), Addrs: []ma.Multiaddr{aa}}})
}

// WaitConnected waits until each engine of es is connected to every other
// and sees it as a member node; the test fails after 15 s.
func (n *Net) WaitConnected(es ...*engine.Engine) {
	n.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok := true
		for _, a := range es {
			for _, b := range es {
				if a != b && (!a.Connected(b.PeerID()) || !a.Node().IsMember(b.PeerID())) {
					ok = false
				}
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("enginetest: engines not connected after 15s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pub(k ed25519.PrivateKey) [32]byte { return [32]byte(k.Public().(ed25519.PublicKey)) }

func peerOf(t testing.TB, k ed25519.PrivateKey) peer.ID {
	id, err := node.PeerIDOf(pub(k))
	if err != nil {
		t.Fatalf("enginetest: %v", err)
	}
	return id
}
