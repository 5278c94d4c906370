package coconet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/devnet"
	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/msg"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/pubsub"
	"github.com/coconet/coconet/rpc"
	"github.com/coconet/coconet/stream"
)

// Message is a message received from another member node.
type Message = msg.Message

// PeerInfo describes another member node.
type PeerInfo = node.PeerInfo

// InviteOptions shape an invite.
type InviteOptions = engine.InviteOptions

// Policy narrows who may use what on a node, beyond being a member; see
// engine.Policy.
type Policy = engine.Policy

// ErrNotStarted is what a Node's methods return before Start and after
// Close.
var ErrNotStarted = errors.New("coconet: the node is not running (call Start)")

// Node is one app's node in one network. Set the fields, then Start.
type Node struct {
	// Home is the coconet home directory; "" means DefaultHome().
	Home string
	// Network is the network's name or ID; required.
	Network string
	// App names the application; "" means "coco". Each app has its own key.
	App string
	// ListenHost is the IPv4 address to listen on; "" means all interfaces.
	ListenHost string
	// MDNS turns on LAN discovery.
	MDNS bool
	// Control lists control planes (multiaddrs ending in /p2p/ID) for
	// rendezvous, address reflection and the relay; empty means LAN and
	// remembered addresses only.
	Control []string
	// Logf receives diagnostic lines; nil discards them.
	Logf func(format string, args ...any)
	// Device runs the node with the home's device key (see package device):
	// the node the owner claimed with `coco device add`.
	Device bool
	// AuthKey joins a developer network with no invite (tsnet's
	// TS_AUTHKEY is the model): the key's string, as `coco net authkey
	// create` prints it. The network (Network may be empty) and its
	// control planes come from the key; the node makes its credential
	// with it once and keeps it.
	AuthKey string

	mu   sync.Mutex
	e    *engine.Engine
	last *engine.Engine // the engine before Close, for its fixed facts
}

// Start opens the network's ledger and brings the node up.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.e != nil {
		return errors.New("coconet: node already started")
	}
	if n.Home == "" {
		n.Home = homedir.DefaultHome()
	}
	var key *devnet.AuthKey
	if n.AuthKey != "" {
		k, err := devnet.ParseAuthKey(n.AuthKey, time.Now())
		if err != nil {
			return fmt.Errorf("coconet: auth key: %w", err)
		}
		id, err := homedir.AdoptAuthKey(n.Home, k)
		if err != nil {
			return fmt.Errorf("coconet: auth key: %w", err)
		}
		if n.Network == "" {
			n.Network = id.String()
		}
		key = k
	}
	if n.Network == "" {
		return errors.New("coconet: Node.Network is required (a network name or ID)")
	}
	e, err := engine.StartIn(ctx, n.Home, n.Network, engine.Config{
		App: n.App, ListenHost: n.ListenHost, MDNS: n.MDNS, Control: n.Control, Device: n.Device, Logf: n.Logf, AuthKey: key,
	})
	if err != nil {
		return err
	}
	n.e, n.last = e, e
	return nil
}

// Close stops the node and every service attached to it. It is idempotent.
func (n *Node) Close() error {
	n.mu.Lock()
	e := n.e
	n.e = nil
	n.mu.Unlock()
	if e == nil {
		return nil
	}
	return e.Close()
}

// engine returns the running engine, or nil.
func (n *Node) engine() *engine.Engine {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.e
}

// facts returns the engine, running or closed, for what stays true after
// Close (IDs, the ledger); nil before the first Start.
func (n *Node) facts() *engine.Engine {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.last
}

// Attach starts a service on the running node and keeps it, one per type,
// until the node closes (see engine.Attach): this is how the home model,
// OTA and the push server attach to a node, and how an application can
// attach its own.
func Attach[S engine.Service](n *Node, start func(*engine.Engine) (S, error)) (S, error) {
	e := n.engine()
	if e == nil {
		var zero S
		return zero, ErrNotStarted
	}
	return engine.Attach(e, start)
}

