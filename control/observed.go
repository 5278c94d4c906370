package control

import (
	"net"

	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	quicgo "github.com/quic-go/quic-go"
)

// observedAddr is the address c's packets come from now, which the control
// plane reflects to the node. For QUIC it can differ from RemoteMultiaddr:
// when a node's NAT changes its public address, quic-go follows the
// connection to the new one (path migration) while RemoteMultiaddr stays
// the address the connection was opened from, and a node told its old
// address would keep offering it for hole punching (issue 15, item 2).
func observedAddr(c network.Conn) ma.Multiaddr {
	var qc *quicgo.Conn
	if c.As(&qc) && qc != nil {
		if ua, ok := qc.RemoteAddr().(*net.UDPAddr); ok {
			if a, err := manet.FromNetAddr(ua); err == nil {
				return a.Encapsulate(ma.StringCast("/quic-v1"))
			}
		}
	}
	return c.RemoteMultiaddr()
}
