package lab

import (
	"fmt"
	"os/exec"
	"sync"
)

// Kind is how a lab host is connected to the lab's internet.
type Kind string

// Kinds of host (NAT-NOTES 5).
const (
	// Public: an address on the internet segment, no NAT, no firewall.
	Public Kind = "public"
	// Easy: behind a router with endpoint-independent mapping (plain
	// masquerade keeps the source port when it can) and address-and-port
	// dependent filtering: a stateful firewall as home routers have.
	Easy Kind = "easy"
	// Hard: behind a symmetric NAT (masquerade random,fully-random): every
	// destination sees another random source port. Same firewall.
	Hard Kind = "hard"
	// UDPBlocked: an easy NAT whose router drops every forwarded UDP packet;
	// only TCP gets out.
	UDPBlocked Kind = "udp-blocked"
)

// Kinds lists every kind of host, in the order the matrix uses.
var Kinds = []Kind{Public, Easy, Hard, UDPBlocked}

// The internet segment's addresses. They must look public to libp2p
// (manet.IsPublicAddr: not RFC 1918, not CGNAT, not a documentation or
// benchmarking range), or hole punching ignores them (NAT-NOTES 4). They only
// ever exist inside the lab's namespaces.
const (
	InternetNet  = "11.0.0.0/24"
	internetBase = "11.0.0."
)

// Internet is a lab with an internet segment: a bridge inside its own
// namespace, to which public hosts and NAT routers attach.
type Internet struct {
	*Lab
	ns string

	mu    sync.Mutex
	hosts int
}

// Host is one machine of a NAT lab.
type Host struct {
	Name   string
	Kind   Kind
	NS     string // the host's namespace
	Addr   string // the host's own IPv4 address
	WAN    string // its address as the internet sees it: Addr, or its router's
	Router string // the router's namespace; "" for a public host
}

// Command runs a program inside the host's namespace.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return Command(h.NS, name, args...)
}

// NewInternet starts a lab (see New) with an empty internet segment. Close
// it to delete everything.
func NewInternet(base string) (*Internet, error) {
	if why := NATAvailable(); why != "" {
		return nil, fmt.Errorf("%s", why)
	}
	in := &Internet{Lab: New(base)}
	ns, err := in.Namespace("inet")
	if err != nil {
		in.Close()
		return nil, err
	}
	in.ns = ns
	for _, args := range [][]string{
		{"ip", "-n", ns, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", ns, "link", "set", "br0", "up"},
	} {
		if err := run(args...); err != nil {
			in.Close()
			return nil, err
		}
	}
	return in, nil
}

// attach connects namespace ns to the bridge with interface dev inside ns
// and gives it the next internet address, which it returns.
func (in *Internet) attach(ns, dev string) (string, error) {
	in.mu.Lock()
	in.hosts++
	n := in.hosts
	in.mu.Unlock()
	if n > 250 {
		return "", fmt.Errorf("lab internet is full")
	}
	addr := fmt.Sprintf("%s%d", internetBase, n)
	port := fmt.Sprintf("p%d", n)
	for _, args := range [][]string{
		{"ip", "link", "add", dev, "netns", ns, "type", "veth", "peer", "name", port, "netns", in.ns},
		{"ip", "-n", in.ns, "link", "set", port, "master", "br0"},
		{"ip", "-n", in.ns, "link", "set", port, "up"},
		{"ip", "-n", ns, "addr", "add", addr + "/24", "dev", dev},
		{"ip", "-n", ns, "link", "set", dev, "up"},
	} {
		if err := run(args...); err != nil {
			return "", err
		}
	}
	return addr, nil
}

// Host adds a host of the given kind. Hosts behind a router get their own
// router namespace and LAN (192.168.N.0/24, the host at .2, the router at .1).
func (in *Internet) Host(name string, kind Kind) (*Host, error) {
	ns, err := in.Namespace(name)
	if err != nil {
		return nil, err
	}
	h := &Host{Name: name, Kind: kind, NS: ns}
	if kind == Public {
		if h.Addr, err = in.attach(ns, "eth0"); err != nil {
			return nil, err
		}
		h.WAN = h.Addr
		return h, run("ip", "-n", ns, "route", "add", "default", "dev", "eth0")
	}
	rules, ok := routerRules[kind]
	if !ok {
		return nil, fmt.Errorf("lab: unknown kind of host %q", kind)
	}
	if h.Router, err = in.Namespace(name + "-r"); err != nil {
		return nil, err
	}
	if h.WAN, err = in.attach(h.Router, "wan"); err != nil {
		return nil, err
	}
	in.mu.Lock()
	lan := in.hosts // unique per lab, so logs tell LANs apart
	in.mu.Unlock()
	h.Addr = fmt.Sprintf("192.168.%d.2", lan)
	gw := fmt.Sprintf("192.168.%d.1", lan)
	for _, args := range [][]string{
		{"ip", "link", "add", "lan", "netns", h.Router, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "-n", h.Router, "addr", "add", gw + "/24", "dev", "lan"},
		{"ip", "-n", h.Router, "link", "set", "lan", "up"},
		{"ip", "-n", h.Router, "route", "add", "default", "dev", "wan"},
		{"ip", "-n", ns, "addr", "add", h.Addr + "/24", "dev", "eth0"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
		{"ip", "-n", ns, "route", "add", "default", "via", gw},
		{"ip", "netns", "exec", h.Router, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"},
	} {
		if err := run(args...); err != nil {
			return nil, err
		}
	}
	if err := runIn([]byte(rules), "ip", "netns", "exec", h.Router, "nft", "-f", "-"); err != nil {
		return nil, fmt.Errorf("router for %s (%s): %w", name, kind, err)
	}
	return h, nil
}

// firewall is what home routers do (NAT-NOTES 3): drop unsolicited inbound
// packets, both to the router and through it; let the LAN out. %s is an
// extra first rule of the forward chain.
const firewall = `
table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iifname "lo" accept
		iifname "lan" accept
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		%s
		ct state established,related accept
		iifname "lan" oifname "wan" accept
	}
}
`

const nat = `
table ip nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan" masquerade %s
	}
}
`

var routerRules = map[Kind]string{
	Easy:       fmt.Sprintf(nat, "") + fmt.Sprintf(firewall, ""),
	Hard:       fmt.Sprintf(nat, "random,fully-random") + fmt.Sprintf(firewall, ""),
	UDPBlocked: fmt.Sprintf(nat, "") + fmt.Sprintf(firewall, "meta l4proto udp drop"),
}

// Renumber gives a NATed host's router a new public address, as a home
// router that got a new lease or a laptop that moved to another network
// behind the same kind of NAT: the old address is deleted (masquerade
// drops its mappings with it) and the next free internet address takes
// its place. It returns the new address; h.WAN is updated.
func (in *Internet) Renumber(h *Host) (string, error) {
	if h.Router == "" {
		return "", fmt.Errorf("lab: %s has no router to renumber", h.Name)
	}
	in.mu.Lock()
	in.hosts++
	n := in.hosts
	in.mu.Unlock()
	if n > 250 {
		return "", fmt.Errorf("lab internet is full")
	}
	addr := fmt.Sprintf("%s%d", internetBase, n)
	for _, args := range [][]string{
		{"ip", "-n", h.Router, "addr", "del", h.WAN + "/24", "dev", "wan"},
		{"ip", "-n", h.Router, "addr", "add", addr + "/24", "dev", "wan"},
		{"ip", "-n", h.Router, "route", "replace", "default", "dev", "wan"},
	} {
		if err := run(args...); err != nil {
			return "", err
		}
	}
	h.WAN = addr
	return addr, nil
}
