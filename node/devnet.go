package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/devnet"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/internal/frame"
	"github.com/coconet/coconet/ledger"
)

// Developer networks (ledger.NetKindDeveloper): a node is a member when the
// ledger lists it (the owner's and admins' nodes: governance) or when it
// showed a credential (package devnet) that verified against this node's
// ledger and that the newest revocation list does not cover. Credentials
// are exchanged by ProtoHello on each new connection, the only protocol a
// peer not verified yet may open; until then the connection holds one of
// a bounded number of pending places (per source address and in all), and
// a peer that does not complete the exchange within devHelloTimeout is
// disconnected. Revocation lists and tag policies are fetched from the
// control planes, exchanged in the hello and pushed on (ProtoLists) to
// every verified peer when newer: a revoked node is disconnected on every
// node the list reaches, and refused afterwards.

// Bounds of the credential exchange.
const (
	// devHelloTimeout is how long a connection may stay unverified.
	devHelloTimeout = 10 * time.Second
	// devMaxPending bounds unverified connections in all, and
	// devMaxPendingPerIP from one source address (an IPv6 /64).
	devMaxPending      = 256
	devMaxPendingPerIP = 64
	// devMaxVerified bounds the verified credentials remembered; past it
	// those of disconnected peers are forgotten first.
	devMaxVerified = 1 << 16
	// devDegree is how many peers a control plane's lookup makes a node
	// dial at most, per lookup.
	devDegree = 16
	// devPushParallel bounds concurrent pushes of a new list.
	devPushParallel = 16
)

// devState is a node's developer-network state; nil in other networks.
type devState struct {
	n      *Node
	store  *devnet.Store
	anchor atomic.Pointer[devnet.Anchor] // follows the ledger

	mu       sync.Mutex // guards following fields
	cred     *devnet.NodeCred
	members  map[[32]byte]*devnet.Member // verified peers
	pending  map[peer.ID]pendingConn     // connections not verified yet
	perIP    map[string]int
	onChange []func()
}

type pendingConn struct {
	deadline time.Time
	ip       string
}

// newDevState prepares the state of a developer network's node; nil for
// other networks.
func newDevState(n *Node) (*devState, error) {
	st := n.log.State()
	if st.Kind != ledger.NetKindDeveloper {
		if n.cfg.AuthKey != nil || n.cfg.DevCred != nil {
			return nil, fmt.Errorf("node: %w: an auth key or credential is for a developer network; %q is a %s network", devnet.ErrNotDeveloper, st.Name, st.Kind)
		}
		return nil, nil
	}
	d := &devState{n: n, members: map[[32]byte]*devnet.Member{}, pending: map[peer.ID]pendingConn{}, perIP: map[string]int{}}
	d.refreshAnchor()
	d.store = devnet.NewStore(d.anchor.Load, n.cfg.Now)
	return d, nil
}

func (d *devState) refreshAnchor() {
	if a, err := devnet.AnchorFromState(d.n.log.State()); err == nil {
		d.anchor.Store(a)
	}
}

// setupCred finds this node's credential: Config.DevCred, the one saved in
// Dir, or a new one made with Config.AuthKey (and saved).
func (d *devState) setupCred() error {
	n := d.n
	now := n.cfg.Now()
	path := ""
	if n.cfg.Dir != "" {
		path = filepath.Join(n.cfg.Dir, "devnet-cred.bin")
	}
	var c *devnet.NodeCred
	switch {
	case n.cfg.DevCred != nil:
		c = n.cfg.DevCred // taken as it is: tests give forged ones
	case path != "":
		if b, err := os.ReadFile(path); err == nil {
			if saved, err := devnet.UnmarshalNodeCred(b); err == nil {
				if _, err := saved.Verify(d.anchor.Load(), n.self, now); err == nil {
					c = saved
				}
			}
		}
	}
	if c == nil && n.cfg.AuthKey == nil && n.User() == n.log.State().Owner {
		// The owner's node enrols itself with an auth key of its own: a
		// joined node verifies it before it has the ledger that lists it.
		g := n.genesis()
		if g == nil {
			return errors.New("node: the ledger has no genesis")
		}
		k, err := devnet.NewAuthKey(n.userKey, nil, g, devnet.AuthKeyOptions{}, now)
		if err != nil {
			return fmt.Errorf("node: the owner's credential: %w", err)
		}
		c = k.Enroll(n.self, now)
		n.saveFile("devnet-cred.bin", c.Marshal())
	}
	if c == nil && n.cfg.AuthKey != nil {
		if n.cfg.AuthKey.Cert.Net != n.log.Network() {
			return fmt.Errorf("node: %w: the auth key is for network %s, not %s", devnet.ErrWrongNetwork, n.cfg.AuthKey.Cert.Net.Short(), n.log.Network().Short())
		}
		c = n.cfg.AuthKey.Enroll(n.self, now)
		if _, err := c.Verify(d.anchor.Load(), n.self, now); err != nil {
			return fmt.Errorf("node: enrol with the auth key: %w", err)
		}
		n.saveFile("devnet-cred.bin", c.Marshal())
	}
	d.mu.Lock()
	d.cred = c
	d.mu.Unlock()
	return nil
}

