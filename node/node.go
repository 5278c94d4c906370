package node

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/devnet"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/internal/atomicfile"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/member"
)

// Protocol IDs. Versioned: a new wire format gets a new ID.
const (
	ProtoSync = "/coco/sync/2.0.0"
	ProtoJoin = "/coco/join/2.0.0"
)

// DefaultApp is the app name of the coco daemon's own node.
const DefaultApp = "coco"

// Config configures a Node. Seed and Log are required.
type Config struct {
	Seed     identity.Seed
	UserName string
	Log      *ledger.Log
	// Dir keeps this node's small state: chosen ports and known peer
	// addresses. Empty means nothing is remembered across restarts.
	Dir string
	// App names the application this node is for; each (network, app) has
	// its own key.
	App string
	// ListenHost is the IPv4 address to listen on; "" means 0.0.0.0.
	ListenHost string
	// MDNS enables LAN discovery.
	MDNS bool
	// Logf receives diagnostic lines; nil discards them.
	Logf func(format string, args ...any)
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// Control lists control planes (`coco up --control ADDR`): multiaddrs
	// ending in /p2p/<peer ID>, several addresses of one control plane
	// allowed. With any, the node registers at each, reserves a relay slot,
	// connects to the members they list (through the relay at once) and
	// upgrades relayed connections to direct ones by hole punching.
	Control []string
	// CertValidity is how long the certificates this node issues (as an
	// owner or admin node) last; 0 means member.DefaultCertValidity (1 h).
	CertValidity time.Duration
	// DialFilter, if set, vetoes direct dials to member nodes: dials to
	// addresses for which it returns false are refused (relayed dials are
	// not filtered). Tests use it to build peers that can reach each other
	// only through a relay.
	DialFilter func(p peer.ID, addr ma.Multiaddr) bool
	// NodeKey, if set, is the node's key instead of the one derived from
	// Seed for (network, App): a device's key (identity.Seed.DeviceKey).
	NodeKey ed25519.PrivateKey
	// Host, if set, builds the node's libp2p host with the node's key
	// instead of the TCP+QUIC host on ListenHost: tests build in-memory
	// hosts with it (go-libp2p's p2p/net/mock). The node then keeps no
	// ports file and has no relay transport or hole punching. A mocknet
	// host has no connection gater (mocknet.PeerOptions cannot take one
	// from outside its package), so it lets in strangers and removed
	// nodes: what the gater decides is tested on real sockets only.
	Host func(key crypto.PrivKey) (host.Host, error)

	// AuthKey, in a developer network, enrols this node: it makes its own
	// credential with it (unless it has one saved in Dir) and registers at
	// the control planes with it.
	AuthKey *devnet.AuthKey
	// DevCred, in a developer network, is this node's credential as it is
	// (not checked: tests give forged ones); it overrides AuthKey.
	DevCred *devnet.NodeCred
}

// Node is one running coconet node.
type Node struct {
	cfg     Config
	log     *ledger.Log
	userKey ed25519.PrivateKey
	nodeKey ed25519.PrivateKey
	self    [32]byte
	id      peer.ID // of self
	host    host.Host
	mdns    mdns.Service

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	syncCh chan struct{}
	dialCh chan struct{}
	busy   busySet   // peers with a sync or join exchange running
	wants  syncWants // the sync loop's exchanges per peer

	records pexRecords // connected peers' signed peer records, for pex

	dev       *devState  // developer networks only; nil otherwise
	controls  []*cpState // fixed at New; their fields are guarded by mu
	punch     *puncher   // set in Start when there are control planes
	live      liveness
	controlCh chan struct{}

	mu         sync.Mutex // guards following fields
	closed     bool
	backoff    map[peer.ID]time.Time
	proof      *member.Proof         // for control planes
	delegation *member.Delegation    // an admin's, from the owner
	told       map[peer.ID]time.Time // removed nodes last told (tellFormer)
}

