package engine

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/devnet"
	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/msg"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/pubsub"
	"github.com/coconet/coconet/rpc"
	"github.com/coconet/coconet/stream"
)

// Config says which network and identity an engine runs. Identity and Log
// are required.
type Config struct {
	Identity *identity.Identity
	// Log is the network's ledger, opened; the engine does not close it.
	Log *ledger.Log
	// Dir keeps the node's small state (ports, peer book, revocation
	// queue); "" remembers nothing across restarts.
	Dir string
	// App names the application; "" means node.DefaultApp. Each app has
	// its own node key.
	App string
	// ListenHost is the IPv4 address to listen on; "" means all interfaces.
	ListenHost string
	// MDNS turns on LAN discovery.
	MDNS bool
	// Control lists control planes (multiaddrs ending in /p2p/ID).
	Control []string
	// Device runs the node with the identity's device key: the node the
	// owner claimed with `coco device add`.
	Device bool
	// Logf receives diagnostic lines; nil discards them.
	Logf func(format string, args ...any)
	// Host, if set, builds the node's host instead of the TCP+QUIC one
	// (tests: in-memory hosts, without a connection gater); see node.Config.
	Host func(key crypto.PrivKey) (host.Host, error)
	// Bandwidth, if set, counts every stream's bytes by protocol; see
	// node.Config.
	Bandwidth metrics.Reporter
	// AuthKey, in a developer network, enrols the node (node.Config.AuthKey).
	AuthKey *devnet.AuthKey
}

// Engine is one running node and what is attached to it. Its methods are
// safe for concurrent use; after Close, accessors of fixed facts (PeerID,
// User, Ledger, NetworkID) still answer and everything else fails.
type Engine struct {
	cfg     Config
	id      *identity.Identity
	user    identity.UserID // id.ID(), cached: deriving it costs a key generation
	self    peer.ID
	log     *ledger.Log
	n       *node.Node
	rpc     *rpc.Service
	msg     *msg.Service
	streams *stream.Service
	ps      *pubsub.PubSub

	policyMu sync.Mutex
	policies atomic.Pointer[policies]

	slots slots

	closeOnce sync.Once
	closeErr  error
}

// Start brings a node up on cfg.Log's network and starts the ways of
// talking on it. Close it when done.
func Start(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.Identity == nil || cfg.Log == nil {
		return nil, errors.New("engine: Config.Identity and Config.Log are required")
	}
	if cfg.App == "" {
		cfg.App = node.DefaultApp
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	var key ed25519.PrivateKey
	if cfg.Device {
		key = cfg.Identity.Seed.DeviceKey()
	}
	nd, err := node.New(node.Config{
		Seed: cfg.Identity.Seed, UserName: cfg.Identity.Name, Log: cfg.Log, Dir: cfg.Dir,
		App: cfg.App, ListenHost: cfg.ListenHost, MDNS: cfg.MDNS, Logf: cfg.Logf,
		Control: cfg.Control, NodeKey: key, Host: cfg.Host, Bandwidth: cfg.Bandwidth, AuthKey: cfg.AuthKey,
	})
	if err != nil {
		return nil, err
	}
	if err := nd.Start(ctx); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, id: cfg.Identity, user: cfg.Identity.ID(), self: nd.ID(), log: cfg.Log, n: nd}
	if err := e.startSemantics(); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *Engine) startSemantics() error {
	var err error
	if e.rpc, err = rpc.New(e.n, rpc.Options{Authorize: e.AuthorizeRequest, Logf: e.cfg.Logf}); err != nil {
		return err
	}
	if e.msg, err = msg.New(e.rpc, msg.Options{}); err != nil {
		return err
	}
	if e.streams, err = stream.New(e.n, stream.Options{Authorize: e.AuthorizeStream, Logf: e.cfg.Logf}); err != nil {
		return err
	}
	// Developer networks are the large ones: their pub-sub goes over
	// gossipsub (bench/fanout.sh measures where it pays). User networks
	// keep one copy per subscriber node, which lets the publisher decide
	// who receives each topic.
	gossip := e.log.State().Kind == ledger.NetKindDeveloper
	if e.ps, err = pubsub.New(e.n, pubsub.Options{Authorize: e.AuthorizeTopic, AuthorizePublish: e.AuthorizePublish,
		Gossip: gossip, UseGossip: e.UseGossip, Logf: e.cfg.Logf}); err != nil {
		return err
	}
	return nil
}

