package coconet

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/invite"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/pubsub"
	"github.com/coconet/coconet/rpc"
	"github.com/coconet/coconet/stream"
)

// Message is a message received from another member node.
type Message = node.Message

// PeerInfo describes another member node.
type PeerInfo = node.PeerInfo

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

	id      *identity.Identity
	user    identity.UserID // id.ID(), cached: deriving it costs a key generation
	log     *ledger.Log
	n       *node.Node
	rpc     *rpc.Service
	streams *stream.Service
	ps      *pubsub.PubSub

	policyMu sync.Mutex
	policies atomic.Pointer[policies]
}

// Start opens the network's ledger and brings the node up.
func (n *Node) Start(ctx context.Context) error {
	if n.n != nil {
		return errors.New("coconet: node already started")
	}
	if n.Home == "" {
		n.Home = DefaultHome()
	}
	id, err := LoadIdentity(n.Home)
	if err != nil {
		return err
	}
	if n.Network == "" {
		return errors.New("coconet: Node.Network is required (a network name or ID)")
	}
	netID, err := FindNetwork(n.Home, n.Network)
	if err != nil {
		return err
	}
	l, err := ledger.Open(ledgerDir(n.Home, netID), nil)
	if err != nil {
		return err
	}
	return n.startWith(ctx, id, l)
}

func (n *Node) startWith(ctx context.Context, id *identity.Identity, l *ledger.Log) error {
	nd, err := node.New(node.Config{
		Seed: id.Seed, UserName: id.Name, Log: l, Dir: NetworkDir(n.Home, l.Network()),
		App: n.App, ListenHost: n.ListenHost, MDNS: n.MDNS, Logf: n.Logf,
		Control: mergeControls(n.Control, savedControls(NetworkDir(n.Home, l.Network()))),
		NodeKey: n.deviceKey(id),
	})
	if err != nil {
		return err
	}
	if err := nd.Start(ctx); err != nil {
		return err
	}
	n.id, n.user, n.log, n.n = id, id.ID(), l, nd
	if err := n.startSemantics(); err != nil {
		n.Close()
		return err
	}
	return nil
}

// Close stops the node. It is idempotent.
func (n *Node) Close() error {
	if n.n == nil {
		return nil
	}
	n.closeSemantics()
	err := n.n.Close()
	n.n = nil
	return err
}

// Internal exposes the underlying node for advanced use and tests.
func (n *Node) Internal() *node.Node { return n.n }

// Ledger is the network's ledger.
func (n *Node) Ledger() *ledger.Log { return n.log }

// NetworkID is the network's ID.
func (n *Node) NetworkID() ledger.NetworkID { return n.log.Network() }

// PeerID is this node's libp2p ID.
func (n *Node) PeerID() peer.ID { return n.n.ID() }

// Info summarizes the network.
func (n *Node) Info() NetworkInfo {
	i := Info(n.log, n.user)
	if n.Device {
		i.Role = "device"
	}
	return i
}

// Members lists the network's members, owner first.
func (n *Node) Members() []*ledger.Member { return n.log.State().SortedMembers() }

// ResolveMember finds a member by name, user ID (or a prefix of 6+
// characters) and explains what went wrong otherwise.
func ResolveMember(st *ledger.State, ref string) (*ledger.Member, error) {
	ms := st.MemberByName(ref)
	switch len(ms) {
	case 1:
		return ms[0], nil
	case 0:
		var names []string
		for _, m := range st.SortedMembers() {
			names = append(names, m.Name)
		}
		return nil, fmt.Errorf("no member %q in %q; members are: %s", ref, st.Name, strings.Join(names, ", "))
	default:
		return nil, fmt.Errorf("%q matches %d members of %q; use the user ID from `coco members`", ref, len(ms), st.Name)
	}
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
	st := n.log.State()
	if st.Role(n.user) == ledger.RoleNone {
		return fmt.Errorf("you are no longer a member of %q (you were removed); ask one of its admins for a new invite", st.Name)
	}
	name, ids, err := n.resolve(to)
	if err != nil {
		return err
	}
	lastErr := n.reach(ctx, ids, func(ctx context.Context, id peer.ID) error {
		return n.n.SendTo(ctx, id, data)
	}, func(error) bool { return true })
	if lastErr == nil {
		return nil
	}
	if errors.Is(lastErr, node.ErrRefused) {
		return fmt.Errorf("%s's node refused the connection: its copy of the ledger does not list your node as a member of %q (were you removed?)", name, st.Name)
	}
	if errors.Is(lastErr, node.ErrOffline) {
		return fmt.Errorf("%s is offline: none of their %d node(s) could be reached; the message was not delivered", name, len(ids))
	}
	return lastErr
}

// Messages subscribes to incoming messages; call cancel when done.
func (n *Node) Messages() (<-chan Message, func()) { return n.n.Subscribe() }