// New prepares a node; Start brings it up.
func New(cfg Config) (*Node, error) {
	if cfg.Log == nil {
		return nil, errors.New("node: Config.Log is required")
	}
	if cfg.App == "" {
		cfg.App = DefaultApp
	}
	if cfg.ListenHost == "" {
		cfg.ListenHost = "0.0.0.0"
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	controls, err := parseControl(cfg.Control)
	if err != nil {
		return nil, err
	}
	n := &Node{
		controls:  controls,
		controlCh: make(chan struct{}, 1),
		cfg:       cfg,
		log:       cfg.Log,
		userKey:   cfg.Seed.UserKey(),
		nodeKey:   cfg.Seed.NodeKey(cfg.Log.Network(), cfg.App),
		syncCh:    make(chan struct{}, 1),
		dialCh:    make(chan struct{}, 1),
		backoff:   map[peer.ID]time.Time{},
	}
	if cfg.NodeKey != nil {
		n.nodeKey = cfg.NodeKey
	}
	n.self = pubOf(n.nodeKey)
	n.id, _ = PeerIDOf(n.self)
	if n.dev, err = newDevState(n); err != nil {
		return nil, err
	}
	if n.dev != nil {
		if err := n.dev.setupCred(); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// NodeKey is this node's public key as the ledger records it.
func (n *Node) NodeKey() [32]byte { return n.self }

// User is the ID of the user running this node.
func (n *Node) User() identity.UserID {
	return identity.UserIDOf(n.userKey.Public().(ed25519.PublicKey))
}

// UserKey is the signing key of the user running this node.
func (n *Node) UserKey() ed25519.PrivateKey { return n.userKey }

// Log is the network's ledger.
func (n *Node) Log() *ledger.Log { return n.log }

// Host is the libp2p host (nil before Start).
func (n *Node) Host() host.Host { return n.host }

// ID is the node's libp2p peer ID.
func (n *Node) ID() peer.ID { return n.id }

type portsFile struct {
	TCP int `json:"tcp"`
	UDP int `json:"udp"`
}

func (n *Node) portsPath() string {
	if n.cfg.Dir == "" {
		return ""
	}
	if n.cfg.App == DefaultApp {
		return filepath.Join(n.cfg.Dir, "ports.json") // as before apps had their own
	}
	// Each app's node has its own ports: two apps of one home must not bind
	// (with port reuse) the same ones and take each other's connections.
	return filepath.Join(n.cfg.Dir, "ports-"+url.PathEscape(n.cfg.App)+".json")
}

// Start opens the host and starts the node's protocols and loops.
func (n *Node) Start(ctx context.Context) error {
	open := n.openHost
	if n.cfg.Host != nil {
		open = n.hostFromConfig
	}
	h, err := open()
	if err != nil {
		return err
	}
	n.host = h
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.watchPeerRecords(); err != nil {
		n.cancel()
		h.Close()
		return err
	}

	h.SetStreamHandler(ProtoSync, n.tracked(n.handleSync))
	h.SetStreamHandler(ProtoJoin, n.tracked(n.handleJoin))
	h.SetStreamHandler(ProtoCert, n.tracked(n.handleCert))
	h.SetStreamHandler(ProtoPex, n.tracked(n.handlePex))
	if n.dev != nil {
		h.SetStreamHandler(devnet.ProtoHello, n.tracked(n.handleHello))
		h.SetStreamHandler(devnet.ProtoLists, n.tracked(n.handleLists))
	}
	h.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(nw network.Network, c network.Conn) {
			if n.dev != nil && !n.isControl(c.RemotePeer()) {
				// Every new peer shows its credential first (the dialer
				// starts); the member's work starts once it verified.
				p := c.RemotePeer()
				if k, err := KeyOf(p); err == nil && !n.classifyMember(k) {
					n.dev.track(p)
				}
				if c.Stat().Direction == network.DirOutbound && len(nw.ConnsToPeer(p)) == 1 {
					n.goLoop(func() { n.dev.startHello(p) })
				}
				return
			}
			if m, inv := n.classify(c.RemotePeer()); !m && !inv && c.Stat().Direction == network.DirInbound {
				n.tellFormer(c.RemotePeer())
				return
			}
			if m, _ := n.classify(c.RemotePeer()); m && len(nw.ConnsToPeer(c.RemotePeer())) == 1 { // the first connection to it
				n.memberConnected(c.RemotePeer())
			} else if m {
				n.kickSync()
				n.kickControl()
			}
		},
		DisconnectedF: func(nw network.Network, c network.Conn) {
			if n.dev != nil && nw.Connectedness(c.RemotePeer()) != network.Connected {
				n.dev.release(c.RemotePeer())
			}
			if n.isControl(c.RemotePeer()) && nw.Connectedness(c.RemotePeer()) != network.Connected {
				n.kickControl() // reconnect and register again
			}
			if nw.Connectedness(c.RemotePeer()) != network.Connected {
				n.punch.forget(c.RemotePeer())
			}
		},
	})
	n.loadPeers()
	n.loadProof()
	n.log.OnChange(func(*ledger.State) { n.onLedgerChange() })

	if n.cfg.MDNS {
		sum := sha256.Sum256(append([]byte("coconet/mdns/"), n.log.Network().String()...))
		n.mdns = mdns.NewMdnsService(h, "_coco-"+hex.EncodeToString(sum[:6])+"._udp", mdnsNotifee{n})
		if err := n.mdns.Start(); err != nil {
			n.cfg.Logf("mdns: %v (LAN discovery off)", err)
			n.mdns = nil
		}
	}
	n.goLoop(n.syncLoop)
	n.goLoop(n.reconnectLoop)
	if n.dev != nil {
		n.goLoop(n.dev.sweepLoop)
	}
	n.goLoop(n.livenessLoop)
	n.kickReconnect() // dial the member nodes of the peer book now, not at the first tick
	if len(n.controls) > 0 {
		n.goLoop(n.controlLoop)
		n.goLoop(n.controlPingLoop)
	}
	n.cfg.Logf("node %s up for %q on %v", n.ID().ShortString(), n.log.State().Name, h.Addrs())
	return nil
}

// openHost opens the TCP+QUIC host on the ports the node used last (new
// ones if they are busy), with hole punching when there are control planes.
func (n *Node) openHost() (host.Host, error) {
	var ports portsFile
	if p := n.portsPath(); p != "" {
		if b, err := os.ReadFile(p); err == nil {
			json.Unmarshal(b, &ports)
		}
	}
	h, err := n.newHost(ports)
	if err != nil && (ports.TCP != 0 || ports.UDP != 0) {
		n.cfg.Logf("ports %d/%d busy (%v); picking new ones", ports.TCP, ports.UDP, err)
		h, err = n.newHost(portsFile{})
	}
	if err != nil {
		return nil, fmt.Errorf("node: start host: %w", err)
	}
	if len(n.controls) > 0 {
		n.punch = newPuncher(h, func(p peer.ID) bool { m, _ := n.classify(p); return m }, n.cfg.Logf)
		n.punch.verify, n.punch.refresh = n.verifyDirect, n.reflect
	}
	n.savePorts(h)
	return h, nil
}

// hostFromConfig builds the host with Config.Host.
func (n *Node) hostFromConfig() (host.Host, error) {
	key, err := libp2pKey(n.nodeKey)
	if err != nil {
		return nil, err
	}
	h, err := n.cfg.Host(key)
	if err != nil {
		return nil, fmt.Errorf("node: start host: %w", err)
	}
	return h, nil
}

// yamuxTransport is go-libp2p's yamux with frames that fit one Noise
// message: a default 64 KiB frame is 17 bytes over Noise's largest
// plaintext, so every full frame went out as two messages (two
// encryptions, two writes, the second of 35 bytes).
func yamuxTransport() *yamux.Transport {
	t := *yamux.DefaultTransport
	t.MaxMessageSize = noise.MaxPlaintextLength
	return &t
}

func (n *Node) newHost(ports portsFile) (host.Host, error) {
	key, err := libp2pKey(n.nodeKey)
	if err != nil {
		return nil, err
	}
	g := &gater{state: n.log.State, self: n.self, now: n.cfg.Now, control: n.isControl, dialFilter: n.cfg.DialFilter, dev: n.dev}
	opts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(
			fmt.Sprintf("/ip4/%s/tcp/%d", n.cfg.ListenHost, ports.TCP),
			fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", n.cfg.ListenHost, ports.UDP),
		),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamuxTransport()),
		libp2p.ConnectionGater(g),
		libp2p.DialRanker(dialRanker),
		libp2p.UserAgent("coconet/0.1"),
		libp2p.Ping(true),
	}
	if len(n.controls) > 0 {
		// The circuit relay transport (to dial and accept relayed
		// connections through the control planes), hole punching to
		// upgrade them, and the addresses the control planes reflect.
		opts = append(opts, libp2p.EnableRelay(), libp2p.AddrsFactory(n.addrsFactory))
	} else {
		opts = append(opts, libp2p.DisableRelay())
	}
	return libp2p.New(opts...)
}