// Lookup returns the service of type S attached to the running node.
func Lookup[S engine.Service](n *Node) (S, bool) {
	e := n.engine()
	if e == nil {
		var zero S
		return zero, false
	}
	return engine.Lookup[S](e)
}

// Use returns the service of type S attached to the running node, attaching
// it with start if there is none yet.
func Use[S engine.Service](n *Node, start func(*engine.Engine) (S, error)) (S, error) {
	e := n.engine()
	if e == nil {
		var zero S
		return zero, ErrNotStarted
	}
	return engine.Use(e, start)
}

// Ledger is the network's ledger (nil before Start).
func (n *Node) Ledger() *ledger.Log {
	if e := n.facts(); e != nil {
		return e.Ledger()
	}
	return nil
}

// NetworkID is the network's ID.
func (n *Node) NetworkID() ledger.NetworkID { return n.Ledger().Network() }

// PeerID is this node's libp2p ID ("" before Start; still the node's ID
// after Close).
func (n *Node) PeerID() peer.ID {
	if e := n.facts(); e != nil {
		return e.PeerID()
	}
	return ""
}

// User is the ID of the user this node belongs to.
func (n *Node) User() identity.UserID {
	if e := n.facts(); e != nil {
		return e.User()
	}
	return identity.UserID{}
}

// Info summarizes the network.
func (n *Node) Info() NetworkInfo {
	i := homedir.Info(n.Ledger(), n.User())
	if n.Device {
		i.Role = "device"
	}
	return i
}

// Members lists the network's members, owner first.
func (n *Node) Members() []*ledger.Member { return n.Ledger().State().SortedMembers() }

// ResolveMember finds a member by name, user ID (or a prefix of 6+
// characters) and explains what went wrong otherwise.
func ResolveMember(st *ledger.State, ref string) (*ledger.Member, error) {
	return engine.ResolveMember(st, ref)
}

// Send delivers data to a member (by name or user ID), trying each of its
// nodes, and returns once one acknowledged it.
//
// When none of the member's nodes can be reached yet (just started, or
// just joined), Send waits for one until ctx's deadline, trying again with
// a backoff, and then says the member is offline. A ctx without a deadline
// does not wait: Send tries each node once. Send fails at once, without
// waiting, when to names no member, when this user was removed, and when
// the member's node refuses this one.
func (n *Node) Send(ctx context.Context, to string, data []byte) error {
	e := n.engine()
	if e == nil {
		return ErrNotStarted
	}
	return e.Send(ctx, to, data)
}

// Messages subscribes to incoming messages; call cancel when done. Before
// Start and after Close the channel is closed at once.
func (n *Node) Messages() (<-chan Message, func()) {
	e := n.engine()
	if e == nil {
		ch := make(chan Message)
		close(ch)
		return ch, func() {}
	}
	return e.Messages()
}

// Peers lists the other member nodes with path, address and round-trip time.
func (n *Node) Peers(ctx context.Context) []PeerInfo {
	if e := n.engine(); e != nil {
		return e.Peers(ctx)
	}
	return nil
}

// Invite records an invite in the ledger and returns its code.
func (n *Node) Invite(opts InviteOptions) (code string, expires time.Time, err error) {
	e := n.engine()
	if e == nil {
		return "", time.Time{}, ErrNotStarted
	}
	return e.Invite(opts)
}

// Remove removes a member (by name or user ID) from the network. Every
// online member node drops the removed member's connections as soon as the
// operation reaches it.
func (n *Node) Remove(member string) (*ledger.Member, error) {
	e := n.engine()
	if e == nil {
		return nil, ErrNotStarted
	}
	return e.Remove(member)
}

// Usage reports the network's control-plane usage this month, as the first
// reachable control plane counts it.
func (n *Node) Usage(ctx context.Context) (controlproto.Usage, error) {
	e := n.engine()
	if e == nil {
		return controlproto.Usage{}, ErrNotStarted
	}
	return e.Usage(ctx)
}