// Peers lists the other member nodes with path, address and round-trip time.
func (n *Node) Peers(ctx context.Context) []PeerInfo { return n.n.Peers(ctx) }

// InviteOptions shape an invite.
type InviteOptions struct {
	Role ledger.Role   // RoleGuest or RoleAdmin
	TTL  time.Duration // default 24h
	Uses int           // default 1
}

// Invite records an invite in the ledger and returns its code.
func (n *Node) Invite(opts InviteOptions) (code string, expires time.Time, err error) {
	return MakeInvite(n.log, n.id, n.n, opts)
}

// MakeInvite records an invite in l, signed by id, and encodes a code naming
// the addresses of the running node nd, where the invitee will redeem it.
func MakeInvite(l *ledger.Log, id *identity.Identity, nd *node.Node, opts InviteOptions) (string, time.Time, error) {
	if opts.TTL <= 0 {
		opts.TTL = 24 * time.Hour
	}
	if opts.Uses <= 0 {
		opts.Uses = 1
	}
	if opts.Role == ledger.RoleNone {
		opts.Role = ledger.RoleGuest
	}
	secret, err := invite.NewSecret()
	if err != nil {
		return "", time.Time{}, err
	}
	ik := identity.InviteKey(secret[:])
	var pub [32]byte
	copy(pub[:], ik.Public().(ed25519.PublicKey))
	expires := time.Now().Add(opts.TTL).Truncate(time.Second)
	if _, err := l.Append(id.Seed.UserKey(), ledger.Op{
		Kind: ledger.KindInvite, InviteKey: pub, Role: opts.Role, Expires: expires.Unix(), Uses: opts.Uses,
	}); err != nil {
		return "", time.Time{}, err
	}
	c := invite.Code{Network: l.Network(), Secret: secret, Role: uint8(opts.Role), Expires: expires.Unix(), NetName: l.State().Name}
	c.Addrs, c.Controls = inviteAddrs(nd)
	return c.Encode(), expires, nil
}

// inviteAddrs lists the node's addresses for an invite code, each ending in
// /p2p/<node>: direct ones first (routable ones, then loopback), then its
// relay addresses at control planes where it holds a relay slot
// (/…/p2p/<control plane>/p2p-circuit/p2p/<node>); and, apart, the control
// planes it uses, through which the joiner can also try to reach it.
func inviteAddrs(nd *node.Node) (addrs, controls [][]byte) {
	direct := nd.Host().Addrs()
	sort.SliceStable(direct, func(i, j int) bool {
		return !manet.IsIPLoopback(direct[i]) && manet.IsIPLoopback(direct[j])
	})
	p2p, _ := ma.NewComponent("p2p", nd.ID().String())
	for _, a := range direct {
		addrs = append(addrs, a.Encapsulate(p2p).Bytes())
		if len(addrs) == 8 {
			break
		}
	}
	for _, a := range nd.RelayAddrs() {
		addrs = append(addrs, a.Encapsulate(p2p).Bytes())
	}
	for _, a := range nd.ControlAddrs() {
		controls = append(controls, a.Bytes())
	}
	return addrs, controls
}

// Remove removes a member (by name or user ID) from the network. Every
// online member node drops the removed member's connections as soon as the
// operation reaches it.
func (n *Node) Remove(member string) (*ledger.Member, error) {
	return RemoveMember(n.log, n.id, member)
}

// RemoveMember appends the removal of member to l, signed by id.
func RemoveMember(l *ledger.Log, id *identity.Identity, member string) (*ledger.Member, error) {
	m, err := ResolveMember(l.State(), member)
	if err != nil {
		return nil, err
	}
	if _, err := l.Append(id.Seed.UserKey(), ledger.Op{Kind: ledger.KindRemoveUser, Subject: m.User}); err != nil {
		return nil, err
	}
	return m, nil
}

// Usage reports the network's control-plane usage this month, as the first
// reachable control plane counts it.
func (n *Node) Usage(ctx context.Context) (controlproto.Usage, error) { return n.n.Usage(ctx) }

// ControlStatus tells, per control plane, whether the node is connected,
// registered and holds a relay slot.
func (n *Node) ControlStatus() []node.ControlStatus { return n.n.ControlStatus() }

// Append signs op with this node's user key and adds it to the network's
// ledger; every online member node receives it within a round trip. Only
// Kind and the fields of that kind need to be set; a *ledger.Rejection
// says why the user may not do it, and nothing is written then.
func (n *Node) Append(op ledger.Op) (*ledger.Op, error) {
	return n.log.Append(n.id.Seed.UserKey(), op)
}

// User is the ID of the user this node belongs to.
func (n *Node) User() identity.UserID { return n.user }

func (n *Node) deviceKey(id *identity.Identity) ed25519.PrivateKey {
	if !n.Device {
		return nil
	}
	return id.Seed.DeviceKey()
}
