package node

import (
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/ledger"
)

// gater admits only current member nodes of the network, plus — inbound
// only — holders of the key of an invite that can still be redeemed (not
// expired by this node's clock, revoked or used up, its author still able
// to invite), who may use nothing but the join protocol. It consults the
// ledger's current state on every decision, so a removal, a revocation or
// the last use of an invite takes effect for new connections at once.
type gater struct {
	state func() *ledger.State
	self  [32]byte
	now   func() time.Time
	// control, if set, admits the configured control planes (not members:
	// they can open no coconet protocol, whose handlers check membership).
	control    func(peer.ID) bool
	dialFilter func(peer.ID, ma.Multiaddr) bool
	// dev, in a developer network, admits members by verified credential
	// and gives peers not verified yet a bounded pending place, in which
	// they may open only devnet.ProtoHello.
	dev *devState
}

func (g *gater) isControl(p peer.ID) bool { return g.control != nil && g.control(p) }

// admitted classifies a remote peer.
func (g *gater) admitted(p peer.ID) (member, invitee bool) {
	k, err := KeyOf(p)
	if err != nil || k == g.self {
		return false, false
	}
	st := g.state()
	if st.IsMemberNode(k) || (g.dev != nil && g.dev.member(k) != nil) {
		return true, false
	}
	// Holding the key proves the code's secret; it opens nothing but the
	// join protocol, and only while the invite can be redeemed: the holder
	// of a dead code is a stranger (its joiner says the code was used up,
	// revoked or expired).
	if inv, ok := st.InviteByKey(k); ok && st.InviteProblem(inv, g.now()) == "" {
		return false, true
	}
	return false, false
}

func (g *gater) InterceptPeerDial(p peer.ID) bool {
	if g.dev != nil {
		// Any peer may be dialled (a control plane's lookup, pex); it is
		// judged by its credential once connected.
		k, err := KeyOf(p)
		return g.isControl(p) || (err == nil && !g.dev.refused(k))
	}
	m, _ := g.admitted(p)
	return m || g.isControl(p)
}

func (g *gater) InterceptAddrDial(p peer.ID, a ma.Multiaddr) bool {
	if g.dialFilter == nil || g.isControl(p) {
		return true
	}
	if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil {
		return true
	}
	return g.dialFilter(p, a)
}

func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

func (g *gater) InterceptSecured(dir network.Direction, p peer.ID, cm network.ConnMultiaddrs) bool {
	m, inv := g.admitted(p)
	if g.isControl(p) {
		return true
	}
	if g.dev != nil {
		k, err := KeyOf(p)
		switch {
		case err != nil || k == g.self || g.dev.refused(k):
			return false
		case m:
			return g.dev.connAllowed(k)
		}
		return g.dev.admitPending(p, cm.RemoteMultiaddr())
	}
	if dir == network.DirOutbound {
		return m
	}
	return m || inv || g.former(p)
}

// former reports whether p is a node the ledger removed (and did not add
// again). Such a node may connect, inbound, only to be told: the node
// pushes it the ledger, whose removal it did not see while it was away, and
// closes the connection (Node.tellFormer). Every protocol handler refuses
// it, as it refuses every non-member.
func (g *gater) former(p peer.ID) bool {
	k, err := KeyOf(p)
	if err != nil {
		return false
	}
	_, ok := g.state().RemovedNodes[k]
	return ok
}

func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
