package node

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/internal/atomicfile"
)

// PeerInfo describes one member node as seen from this node.
type PeerInfo struct {
	Node      peer.ID         `json:"node"`
	User      identity.UserID `json:"user"`
	UserName  string          `json:"user_name"`
	Role      string          `json:"role"`
	App       string          `json:"app"`
	Connected bool            `json:"connected"`
	Path      string          `json:"path,omitempty"` // "direct" or "relayed"
	Addr      string          `json:"addr,omitempty"`
	RTT       time.Duration   `json:"rtt_ns,omitempty"`
}

// Peers lists every other member node of the network, connected or not,
// measuring the round-trip time of connected ones.
func (n *Node) Peers(ctx context.Context) []PeerInfo {
	st := n.log.State()
	var out []PeerInfo
	for k, ni := range st.Nodes {
		if k == n.self {
			continue
		}
		id, err := PeerIDOf(k)
		if err != nil {
			continue
		}
		pi := PeerInfo{Node: id, User: ni.User, App: ni.Name}
		if m, ok := st.Members[ni.User]; ok {
			pi.UserName, pi.Role = m.Name, m.Role.String()
		}
		n.describePath(&pi)
		out = append(out, pi)
	}
	out = append(out, n.devPeers(st)...)
	var wg sync.WaitGroup
	for i := range out {
		if !out[i].Connected {
			continue
		}
		wg.Add(1)
		go func(pi *PeerInfo) {
			defer wg.Done()
			n.measurePath(ctx, pi)
		}(&out[i])
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool {
		if out[i].UserName != out[j].UserName {
			return out[i].UserName < out[j].UserName
		}
		return out[i].Node < out[j].Node
	})
	return out
}

// bestConn is the connection traffic to p takes: a direct one if any.
func (n *Node) bestConn(p peer.ID) network.Conn {
	var best network.Conn
	for _, c := range n.host.Network().ConnsToPeer(p) {
		if best == nil || isRelayed(best) && !isRelayed(c) {
			best = c
		}
	}
	return best
}

// describePath fills in pi's path from its node's current connections.
func (n *Node) describePath(pi *PeerInfo) {
	pi.Connected, pi.Path, pi.Addr = false, "", ""
	c := n.bestConn(pi.Node)
	if c == nil {
		return
	}
	pi.Connected = true
	pi.Addr = c.RemoteMultiaddr().String()
	pi.Path = "direct"
	if isRelayed(c) {
		pi.Path = "relayed"
	}
}

// measurePath pings the connection pi's path takes. A direct path that
// does not answer is closed (checkConn) and pi describes the path that
// remains, so that `coco peers` never reports a dead path as direct.
func (n *Node) measurePath(ctx context.Context, pi *PeerInfo) {
	for range 2 {
		c := n.bestConn(pi.Node)
		if c == nil {
			n.describePath(pi)
			return
		}
		if !n.checkConn(c, 0) {
			n.describePath(pi)
			continue
		}
		pctx, cancel := context.WithTimeout(network.WithAllowLimitedConn(ctx, "ping"), 2*time.Second)
		rtt, err := pingConn(pctx, c)
		cancel()
		if err == nil {
			pi.RTT = rtt
		}
		return
	}
}

// isRelayed reports whether c goes through a relay.
func isRelayed(c network.Conn) bool {
	return c.Stat().Limited || isRelayAddr(c.RemoteMultiaddr())
}

// AddPeerAddrs teaches the node where member nodes can be reached.
func (n *Node) AddPeerAddrs(infos []peer.AddrInfo) {
	for _, ai := range infos {
		if ai.ID == n.host.ID() {
			continue
		}
		n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
	}
	n.savePeers()
	n.kickReconnect()
}

func (n *Node) kickReconnect() {
	n.mu.Lock()
	n.backoff = map[peer.ID]time.Time{}
	n.mu.Unlock()
	select {
	case n.dialCh <- struct{}{}:
	default:
	}
}