// Credential is this node's developer-network credential (nil if it has
// none: a node the ledger lists, or another kind of network).
func (n *Node) Credential() *devnet.NodeCred {
	if n.dev == nil {
		return nil
	}
	n.dev.mu.Lock()
	defer n.dev.mu.Unlock()
	return n.dev.cred
}

// Lists is the node's store of its developer network's revocation list and
// policy (nil in other networks).
func (n *Node) Lists() *devnet.Store {
	if n.dev == nil {
		return nil
	}
	return n.dev.store
}

// OnListsChange registers fn to run (on the goroutine that took the list)
// whenever a newer revocation list or policy takes effect.
func (n *Node) OnListsChange(fn func()) {
	if n.dev == nil {
		return
	}
	n.dev.mu.Lock()
	n.dev.onChange = append(n.dev.onChange, fn)
	n.dev.mu.Unlock()
}

// member returns the verified, unrevoked member behind key k.
func (d *devState) member(k [32]byte) *devnet.Member {
	d.mu.Lock()
	m := d.members[k]
	d.mu.Unlock()
	if m == nil || !d.n.cfg.Now().Before(m.Expires) || d.store.Revocations().Covers(m) {
		return nil
	}
	return m
}

// tagsOf says whether the ACL applies to k and with which tags: not to a
// node the ledger lists (governance), nor to this node when it has no
// credential.
func (d *devState) tagsOf(k [32]byte) (tags []string, acl bool) {
	if k == d.n.self {
		if c := d.n.Credential(); c != nil {
			return c.Tags, true
		}
		return nil, false
	}
	if d.n.log.State().IsMemberNode(k) {
		return nil, false
	}
	if m := d.member(k); m != nil {
		return m.Tags, true
	}
	return nil, true
}

// allows reports whether the policy lets from talk to to.
func (d *devState) allows(from, to [32]byte) bool {
	ft, fa := d.tagsOf(from)
	tt, ta := d.tagsOf(to)
	if !fa || !ta {
		return true
	}
	return d.store.Policy().Allows(ft, tt)
}

// connAllowed reports whether a connection between this node and k may
// stay: the policy lets one of them talk to the other.
func (d *devState) connAllowed(k [32]byte) bool {
	return d.allows(k, d.n.self) || d.allows(d.n.self, k)
}

// track gives a new connection's peer, not verified yet, a deadline for its
// hello, outside the gate's bounds (a host without the gater, such as
// mocknet's, still sweeps peers that never show a credential).
func (d *devState) track(p peer.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.pending[p]; !ok {
		d.pending[p] = pendingConn{deadline: time.Now().Add(devHelloTimeout)}
		d.perIP[""]++
	}
}

// admitPending gives an unverified peer one of the pending places, if one
// is free (it keeps the place it holds).
func (d *devState) admitPending(p peer.ID, addr ma.Multiaddr) bool {
	ip := sourceOf(addr)
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.pending[p]; ok {
		return true
	}
	if len(d.pending) >= devMaxPending || d.perIP[ip] >= devMaxPendingPerIP {
		return false
	}
	d.pending[p] = pendingConn{deadline: now.Add(devHelloTimeout), ip: ip}
	d.perIP[ip]++
	return true
}

