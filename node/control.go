package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/record"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/member"
)

// Timings of the control loop.
const (
	controlTick      = 2 * time.Second
	lookupEvery      = 30 * time.Second
	registrationTTL  = 10 * time.Minute
	reserveBeforeEnd = 5 * time.Minute
	upgradeEvery     = time.Minute
)

// ControlStatus is this node's standing at one control plane.
type ControlStatus struct {
	Addr       string  `json:"addr"`
	ID         peer.ID `json:"id"`
	Connected  bool    `json:"connected"`
	Registered bool    `json:"registered"`
	Relay      bool    `json:"relay"`              // holds a relay reservation
	Observed   string  `json:"observed,omitempty"` // this node's address as the control plane sees it
	Error      string  `json:"error,omitempty"`    // the last problem, a sentence
}

// cpState is the node's view of one control plane. Owned by controlLoop;
// read under n.mu.
type cpState struct {
	info       peer.AddrInfo
	addr       string
	connected  bool
	regUntil   time.Time
	regAddrs   string
	rsvpUntil  time.Time
	lastLookup time.Time
	observed   ma.Multiaddr
	err        error
}

// parseControl parses --control addresses: multiaddrs ending in /p2p/ID.
func parseControl(addrs []string) ([]*cpState, error) {
	byID := map[peer.ID]*cpState{}
	var out []*cpState
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("node: control plane address %q: %w", s, err)
		}
		ai, err := peer.AddrInfoFromP2pAddr(a)
		if err != nil {
			return nil, fmt.Errorf("node: control plane address %q must end in /p2p/<peer ID> (as `coco control` prints it): %w", s, err)
		}
		if cp := byID[ai.ID]; cp != nil {
			cp.info.Addrs = append(cp.info.Addrs, ai.Addrs...)
			continue
		}
		cp := &cpState{info: *ai, addr: s}
		byID[ai.ID] = cp
		out = append(out, cp)
	}
	return out, nil
}

// RelayAddrs are this node's relay addresses, /…/p2p/<control plane>/p2p-circuit,
// one per address of each control plane where it holds a relay slot.
func (n *Node) RelayAddrs() []ma.Multiaddr { return n.relayAddrs() }

func (n *Node) relayAddrs() []ma.Multiaddr {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now()
	var out []ma.Multiaddr
	for _, cp := range n.controls {
		if now.Before(cp.rsvpUntil) {
			out = append(out, circuitAddrs(cp.info)...)
		}
	}
	return out
}

// ControlAddrs are the addresses of the control planes this node uses, each
// ending in /p2p/<control plane>.
func (n *Node) ControlAddrs() []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, cp := range n.controls {
		id := ma.StringCast("/p2p/" + cp.info.ID.String())
		for _, a := range cp.info.Addrs {
			out = append(out, a.Encapsulate(id))
		}
	}
	return out
}

// circuitAddrs are the relay addresses through one control plane, without
// the destination: /…/p2p/<control plane>/p2p-circuit.
func circuitAddrs(cp peer.AddrInfo) []ma.Multiaddr {
	circuit := ma.StringCast("/p2p/" + cp.ID.String() + "/p2p-circuit")
	var out []ma.Multiaddr
	for _, a := range cp.Addrs {
		out = append(out, a.Encapsulate(circuit))
	}
	return out
}

func (n *Node) isControl(p peer.ID) bool {
	for _, cp := range n.controls {
		if cp.info.ID == p {
			return true
		}
	}
	return false
}

func (n *Node) kickControl() {
	select {
	case n.controlCh <- struct{}{}:
	default:
	}
}

// addrsFactory adds the addresses control planes reflected, so hole punching
// can start as soon as one control plane has seen this node.
func (n *Node) addrsFactory(addrs []ma.Multiaddr) []ma.Multiaddr {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, cp := range n.controls {
		if cp.observed != nil && !strings.Contains(cp.observed.String(), "p2p-circuit") {
			addrs = append(addrs, cp.observed)
		}
	}
	return ma.Unique(addrs)
}

// controlLoop keeps this node registered, with a relay slot, at every
// control plane, and connects to the members they list.
func (n *Node) controlLoop() {
	t := time.NewTicker(controlTick)
	defer t.Stop()
	known := n.snapshotMembers()
	var pending []*member.Revocation
	lastObserved, lastUpgrade := "", time.Now()
	for {
		ctx, cancel := context.WithTimeout(n.ctx, time.Minute)
		proof := n.Proof(ctx)
		known, pending = n.revocations(known, pending, proof)
		var pb []byte
		if proof != nil {
			pb = proof.Marshal()
		}
		for _, cp := range n.controls {
			n.serviceControl(ctx, cp, pb)
		}
		if pb != nil && len(pending) > 0 {
			pending = n.sendRevocations(ctx, pb, pending)
		}
		for _, p := range n.ConnectedMembers() {
			if n.onlyRelayed(p) {
				n.punch.punch(p, n.cfg.Logf)
			}
		}
		if obs := n.observedAddrs(); obs != lastObserved || time.Since(lastUpgrade) > upgradeEvery {
			// The network changed (or a while passed): try again to
			// replace relayed connections with direct ones.
			lastObserved, lastUpgrade = obs, time.Now()
			n.tryUpgrade()
		}
		cancel()
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		case <-n.controlCh:
		}
	}
}

