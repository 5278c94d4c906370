package node

import (
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// HandleJoin is the member's side of the join protocol, for tests of
// package node_test that wrap its stream (a modified inviter).
func (n *Node) HandleJoin(s network.Stream) { n.handleJoin(s) }

// HasPeerRecord reports whether n holds p's signed peer record, from
// identify, to pass on in pex and join replies.
func (n *Node) HasPeerRecord(p peer.ID) bool { rec, _ := n.peerRecord(p); return rec != nil }