func (d *devState) releaseLocked(p peer.ID) {
	pc, ok := d.pending[p]
	if !ok {
		return
	}
	delete(d.pending, p)
	if d.perIP[pc.ip]--; d.perIP[pc.ip] <= 0 {
		delete(d.perIP, pc.ip)
	}
}

func (d *devState) release(p peer.ID) {
	d.mu.Lock()
	d.releaseLocked(p)
	d.mu.Unlock()
}

// sourceOf is the source address a connection is counted under: its IP,
// an IPv6 address's /64.
func sourceOf(a ma.Multiaddr) string {
	if a == nil {
		return ""
	}
	ip, err := manet.ToIP(a)
	if err != nil {
		return a.String()
	}
	if ip.To4() == nil {
		ip = ip.Mask(net.CIDRMask(64, 128))
	}
	return ip.String()
}

// pendingCount is the number of unverified connections held (for tests).
func (d *devState) pendingCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.pending)
}

// sweepLoop disconnects peers that did not complete the hello in time.
func (d *devState) sweepLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-d.n.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		var late []peer.ID
		d.mu.Lock()
		for p, pc := range d.pending {
			if now.After(pc.deadline) {
				late = append(late, p)
				d.releaseLocked(p)
			}
		}
		d.mu.Unlock()
		for _, p := range late {
			if k, err := KeyOf(p); err != nil || !d.n.classifyMember(k) {
				d.n.host.Network().ClosePeer(p)
			}
		}
	}
}

// hello builds this node's Hello.
func (d *devState) hello() *devnet.Hello {
	h := &devnet.Hello{V: devnet.Version}
	if c := d.n.Credential(); c != nil {
		h.Cred = c.Marshal()
	}
	h.Rev, h.Pol = d.store.Versions()
	return h
}

// verifyHello checks a peer's Hello: a credential that verifies and is not
// revoked, or none from a node the ledger lists.
func (d *devState) verifyHello(p peer.ID, h *devnet.Hello) error {
	k, err := KeyOf(p)
	if err != nil {
		return err
	}
	if len(h.Cred) == 0 {
		if d.n.log.State().IsMemberNode(k) {
			d.release(p)
			return nil
		}
		return fmt.Errorf("%w: peer %s showed no credential", devnet.ErrNotAuthorized, p.ShortString())
	}
	c, err := devnet.UnmarshalNodeCred(h.Cred)
	if err != nil {
		return err
	}
	m, err := c.Verify(d.anchor.Load(), k, d.n.cfg.Now())
	if err != nil {
		return err
	}
	if d.store.Revocations().Covers(m) {
		return fmt.Errorf("%w: node %s", devnet.ErrRevoked, p.ShortString())
	}
	d.mu.Lock()
	if len(d.members) >= devMaxVerified {
		d.forgetLocked()
	}
	d.members[k] = m
	d.releaseLocked(p)
	d.mu.Unlock()
	return nil
}

// forgetLocked drops the credentials of disconnected peers (and expired
// ones), to make room.
func (d *devState) forgetLocked() {
	now := d.n.cfg.Now()
	for k, m := range d.members {
		id, err := PeerIDOf(k)
		if err != nil || !now.Before(m.Expires) || d.n.host.Network().Connectedness(id) != network.Connected {
			delete(d.members, k)
		}
	}
}

func writeCBOR(s network.Stream, b []byte) error { return frame.Write(s, b) }