func (n *Node) setCP(cp *cpState, f func()) {
	n.mu.Lock()
	f()
	n.mu.Unlock()
}

func (n *Node) serviceControl(ctx context.Context, cp *cpState, proof []byte) {
	now := time.Now()
	id := cp.info.ID
	if n.host.Network().Connectedness(id) != network.Connected {
		n.setCP(cp, func() { cp.connected, cp.regUntil, cp.rsvpUntil = false, time.Time{}, time.Time{} })
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := n.host.Connect(cctx, cp.info)
		cancel()
		if err != nil {
			n.setCP(cp, func() { cp.err = fmt.Errorf("cannot reach the control plane: %v", err) })
			return
		}
	}
	n.setCP(cp, func() { cp.connected = true })
	if proof == nil {
		n.setCP(cp, func() {
			cp.err = errors.New("no membership certificate yet: it comes from an owner or admin node of the network once this node has reached one")
		})
		return
	}
	addrs := fmt.Sprint(n.host.Addrs())
	if now.After(cp.regUntil) || addrs != cp.regAddrs {
		if err := n.register(ctx, cp, proof, addrs); err != nil {
			n.setCP(cp, func() { cp.err = err; cp.regUntil = time.Time{} })
			return
		}
		cp.lastLookup = time.Time{} // look up at once after (re-)registering
	}
	if now.After(cp.rsvpUntil) {
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		rsvp, err := client.Reserve(rctx, n.host, cp.info)
		cancel()
		if err != nil {
			n.setCP(cp, func() { cp.err = fmt.Errorf("relay reservation refused: %v", err) })
			return
		}
		until := rsvp.Expiration.Add(-reserveBeforeEnd)
		if d := rsvp.Expiration.Sub(now); d < 2*reserveBeforeEnd {
			until = now.Add(d / 2)
		}
		n.setCP(cp, func() { cp.rsvpUntil = until })
		n.cfg.Logf("control: relay slot at %s until %s", id.ShortString(), rsvp.Expiration.Format(time.TimeOnly))
	}
	if now.Sub(cp.lastLookup) >= lookupEvery {
		if err := n.lookup(ctx, cp, proof); err != nil {
			n.setCP(cp, func() { cp.err = err })
			return
		}
		cp.lastLookup = now
	}
	n.setCP(cp, func() { cp.err = nil })
}

func (n *Node) register(ctx context.Context, cp *cpState, proof []byte, addrs string) error {
	rec := peer.PeerRecordFromAddrInfo(peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()})
	env, err := record.Seal(rec, n.host.Peerstore().PrivKey(n.host.ID()))
	if err != nil {
		return err
	}
	eb, err := env.Marshal()
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	r, err := control.Register(rctx, n.host, cp.info.ID, proof, eb, registrationTTL)
	cancel()
	if err != nil {
		return err
	}
	first := cp.regUntil.IsZero()
	n.setCP(cp, func() {
		cp.regUntil = time.Now().Add(r.TTL / 2)
		cp.regAddrs = addrs
		cp.observed = r.Observed
	})
	if first {
		n.cfg.Logf("control: registered at %s, seen as %v", cp.info.ID.ShortString(), r.Observed)
	}
	return nil
}

// lookup asks a control plane for the network's members and connects to
// those this node has no connection to, through the relay at once if no
// direct address works.
func (n *Node) lookup(ctx context.Context, cp *cpState, proof []byte) error {
	lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	infos, err := control.Lookup(lctx, n.host, cp.info.ID, proof)
	cancel()
	if err != nil {
		return err
	}
	relayAddrs := circuitAddrs(cp.info)
	kick := false
	for _, ai := range infos {
		if ai.ID == n.host.ID() || !n.IsMember(ai.ID) {
			continue
		}
		n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.AddressTTL)
		n.host.Peerstore().AddAddrs(ai.ID, relayAddrs, peerstore.AddressTTL)
		if n.host.Network().Connectedness(ai.ID) != network.Connected {
			kick = true
		}
	}
	if kick {
		n.kickReconnect()
	}
	return nil
}

func (n *Node) observedAddrs() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var s []string
	for _, cp := range n.controls {
		if cp.observed != nil {
			s = append(s, cp.observed.String())
		}
	}
	return strings.Join(s, " ")
}