// reconnectLoop keeps trying to reach every member node that has a known
// address and no connection, with a per-peer backoff.
func (n *Node) reconnectLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	fails := map[peer.ID]int{}
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		case <-n.dialCh:
			// A kick (a new address, a relay slot, a control plane's
			// list) starts the back-off afresh.
			clear(fails)
		}
		now := time.Now()
		for k := range n.log.State().Nodes {
			if k == n.self {
				continue
			}
			id, err := PeerIDOf(k)
			if err != nil || len(n.host.Network().ConnsToPeer(id)) > 0 || len(n.host.Peerstore().Addrs(id)) == 0 {
				continue
			}
			n.mu.Lock()
			next := n.backoff[id]
			n.mu.Unlock()
			if now.Before(next) {
				continue
			}
			// This loop paces its dials (n.backoff); the swarm's back-off
			// would add to it (it grows through a control plane outage).
			if s, ok := n.host.Network().(*swarm.Swarm); ok {
				s.Backoff().Clear(id)
			}
			ctx, cancel := context.WithTimeout(n.ctx, dialRound)
			err = n.host.Connect(ctx, peer.AddrInfo{ID: id})
			cancel()
			if err != nil {
				fails[id]++
				d := time.Duration(1<<min(fails[id], 5)) * time.Second // 2s … 32s
				n.mu.Lock()
				n.backoff[id] = now.Add(d)
				n.mu.Unlock()
				continue
			}
			fails[id] = 0
		}
	}
}

func (n *Node) peersPath() string {
	if n.cfg.Dir == "" {
		return ""
	}
	return filepath.Join(n.cfg.Dir, "peers.json")
}

// rememberPeer stores the addresses of a member node we connected to.
func (n *Node) rememberPeer(p peer.ID) { n.savePeers() }

func (n *Node) savePeers() {
	path := n.peersPath()
	if path == "" || n.host == nil {
		return
	}
	book := map[string][]string{}
	for k := range n.log.State().Nodes {
		id, err := PeerIDOf(k)
		if err != nil || id == n.host.ID() {
			continue
		}
		var addrs []string
		for _, a := range n.host.Peerstore().Addrs(id) {
			addrs = append(addrs, a.String())
		}
		if len(addrs) > 0 {
			book[id.String()] = addrs
		}
	}
	b, _ := json.MarshalIndent(book, "", "  ")
	if err := atomicfile.Write(path, b, 0o600); err != nil {
		n.cfg.Logf("save peers: %v", err)
	}
}

func (n *Node) loadPeers() {
	path := n.peersPath()
	if path == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var book map[string][]string
	if json.Unmarshal(b, &book) != nil {
		return
	}
	for ps, addrs := range book {
		id, err := peer.Decode(ps)
		if err != nil {
			continue
		}
		for _, s := range addrs {
			if a, err := ma.NewMultiaddr(s); err == nil {
				n.host.Peerstore().AddAddr(id, a, peerstore.PermanentAddrTTL)
			}
		}
	}
}

// WritePeerBook merges member addresses into dir's peer book, so a node
// started later (e.g. after an offline `coco join`) knows where to look.
func WritePeerBook(dir string, infos []peer.AddrInfo) error {
	path := filepath.Join(dir, "peers.json")
	book := map[string][]string{}
	if b, err := os.ReadFile(path); err == nil {
		json.Unmarshal(b, &book)
	}
	for _, ai := range infos {
		seen := map[string]bool{}
		for _, a := range book[ai.ID.String()] {
			seen[a] = true
		}
		for _, a := range ai.Addrs {
			if !seen[a.String()] {
				book[ai.ID.String()] = append(book[ai.ID.String()], a.String())
			}
		}
	}
	b, _ := json.MarshalIndent(book, "", "  ")
	return atomicfile.Write(path, b, 0o600)
}

// ConnectTo connects to member node p with the addresses the node knows,
// forgetting any earlier failed dial to it first, for at most dialRound
// (connectOnce): the caller decides how often to try (coconet.Node waits
// within its context for a path).
func (n *Node) ConnectTo(ctx context.Context, p peer.ID) error {
	return n.connectOnce(ctx, p)
}