// startHello runs the dialer's side of ProtoHello with p.
func (d *devState) startHello(p peer.ID) {
	n := d.n
	ctx, cancel := context.WithTimeout(n.ctx, devHelloTimeout)
	defer cancel()
	var s network.Stream
	var err error
	for try := 0; ; try++ {
		s, err = n.host.NewStream(network.WithAllowLimitedConn(ctx, "devnet hello"), p, devnet.ProtoHello)
		if err == nil || try == 2 || ctx.Err() != nil || n.host.Network().Connectedness(p) != network.Connected {
			break
		}
		time.Sleep(100 * time.Millisecond << try)
	}
	if err != nil {
		n.cfg.Logf("devnet: hello to %s: %v", p.ShortString(), err)
		return // the sweep closes the connection if p stays unverified
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(devHelloTimeout))
	r := bufio.NewReader(s)
	mine := d.hello()
	if err := writeCBOR(s, mine.Marshal()); err != nil {
		s.Reset()
		return
	}
	b, err := frame.Read(r, devnet.MaxHelloSize)
	if err != nil {
		s.Reset()
		return
	}
	h, err := devnet.UnmarshalHello(b)
	if err == nil {
		err = d.verifyHello(p, h)
	}
	if err != nil {
		n.cfg.Logf("devnet: refusing %s: %v", p.ShortString(), err)
		s.Reset()
		n.host.Network().ClosePeer(p)
		return
	}
	d.verified(p)
	d.swapLists(s, r, p, h)
}

// handleHello is the listener's side of ProtoHello.
func (n *Node) handleHello(s network.Stream) {
	d := n.dev
	defer s.Close()
	p := s.Conn().RemotePeer()
	s.SetDeadline(time.Now().Add(devHelloTimeout))
	r := bufio.NewReader(s)
	b, err := frame.Read(r, devnet.MaxHelloSize)
	if err != nil {
		s.Reset()
		return
	}
	h, err := devnet.UnmarshalHello(b)
	if err == nil {
		err = d.verifyHello(p, h)
	}
	if err != nil {
		n.cfg.Logf("devnet: refusing %s: %v", p.ShortString(), err)
		s.Reset()
		n.host.Network().ClosePeer(p)
		return
	}
	if err := writeCBOR(s, d.hello().Marshal()); err != nil {
		s.Reset()
		return
	}
	d.verified(p)
	d.swapLists(s, r, p, h)
}

// verified runs what a member's first verification starts.
func (d *devState) verified(p peer.ID) {
	n := d.n
	k, _ := KeyOf(p)
	if !d.connAllowed(k) {
		n.cfg.Logf("devnet: closing connection to %s: the tag policy lets neither side talk to the other", p.ShortString())
		n.host.Network().ClosePeer(p)
		return
	}
	n.memberConnected(p)
}

// swapLists sends p what this node holds newer than p's hello said, and
// takes what p sends.
func (d *devState) swapLists(s network.Stream, r *bufio.Reader, p peer.ID, h *devnet.Hello) {
	if err := writeCBOR(s, d.store.Newer(h.Rev, h.Pol).Marshal()); err != nil {
		return
	}
	b, err := frame.Read(r, devnet.MaxListsSize)
	if err != nil {
		return
	}
	d.takeLists(b, p)
}

// takeLists offers encoded Lists from src (a member, a control plane, or
// "" for this node's own caller) and applies and spreads what is newer.
func (d *devState) takeLists(b []byte, src peer.ID) error {
	l, err := devnet.UnmarshalLists(b)
	if err != nil {
		return err
	}
	tookRev, tookPol, err := d.store.Offer(l)
	if tookRev || tookPol {
		d.apply()
		d.spread(src)
	}
	return err
}