func (n *Node) savePorts(h host.Host) {
	p := n.portsPath()
	if p == "" {
		return
	}
	var pf portsFile
	for _, a := range h.Network().ListenAddresses() {
		if v, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			fmt.Sscan(v, &pf.TCP)
		}
		if v, err := a.ValueForProtocol(ma.P_UDP); err == nil {
			fmt.Sscan(v, &pf.UDP)
		}
	}
	b, _ := json.Marshal(pf)
	if err := atomicfile.Write(p, b, 0o600); err != nil {
		n.cfg.Logf("save ports: %v", err)
	}
}

// tracked runs a stream handler as one of the node's goroutines, so that
// Close waits for it (a sync handler may be writing the ledger); a stream
// that arrives while the node closes is reset.
func (n *Node) tracked(h network.StreamHandler) network.StreamHandler {
	return func(s network.Stream) {
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			s.Reset()
			return
		}
		n.wg.Add(1)
		n.mu.Unlock()
		defer n.wg.Done()
		h(s)
	}
}

// goLoop runs f as one of the node's goroutines, which Close waits for;
// once the node is closing it does not run f.
func (n *Node) goLoop(f func()) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.wg.Add(1)
	n.mu.Unlock()
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// Close stops the node and waits for its goroutines. It is idempotent.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	if n.cancel != nil {
		n.cancel()
	}
	var err error
	if n.mdns != nil {
		n.mdns.Close()
	}
	n.punch.close()
	if n.host != nil {
		n.savePeers()
		err = n.host.Close()
	}
	n.wg.Wait()
	return err
}