// ControlStatus tells, per control plane, whether the node is connected,
// registered and holds a relay slot.
func (n *Node) ControlStatus() []node.ControlStatus {
	if e := n.engine(); e != nil {
		return e.ControlStatus()
	}
	return nil
}

// Append signs op with this node's user key and adds it to the network's
// ledger; every online member node receives it within a round trip. Only
// Kind and the fields of that kind need to be set; a *ledger.Rejection
// says why the user may not do it, and nothing is written then.
func (n *Node) Append(op ledger.Op) (*ledger.Op, error) {
	e := n.engine()
	if e == nil {
		return nil, ErrNotStarted
	}
	return e.Append(op)
}

// Handle serves a named request/reply service; Handle(name, nil) removes it.
// access says who may call it: by default the owner and admins only (and
// this user's own nodes); pass e.g. Access{Roles: []ledger.Role{ledger.RoleGuest}}
// to open it to guests, or Everyone. Guests refused read why.
func (n *Node) Handle(service string, h rpc.Handler, access ...Access) {
	if e := n.engine(); e != nil {
		e.Handle(service, h, access...)
	}
}

// Request calls a service on a member's node and returns its reply. The
// error says whether the peer is unreachable (rpc.ErrUnreachable), the
// service unknown (rpc.ErrUnknownService), the caller not allowed
// (rpc.ErrNotAllowed) or the deadline passed (rpc.ErrDeadline).
//
// When none of the member's nodes can be connected to yet, Request waits
// for one until ctx's deadline, trying again with a backoff, and then
// returns the rpc.ErrUnreachable error; a ctx without a deadline does not
// wait. It fails at once when to names no member or the peer refuses the
// caller. A request is sent again only when no connection was made, so a
// call that reached the peer is never repeated.
func (n *Node) Request(ctx context.Context, to, service string, payload []byte) ([]byte, error) {
	e := n.engine()
	if e == nil {
		return nil, ErrNotStarted
	}
	return e.Request(ctx, to, service, payload)
}

// Dial opens an ordered, flow-controlled byte stream to a member's service.
//
// Like Request, it waits within ctx's deadline for a connection to one of
// the member's nodes (a ctx without a deadline does not wait) and fails at
// once when to names no member or the peer refuses the caller.
func (n *Node) Dial(ctx context.Context, to, service string) (*stream.Conn, error) {
	e := n.engine()
	if e == nil {
		return nil, ErrNotStarted
	}
	return e.Dial(ctx, to, service)
}

// Listen accepts streams for a named service from members. access says
// who may open them: by default the owner and admins only (and this user's
// own nodes); see Handle.
func (n *Node) Listen(service string, access ...Access) (net.Listener, error) {
	e := n.engine()
	if e == nil {
		return nil, ErrNotStarted
	}
	return e.Listen(service, access...)
}

// Publish sends data on a topic to every member node subscribed to it,
// directly over the P2P network.
func (n *Node) Publish(ctx context.Context, topic string, data []byte, opts pubsub.PublishOptions) error {
	e := n.engine()
	if e == nil {
		return ErrNotStarted
	}
	return e.Publish(ctx, topic, data, opts)
}

// Subscribe receives the messages whose topic matches pattern (MQTT-style
// wildcards + and #) until the subscription is closed.
func (n *Node) Subscribe(ctx context.Context, pattern string, opts pubsub.SubscribeOptions) (*pubsub.Subscription, error) {
	e := n.engine()
	if e == nil {
		return nil, ErrNotStarted
	}
	return e.Subscribe(ctx, pattern, opts)
}

// AddPolicy adds p to the policies every request, stream and subscription
// this node serves must pass. It may be called while the node runs.
func (n *Node) AddPolicy(p Policy) {
	if e := n.engine(); e != nil {
		e.AddPolicy(p)
	}
}