// apply disconnects the peers the newest lists cut off: revoked ones, and
// those the policy lets neither side talk to.
func (d *devState) apply() {
	n := d.n
	rev := d.store.Revocations()
	for _, p := range n.host.Network().Peers() {
		k, err := KeyOf(p)
		if err != nil {
			continue
		}
		d.mu.Lock()
		m := d.members[k]
		d.mu.Unlock()
		switch {
		case m != nil && rev.Covers(m):
			n.cfg.Logf("devnet: closing connection to %s: revoked", p.ShortString())
			d.mu.Lock()
			delete(d.members, k)
			d.mu.Unlock()
			n.host.Network().ClosePeer(p)
		case m != nil && !d.connAllowed(k):
			n.cfg.Logf("devnet: closing connection to %s: the tag policy lets neither side talk to the other", p.ShortString())
			n.host.Network().ClosePeer(p)
		}
	}
	d.mu.Lock()
	fns := append([]func(){}, d.onChange...)
	d.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// spread pushes the newest lists to every connected member but src.
func (d *devState) spread(src peer.ID) {
	n := d.n
	b := d.store.Newer(0, 0).Marshal()
	var peers []peer.ID
	for _, p := range n.host.Network().Peers() {
		if k, err := KeyOf(p); err == nil && p != src && n.classifyMember(k) { // lists go to every member, whatever the tag policy
			peers = append(peers, p)
		}
	}
	if len(peers) == 0 {
		return
	}
	n.goLoop(func() {
		sem := make(chan struct{}, devPushParallel)
		var wg sync.WaitGroup
		for _, p := range peers {
			select {
			case sem <- struct{}{}:
			case <-n.ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				d.push(p, b)
			}()
		}
		wg.Wait()
	})
}

// push sends encoded Lists to p.
func (d *devState) push(p peer.ID, b []byte) {
	n := d.n
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	s, err := n.host.NewStream(network.WithAllowLimitedConn(ctx, "devnet lists"), p, devnet.ProtoLists)
	if err != nil {
		return
	}
	s.SetDeadline(time.Now().Add(10 * time.Second))
	if err := writeCBOR(s, b); err != nil {
		s.Reset()
		return
	}
	s.Close()
}

// handleLists takes lists pushed by a member or a control plane.
func (n *Node) handleLists(s network.Stream) {
	defer s.Close()
	p := s.Conn().RemotePeer()
	if k, err := KeyOf(p); !n.isControl(p) && (err != nil || !n.classifyMember(k)) {
		s.Reset()
		return
	}
	s.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := frame.Read(bufio.NewReader(s), devnet.MaxListsSize)
	if err != nil {
		s.Reset()
		return
	}
	if err := n.dev.takeLists(b, p); err != nil {
		n.cfg.Logf("devnet: lists from %s: %v", p.ShortString(), err)
	}
}

// PublishLists offers a revocation list and/or a policy (either may be
// nil) signed by the owner or a service key: this node takes them if they
// verify and are newer, disconnects whom they cut off, pushes them to its
// peers and its control planes.
func (n *Node) PublishLists(ctx context.Context, rev *devnet.Revocations, pol *devnet.Policy) error {
	if n.dev == nil {
		return fmt.Errorf("node: %w", devnet.ErrNotDeveloper)
	}
	d := n.dev
	var errs []error
	took := false
	if rev != nil {
		err := d.store.OfferRevocations(rev)
		took = took || err == nil
		errs = append(errs, err)
	}
	if pol != nil {
		err := d.store.OfferPolicy(pol)
		took = took || err == nil
		errs = append(errs, err)
	}
	if took {
		d.apply()
		d.spread("")
		n.kickControl() // the control loop pushes newer lists to the control planes
	}
	return errors.Join(errs...)
}

// devProof is this node's proof for control planes in a developer
// network: the genesis and its credential.
func (n *Node) devProof() []byte {
	c := n.Credential()
	g := n.genesis()
	if c == nil || g == nil {
		return nil
	}
	return (&devnet.Proof{V: devnet.Version, Genesis: g.Marshal(), Cred: *c}).Marshal()
}

// controlLists exchanges lists with a connected control plane every
// lookupEvery, and at once when this node holds newer ones than the control
// plane last said it held (it pushes them).
func (d *devState) controlLists(ctx context.Context, cp *cpState, proof []byte) {
	n := d.n
	if n.host.Network().Connectedness(cp.info.ID) != network.Connected {
		return
	}
	rv, pv := d.store.Versions()
	n.mu.Lock()
	due := time.Since(cp.listsAt) >= lookupEvery || rv > cp.listsRevV || pv > cp.listsPolV
	crv, cpv := cp.listsRevV, cp.listsPolV
	n.mu.Unlock()
	if !due {
		return
	}
	out := controlproto.NetLists{RevV: rv, PolV: pv}
	if l := d.store.Newer(crv, cpv); len(l.Rev) > 0 || len(l.Pol) > 0 {
		out.NetRev, out.NetPol = l.Rev, l.Pol
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	in, err := controlproto.ExchangeNetLists(cctx, n.host, cp.info.ID, proof, out)
	cancel()
	if err != nil {
		n.cfg.Logf("devnet: lists at %s: %v", cp.info.ID.ShortString(), err)
		return
	}
	n.setCP(cp, func() { cp.listsAt, cp.listsRevV, cp.listsPolV = time.Now(), max(in.RevV, rv), max(in.PolV, pv) })
	if len(in.NetRev) > 0 || len(in.NetPol) > 0 {
		l := &devnet.Lists{V: devnet.Version, Rev: in.NetRev, Pol: in.NetPol}
		if err := d.takeLists(l.Marshal(), cp.info.ID); err != nil {
			n.cfg.Logf("devnet: lists from %s: %v", cp.info.ID.ShortString(), err)
		}
	}
}

// devLookup adds the control plane's registered nodes as candidates (the
// control plane verified their credentials) and dials up to devDegree of
// them that this node has no connection to.
func (n *Node) devLookup(infos []peer.AddrInfo, relayAddrs []ma.Multiaddr) {
	dialed := 0
	for _, ai := range infos {
		if ai.ID == n.host.ID() || n.host.Network().Connectedness(ai.ID) == network.Connected {
			continue
		}
		n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.AddressTTL)
		n.host.Peerstore().AddAddrs(ai.ID, relayAddrs, peerstore.AddressTTL)
		if dialed >= devDegree || len(n.host.Network().Peers()) >= 2*devDegree {
			continue
		}
		dialed++
		n.goLoop(func() {
			ctx, cancel := context.WithTimeout(n.ctx, dialRound)
			defer cancel()
			n.host.Connect(ctx, peer.AddrInfo{ID: ai.ID})
		})
	}
}

// classifyMember reports whether the node key k is a member: listed by the
// ledger, or with a verified credential.
func (n *Node) classifyMember(k [32]byte) bool {
	if n.log.State().IsMemberNode(k) {
		return true
	}
	return n.dev != nil && n.dev.member(k) != nil
}

// devSender is the Sender of a credential member: its node key stands for
// its user (a developer network has no users per node), its tags for its
// name.
func devSender(p peer.ID, k [32]byte, m *devnet.Member) Sender {
	return Sender{Node: p, User: identity.UserID(k), Role: ledger.RoleGuest, Tags: m.Tags}
}

// refused reports whether k is cut off: the revocation list names its
// key, or covers the credential it showed.
func (d *devState) refused(k [32]byte) bool {
	rev := d.store.Revocations()
	if rev == nil {
		return false
	}
	if rev.Covers(&devnet.Member{Node: k}) {
		return true
	}
	d.mu.Lock()
	m := d.members[k]
	d.mu.Unlock()
	return m != nil && rev.Covers(m)
}

// isPending reports whether p holds a pending place (its hello is due).
func (d *devState) isPending(p peer.ID) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.pending[p]
	return ok
}