func (n *Node) isClosed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closed
}

// classify tells whether p is a current member node or a live invitee.
func (n *Node) classify(p peer.ID) (member, invitee bool) {
	g := gater{state: n.log.State, self: n.self, now: n.cfg.Now, dev: n.dev}
	return g.admitted(p)
}

// memberConnected starts what the first connection to a member node
// starts: remember it, ask it for peers, sync the ledger, and renew this
// node's standing at the control planes (a member may give this node its
// certificate).
func (n *Node) memberConnected(p peer.ID) {
	n.rememberPeer(p)
	n.goLoop(func() { n.askPex(p) })
	n.kickSync()
	n.kickControl()
}

// onLedgerChange closes connections to peers that are no longer members and
// spreads the change to the members that are connected.
func (n *Node) onLedgerChange() {
	if n.isClosed() || n.host == nil {
		return
	}
	st := n.log.State()
	if n.dev != nil {
		n.dev.refreshAnchor()
		n.dev.recheck()
	}
	for _, p := range n.host.Network().Peers() {
		if n.isControl(p) || (n.dev != nil && n.dev.isPending(p)) {
			continue
		}
		if k, err := KeyOf(p); err == nil {
			if _, ok := st.InviteByKey(k); ok {
				// An invitee mid-join (its invite may just have been used
				// up by its own join): it can use only the join protocol,
				// whose stream has a deadline.
				continue
			}
		}
		if m, inv := n.classify(p); !m && !inv {
			// Tell the removed node why (one last ledger sync, at most a
			// second), then cut it off. Its streams are refused already:
			// every handler checks membership on the current state.
			n.cfg.Logf("closing connection to %s: no longer a member node", p.ShortString())
			n.goLoop(func() {
				ctx, cancel := context.WithTimeout(n.ctx, time.Second)
				n.pushTo(ctx, p)
				cancel()
				if m, inv := n.classify(p); !m && !inv { // not added back meanwhile
					n.host.Network().ClosePeer(p)
				}
			})
		}
	}
	n.kickSync()
	n.kickControl()
}

type mdnsNotifee struct{ n *Node }

func (m mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	n := m.n
	if ai.ID == n.ID() || n.isClosed() {
		return
	}
	if mem, _ := n.classify(ai.ID); !mem {
		return
	}
	n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	if err := n.host.Connect(ctx, ai); err == nil {
		n.cfg.Logf("mdns: connected to %s", ai.ID.ShortString())
	}
}

// tellFormer pushes the ledger to a removed node that connected (it was
// away when it was removed, and the gater let it in for this only), then
// closes its connections; at most once a minute per node.
func (n *Node) tellFormer(p peer.ID) {
	g := gater{state: n.log.State, self: n.self, now: n.cfg.Now}
	if !g.former(p) {
		return
	}
	n.mu.Lock()
	if n.told == nil {
		n.told = map[peer.ID]time.Time{}
	}
	last, seen := n.told[p]
	now := time.Now()
	if seen && now.Sub(last) < time.Minute {
		n.mu.Unlock()
		n.host.Network().ClosePeer(p)
		return
	}
	n.told[p] = now
	n.mu.Unlock()
	n.goLoop(func() {
		ctx, cancel := context.WithTimeout(n.ctx, 2*time.Second)
		n.pushTo(ctx, p)
		cancel()
		n.cfg.Logf("told removed node %s it was removed", p.ShortString())
		n.host.Network().ClosePeer(p)
	})
}
