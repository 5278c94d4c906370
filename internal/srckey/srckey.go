// Package srckey names the source a connection counts against in per-address limits.
//
// It names the source a connection counts against in per-address limits: an IPv4
// address, or the /64 of an IPv6 address (what one host or one home network gets).
package srckey

import (
	"net"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// IP is ip's source key: the IPv4 address, or the IPv6 /64 as "prefix/64".
func IP(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// Multiaddr is the source key of a's IP, "" if a is nil or has no IP.
func Multiaddr(a ma.Multiaddr) string {
	if a == nil {
		return ""
	}
	ip, err := manet.ToIP(a)
	if err != nil {
		return ""
	}
	return IP(ip)
}