// recheck drops, after a ledger change, the members whose auth key a
// service key signed that the ledger no longer lets enrol (revoke_service),
// and disconnects them.
func (d *devState) recheck() {
	a := d.anchor.Load()
	if a == nil {
		return
	}
	now := d.n.cfg.Now()
	var cut []peer.ID
	d.mu.Lock()
	for k, m := range d.members {
		if si := a.Services[m.Issuer]; m.Issuer != a.Owner && si != nil && !si.Valid(ledger.ScopeEnroll, now) {
			delete(d.members, k)
			if id, err := PeerIDOf(k); err == nil {
				cut = append(cut, id)
			}
		}
	}
	d.mu.Unlock()
	for _, p := range cut {
		d.n.cfg.Logf("devnet: closing connection to %s: its auth key's service key was revoked", p.ShortString())
		d.n.host.Network().ClosePeer(p)
	}
}

// devPeers lists the connected members by credential (a developer
// network's nodes are not in the ledger): role "node", their tags for app.
func (n *Node) devPeers(st *ledger.State) []PeerInfo {
	if n.dev == nil {
		return nil
	}
	var out []PeerInfo
	for _, p := range n.host.Network().Peers() {
		k, err := KeyOf(p)
		if err != nil || st.Nodes[k] != nil {
			continue
		}
		m := n.dev.member(k)
		if m == nil {
			continue
		}
		pi := PeerInfo{Node: p, User: identity.UserID(k), Role: "node", App: strings.Join(m.Tags, ",")}
		n.describePath(&pi)
		out = append(out, pi)
	}
	return out
}
