package node

import (
	"bufio"
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// ProtoPex is member address exchange: when a node connects to a member,
// it asks where that member reaches the other member nodes it is connected
// to, so that members who never met (a guest who joined before a device was
// added, with no LAN discovery and no control plane) find each other. Only
// member nodes ask and answer, and only member nodes' addresses are kept.
const ProtoPex = "/coco/pex/1.0.0"

const (
	maxPexPeers = 256
	maxPexAddrs = 16
	pexTTL      = time.Hour
)

type pexPeer struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
}

func (n *Node) handlePex(s network.Stream) {
	defer s.Close()
	from := s.Conn().RemotePeer()
	if !n.IsMember(from) {
		s.Reset()
		return
	}
	s.SetDeadline(time.Now().Add(10 * time.Second))
	var out []pexPeer
	for _, p := range n.host.Network().Peers() {
		if p == from || !n.IsMember(p) || len(out) >= maxPexPeers {
			continue
		}
		pp := pexPeer{ID: p.String()}
		for _, a := range n.host.Peerstore().Addrs(p) {
			if len(pp.Addrs) < maxPexAddrs {
				pp.Addrs = append(pp.Addrs, a.String())
			}
		}
		if len(pp.Addrs) > 0 {
			out = append(out, pp)
		}
	}
	writeFrame(s, out)
}

// askPex asks member p for the addresses of the members it is connected to.
func (n *Node) askPex(p peer.ID) {
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	s, err := n.host.NewStream(network.WithAllowLimitedConn(ctx, "pex"), p, ProtoPex)
	if err != nil {
		return
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	var in []pexPeer
	if err := readFrame(bufio.NewReader(s), &in, 1<<20); err != nil {
		return
	}
	learned := 0
	for i, pp := range in {
		if i >= maxPexPeers {
			break
		}
		id, err := peer.Decode(pp.ID)
		if err != nil || id == n.id || !n.IsMember(id) {
			continue
		}
		var addrs []ma.Multiaddr
		for j, s := range pp.Addrs {
			if j >= maxPexAddrs {
				break
			}
			if a, err := ma.NewMultiaddr(s); err == nil {
				addrs = append(addrs, a)
			}
		}
		if len(addrs) > 0 && len(n.host.Network().ConnsToPeer(id)) == 0 {
			n.host.Peerstore().AddAddrs(id, addrs, pexTTL)
			learned++
		}
	}
	if learned > 0 {
		n.kickReconnect()
	}
}