// Close stops the services attached to the engine (last attached first),
// then its ways of talking, then the node. It is idempotent.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		errs := []error{e.slots.close()}
		if e.ps != nil {
			e.ps.Close()
		}
		if e.streams != nil {
			e.streams.Close()
		}
		if e.msg != nil {
			e.msg.Close()
		}
		if e.rpc != nil {
			e.rpc.Close()
		}
		errs = append(errs, e.n.Close())
		e.closeErr = errors.Join(errs...)
	})
	return e.closeErr
}

// Context ends when the engine closes.
func (e *Engine) Context() context.Context { return e.n.Context() }

// Node is the node the engine runs: its host, gater, membership checks and
// control-plane client, for what the engine does not wrap.
func (e *Engine) Node() *node.Node { return e.n }

// App is the application the node is for (node.DefaultApp unless set).
func (e *Engine) App() string { return e.cfg.App }

// Logf is the engine's diagnostic log.
func (e *Engine) Logf(format string, args ...any) { e.cfg.Logf(format, args...) }

// Ledger is the network's ledger.
func (e *Engine) Ledger() *ledger.Log { return e.log }

// NetworkID is the network's ID.
func (e *Engine) NetworkID() ledger.NetworkID { return e.log.Network() }

// PeerID is this node's libp2p ID.
func (e *Engine) PeerID() peer.ID { return e.self }

// User is the ID of the user this node belongs to.
func (e *Engine) User() identity.UserID { return e.user }

// Identity is the identity the engine runs with.
func (e *Engine) Identity() *identity.Identity { return e.id }

// Append signs op with the user's key and adds it to the network's ledger;
// every online member node receives it within a round trip. A
// *ledger.Rejection says why the user may not do it, and nothing is
// written then.
func (e *Engine) Append(op ledger.Op) (*ledger.Op, error) {
	return e.log.Append(e.id.Seed.UserKey(), op)
}

// Peers lists the other member nodes with path, address and round-trip time.
func (e *Engine) Peers(ctx context.Context) []node.PeerInfo { return e.n.Peers(ctx) }

// Usage reports the network's control-plane usage this month.
func (e *Engine) Usage(ctx context.Context) (controlproto.Usage, error) { return e.n.Usage(ctx) }

// ControlStatus tells, per control plane, whether the node is connected,
// registered and holds a relay slot.
func (e *Engine) ControlStatus() []node.ControlStatus { return e.n.ControlStatus() }

// RPC is the node's request/reply service (Handle and Request by peer ID).
func (e *Engine) RPC() *rpc.Service { return e.rpc }

// MessageService is the node's message service (acknowledged messages by peer ID).
func (e *Engine) MessageService() *msg.Service { return e.msg }

// Streams is the node's stream service.
func (e *Engine) Streams() *stream.Service { return e.streams }

// PubSub is the node's pub-sub.
func (e *Engine) PubSub() *pubsub.PubSub { return e.ps }

// String names the engine in logs: network and node.
func (e *Engine) String() string {
	return fmt.Sprintf("%s/%s", e.log.State().Name, e.self.ShortString())
}

// StartIn starts the engine of a network (by name or ID) stored in the
// home directory home (package homedir): its identity, ledger, node state
// directory and remembered control planes fill cfg's Identity, Log and Dir
// and are added to cfg.Control. This is what coconet.Node.Start does.
func StartIn(ctx context.Context, home, network string, cfg Config) (*Engine, error) {
	if network == "" {
		return nil, errors.New("engine: a network name or ID is required")
	}
	id, err := homedir.LoadIdentity(home)
	if err != nil {
		return nil, err
	}
	netID, err := homedir.FindNetwork(home, network)
	if err != nil {
		return nil, err
	}
	l, err := ledger.Open(homedir.LedgerDir(home, netID), nil)
	if err != nil {
		return nil, err
	}
	dir := homedir.NetworkDir(home, netID)
	cfg.Identity, cfg.Log, cfg.Dir = id, l, dir
	cfg.Control = homedir.MergeControls(cfg.Control, homedir.SavedControls(dir))
	return Start(ctx, cfg)
}