// tryUpgrade dials, directly, every member reached only through a relay.
// Hole punching (DCUtR) runs by itself on each new relayed connection; this
// catches peers whose address became reachable later, e.g. after a network
// change on either side.
func (n *Node) tryUpgrade() {
	for _, p := range n.ConnectedMembers() {
		if !n.onlyRelayed(p) {
			continue
		}
		n.goLoop(func() {
			ctx, cancel := context.WithTimeout(network.WithForceDirectDial(n.ctx, "upgrade"), 10*time.Second)
			defer cancel()
			if err := n.host.Connect(ctx, peer.AddrInfo{ID: p}); err == nil {
				n.cfg.Logf("control: direct connection to %s", p.ShortString())
			}
		})
	}
}

func (n *Node) onlyRelayed(p peer.ID) bool {
	conns := n.host.Network().ConnsToPeer(p)
	for _, c := range conns {
		if !isRelayed(c) {
			return false
		}
	}
	return len(conns) > 0
}

// snapshotMembers records the node keys and admins of the current ledger,
// to notice removals.
type memberSnapshot struct {
	nodes  map[[32]byte]bool
	admins map[identity.UserID]bool
}

func (n *Node) snapshotMembers() memberSnapshot {
	st := n.log.State()
	s := memberSnapshot{nodes: map[[32]byte]bool{}, admins: map[identity.UserID]bool{}}
	for k := range st.Nodes {
		s.nodes[k] = true
	}
	for u, m := range st.Members {
		if m.Role == ledger.RoleAdmin {
			s.admins[u] = true
		}
	}
	return s
}

// revocations turns removals since the last snapshot into revocations, if
// this node's user is the owner or an admin.
func (n *Node) revocations(old memberSnapshot, pending []*member.Revocation, proof *member.Proof) (memberSnapshot, []*member.Revocation) {
	cur := n.snapshotMembers()
	st := n.log.State()
	role := st.Role(n.User())
	if role != ledger.RoleOwner && role != ledger.RoleAdmin {
		return cur, pending
	}
	var d *member.Delegation
	if role == ledger.RoleAdmin {
		if proof == nil || proof.Delegation == nil {
			return cur, pending
		}
		d = proof.Delegation
	}
	now := n.cfg.Now()
	for k := range old.nodes {
		if !cur.nodes[k] {
			pending = append(pending, member.Revoke(n.userKey, d, n.log.Network(), member.RevokeNode, k, now))
		}
	}
	for u := range old.admins {
		if st.Role(u) == ledger.RoleNone {
			pending = append(pending, member.Revoke(n.userKey, d, n.log.Network(), member.RevokeUser, [32]byte(u), now))
		}
	}
	return cur, pending
}

// sendRevocations hands revocations to every control plane; those that no
// control plane took are kept for the next round.
func (n *Node) sendRevocations(ctx context.Context, proof []byte, pending []*member.Revocation) []*member.Revocation {
	var left []*member.Revocation
	for _, rv := range pending {
		sent := len(n.controls) == 0
		for _, cp := range n.controls {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := control.SendRevocation(rctx, n.host, cp.info.ID, proof, rv.Marshal())
			cancel()
			if err != nil {
				n.cfg.Logf("control: revocation to %s: %v", cp.info.ID.ShortString(), err)
				continue
			}
			sent = true
		}
		if !sent && n.cfg.Now().Before(time.Unix(rv.Until, 0)) {
			left = append(left, rv)
		}
	}
	return left
}

// ControlStatus reports this node's standing at each control plane.
func (n *Node) ControlStatus() []ControlStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now()
	var out []ControlStatus
	for _, cp := range n.controls {
		s := ControlStatus{Addr: cp.addr, ID: cp.info.ID, Connected: cp.connected,
			Registered: now.Before(cp.regUntil), Relay: now.Before(cp.rsvpUntil)}
		if cp.observed != nil {
			s.Observed = cp.observed.String()
		}
		if cp.err != nil {
			s.Error = cp.err.Error()
		}
		out = append(out, s)
	}
	return out
}

// ErrNoControl means the node has no control plane configured.
var ErrNoControl = errors.New("no control plane configured; start the node with --control ADDR (the address `coco control` prints)")

// Usage returns the network's use of a control plane this month, from the
// first control plane that answers.
func (n *Node) Usage(ctx context.Context) (control.Usage, error) {
	if len(n.controls) == 0 {
		return control.Usage{}, ErrNoControl
	}
	proof := n.Proof(ctx)
	if proof == nil {
		return control.Usage{}, errors.New("no membership certificate yet: connect to an owner or admin node of the network first")
	}
	var errs []error
	for _, cp := range n.controls {
		if n.host.Network().Connectedness(cp.info.ID) != network.Connected {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			n.host.Connect(cctx, cp.info)
			cancel()
		}
		u, err := control.GetUsage(ctx, n.host, cp.info.ID, proof.Marshal())
		if err == nil {
			return u, nil
		}
		errs = append(errs, err)
	}
	return control.Usage{}, errors.Join(errs...)
}

// controlLimit returns the plan limit a control plane last reported, if any.
func (n *Node) controlLimit() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, cp := range n.controls {
		var le *control.LimitError
		if errors.As(cp.err, &le) {
			return le
		}
	}
	return nil
}
