package node

import (
	"context"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

// Membership helpers for the protocols built on a node (request/reply,
// pub-sub, streams, tunnels). They answer from the ledger, never from what a
// peer claims.

// IsMember reports whether p is a current member node of the network.
//
// In a developer network it also needs the tag policy to let p talk to
// this node: a member the policy keeps from talking to this node is not a
// member to this node's protocols.
func (n *Node) IsMember(p peer.ID) bool {
	m, _ := n.classify(p)
	if m && n.dev != nil {
		k, _ := KeyOf(p)
		return n.dev.allows(k, n.self)
	}
	return m
}

// Sender is the member behind a node, as the ledger records it.
type Sender struct {
	Node peer.ID
	User identity.UserID
	Name string
	Role ledger.Role
	// Device is set for a device node (a node the owner claimed, with a
	// record in ledger.TableDevice). User is then the owner, but a device
	// acts with a guest's role and no grants: it never carries the owner's
	// authority.
	Device bool
	// Tags are a developer network's member's tags, from its credential.
	Tags []string
}

// SenderOf looks up the member that owns node p; ok is false for non-members.
func (n *Node) SenderOf(p peer.ID) (s Sender, ok bool) {
	k, err := KeyOf(p)
	if err != nil {
		return s, false
	}
	st := n.log.State()
	u, ok := st.NodeOwner(k)
	if !ok {
		if n.dev == nil || k == n.self {
			if k == n.self && n.dev != nil {
				if c := n.Credential(); c != nil {
					return Sender{Node: p, User: identity.UserID(k), Role: ledger.RoleGuest, Tags: c.Tags}, true
				}
			}
			return s, false
		}
		m := n.dev.member(k)
		if m == nil || !n.dev.allows(k, n.self) {
			return s, false
		}
		return devSender(p, k, m), true
	}
	s = Sender{Node: p, User: u}
	if m, ok := st.Members[u]; ok {
		s.Name, s.Role = m.Name, m.Role
	}
	// Only the owner's nodes can be devices: others skip the peer ID's
	// encoding, on this path of every request and message.
	if u == st.Owner && len(st.Records[ledger.TableDevice]) > 0 && st.Record(ledger.TableDevice, p.String()) != nil {
		s.Device, s.Role = true, ledger.RoleGuest
		if ni := st.Nodes[k]; ni != nil && ni.Name != "" {
			s.Name = ni.Name
		}
	}
	return s, true
}

// ConnectedMembers lists the member nodes this node has a connection to.
func (n *Node) ConnectedMembers() []peer.ID {
	var out []peer.ID
	for _, p := range n.host.Network().Peers() {
		if n.IsMember(p) {
			out = append(out, p)
		}
	}
	return out
}

// Context is the node's lifetime: it ends when Close is called.
func (n *Node) Context() context.Context { return n.ctx }

// OnMemberConnected registers fn to run (in its own goroutine) whenever a
// connection to a member node opens, and OnMemberDisconnected when the last
// connection to one closes.
func (n *Node) OnMemberConnected(fn func(peer.ID)) {
	n.host.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			if n.IsMember(c.RemotePeer()) {
				go fn(c.RemotePeer())
			}
		},
	})
}

// OnMemberDisconnected registers fn for when the last connection to a peer
// closes.
func (n *Node) OnMemberDisconnected(fn func(peer.ID)) {
	n.host.Network().Notify(&network.NotifyBundle{
		DisconnectedF: func(nw network.Network, c network.Conn) {
			p := c.RemotePeer()
			if len(nw.ConnsToPeer(p)) == 0 {
				go fn(p)
			}
		},
	})
}

// NodesOf returns the peer IDs of a user's nodes in the current ledger.
func NodesOf(st *ledger.State, u identity.UserID) []peer.ID {
	var out []peer.ID
	for k, ni := range st.Nodes {
		if ni.User == u {
			if id, err := PeerIDOf(k); err == nil {
				out = append(out, id)
			}
		}
	}
	return out
}
