package control

import (
	"sort"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/member"
)

// NodeView is what the control plane knows of one registered node: what
// its signed peer record and its membership proof say, and when it was
// last heard from. It holds no payload; the control plane never sees any.
type NodeView struct {
	Peer     peer.ID
	Key      [32]byte // the node's Ed25519 key
	User     identity.UserID
	Role     ledger.Role
	Tags     []string  // from a developer network's node credential
	Addrs    []string  // from the node's signed peer record
	LastSeen time.Time // its last registration
	Expires  time.Time // when its registration lapses unless renewed
	// Online: registered and connected to this control plane now.
	Online bool
}

// Nodes lists the nodes registered for a network, sorted by peer ID (the
// REST API's listing, package control/devapi).
func (s *Server) Nodes(net ledger.NetworkID) []NodeView {
	key := member.RendezvousKey(net)
	now := s.cfg.Now()
	s.mu.Lock()
	ns := s.nets[key]
	var out []NodeView
	if ns != nil {
		for p, r := range ns.regs {
			if !now.Before(r.expires) || !now.Before(r.until) {
				continue
			}
			v := NodeView{Peer: p, Key: r.proof.Cert.Node, User: r.proof.Cert.User, Role: r.proof.Cert.Role,
				LastSeen: r.seen, Expires: r.expires}
			for _, a := range r.addrs {
				v.Addrs = append(v.Addrs, a.String())
			}
			_, v.Online = s.holders[p]
			out = append(out, v)
		}
	}
	s.mu.Unlock()
	for i := range out {
		if out[i].Online && s.host != nil {
			out[i].Online = s.host.Network().Connectedness(out[i].Peer) == network.Connected
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Peer < out[j].Peer })
	return out
}

// UsageOf is a network's usage this month against its owner's plan, as
// `coco usage` shows it to a member node.
func (s *Server) UsageOf(net ledger.NetworkID, owner identity.UserID) controlproto.Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usageLocked(member.RendezvousKey(net), owner, s.cfg.Now())
}

// Serves reports whether the operator's allow-list (Config.Owners), if
// any, names owner.
func (s *Server) Serves(owner identity.UserID) bool {
	return s.owners == nil || s.owners[owner]
}

// PlanOf is the plan of an owner and its name.
func (s *Server) PlanOf(owner identity.UserID) (string, Plan) { return s.plans.For(owner) }
