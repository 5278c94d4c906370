package control

import (
	"sort"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"

	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/member"
)

// NodeView is what the control plane knows of one registered node: what
// its signed peer record and its membership proof say, and when it was
// last heard from. It holds no payload; the control plane never sees any.
type NodeView struct {
	Peer      peer.ID
	Key       [32]byte // the node's Ed25519 key
	User      identity.UserID
	Tags      []string  // from a developer network's node credential
	Ephemeral bool      // the same
	Addrs     []string  // from the node's signed peer record
	LastSeen  time.Time // its last registration
	Expires   time.Time // when its registration lapses unless renewed
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
			if !r.live(now.UnixNano()) {
				continue
			}
			v := NodeView{Peer: p, User: r.cover.User, LastSeen: time.Unix(0, r.seen), Expires: time.Unix(0, r.expires)}
			v.Key, _ = keyOf(p)
			v.Addrs = recordAddrs(r.env)
			_, v.Online = s.holders[p]
			out = append(out, v)
		}
	}
	s.mu.Unlock()
	for i := range out {
		if m, ok := s.DevMember(net, out[i].Key); ok {
			out[i].Tags, out[i].Ephemeral = m.Tags, m.Ephemeral
		}
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

// recordAddrs reads the addresses of a signed peer record the control
// plane checked when it took the registration.
func recordAddrs(env []byte) []string {
	e, err := record.UnmarshalEnvelope(env)
	if err != nil {
		return nil
	}
	var rec peer.PeerRecord
	if err := rec.UnmarshalRecord(e.RawPayload); err != nil {
		return nil
	}
	out := make([]string, 0, len(rec.Addrs))
	for _, a := range rec.Addrs {
		out = append(out, a.String())
	}
	return out
}

// SharedStore reports whether the control plane keeps its state in a
// store shared with other replicas (etcd): services built on it (the
// REST API) then keep theirs in KV too.
func (s *Server) SharedStore() bool { return s.persistent }
