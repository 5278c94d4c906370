package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/record"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/internal/atomicfile"
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
	// While a control plane is unreachable the loop tries again every
	// controlRetry, each dial for at most controlDialTimeout.
	controlRetry       = 500 * time.Millisecond
	controlDialTimeout = 3 * time.Second
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
	// listsAt is when the node last exchanged a developer network's lists
	// with it, listsV the versions it said it held then.
	listsAt   time.Time
	listsRevV uint64
	listsPolV uint64
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
		if cp.observed != nil && !isRelayAddr(cp.observed) {
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
	rq := n.loadRevocationQueue()
	lastObserved, lastUpgrade := "", time.Now()
	for {
		ctx, cancel := context.WithTimeout(n.ctx, time.Minute)
		proof := n.Proof(ctx)
		var pb []byte
		if proof != nil {
			pb = proof.Marshal()
		} else if n.dev != nil {
			pb = n.devProof() // a developer network's credential
		}
		// Each control plane at once: one that does not answer (a dead
		// replica, its dial hanging until controlDialTimeout) does not
		// hold up registration and lookups at the others.
		var wg sync.WaitGroup
		for _, cp := range n.controls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n.serviceControl(ctx, cp, pb)
				if n.dev != nil && pb != nil && proof == nil {
					n.dev.controlLists(ctx, cp, pb)
				}
			}()
		}
		wg.Wait()
		if pb != nil {
			n.deliverRevocations(ctx, rq, proof, pb)
		}
		for _, p := range n.ConnectedMembers() {
			if n.onlyRelayed(p) {
				n.punch.punch(p) // when this node starts DCUtR and the back-off allows
			}
		}
		if obs := n.observedAddrs(); obs != lastObserved || time.Since(lastUpgrade) > upgradeEvery {
			// The network changed (or a while passed): try again to
			// replace relayed connections with direct ones.
			lastObserved, lastUpgrade = obs, time.Now()
			n.tryUpgrade()
		}
		cancel()
		var retry <-chan time.Time
		if n.controlDown() {
			retry = time.After(controlRetry)
		}
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		case <-retry:
		case <-n.controlCh:
		}
	}
}

// controlDown reports whether some control plane is not connected.
func (n *Node) controlDown() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, cp := range n.controls {
		if !cp.connected {
			return true
		}
	}
	return false
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
		// The control loop paces these dials (controlRetry while
		// disconnected); the swarm's own back-off, which grows through an
		// outage, would keep the node away for long after the control
		// plane is back (issue 15: 21 s after a 90 s outage).
		if s, ok := n.host.Network().(*swarm.Swarm); ok {
			s.Backoff().Clear(id)
		}
		cctx, cancel := context.WithTimeout(ctx, controlDialTimeout)
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
	n.mu.Lock() // pathDied and reflect write these too
	stale := now.After(cp.regUntil) || addrs != cp.regAddrs
	n.mu.Unlock()
	if stale {
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
		n.kickReconnect() // members that tried this node before it held the slot

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
	r, err := controlproto.Register(rctx, n.host, cp.info.ID, proof, eb, registrationTTL)
	cancel()
	if err != nil {
		return err
	}
	first, changed := false, false
	n.setCP(cp, func() {
		first = cp.regUntil.IsZero()
		cp.regUntil = time.Now().Add(r.TTL / 2)
		cp.regAddrs = addrs
		changed = cp.observed == nil || r.Observed == nil || !cp.observed.Equal(r.Observed)
		cp.observed = r.Observed
	})
	if changed {
		n.punch.addrsChanged() // a hole punch waiting for this node's public address goes on
		if !first {
			// This node's public address changed: its direct paths
			// may have died with the old one.
			n.goLoop(n.verifyAllDirect)
		}
	}
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
	infos, err := controlproto.Lookup(lctx, n.host, cp.info.ID, proof)
	cancel()
	if err != nil {
		return err
	}
	relayAddrs := circuitAddrs(cp.info)
	if n.dev != nil {
		n.devLookup(infos, relayAddrs)
		return nil
	}
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

// reflect registers again at every connected control plane, concurrently,
// to learn the address each sees this node's packets come from now (see
// puncher.reflect).
func (n *Node) reflect(ctx context.Context) {
	n.mu.Lock()
	proof := n.proof
	n.mu.Unlock()
	if proof == nil {
		return
	}
	pb := proof.Marshal()
	addrs := fmt.Sprint(n.host.Addrs())
	var wg sync.WaitGroup
	for _, cp := range n.controls {
		if n.host.Network().Connectedness(cp.info.ID) != network.Connected {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.register(ctx, cp, pb, addrs); err != nil {
				n.cfg.Logf("control: reflect at %s: %v", cp.info.ID.ShortString(), err)
			}
		}()
	}
	wg.Wait()
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

// revocationsFile keeps which removals this node has delivered to which
// control plane, so a removal made while the node was offline (or not
// delivered before it stopped) is delivered when it runs again.
const revocationsFile = "control-revocations.json"

// removal is one removal in the ledger that control planes must hear of:
// a removed user (RevokeUser) or node (RevokeNode), by the op that
// removed it.
type removal struct {
	kind    member.RevocationKind
	subject [32]byte
	op      ledger.ID
}

// key names the removal in the queue file.
func (r removal) key() string {
	k := "node"
	if r.kind == member.RevokeUser {
		k = "user"
	}
	return fmt.Sprintf("%s:%x:%x", k, r.subject, r.op[:])
}

// revocationQueue records deliveries: removal key → control planes that
// accepted its revocation. Owned by controlLoop.
type revocationQueue struct {
	path      string
	delivered map[string][]peer.ID
}

type revocationQueueFile struct {
	V         int                  `json:"v"`
	Delivered map[string][]peer.ID `json:"delivered"`
}

func (n *Node) loadRevocationQueue() *revocationQueue {
	q := &revocationQueue{delivered: map[string][]peer.ID{}}
	if n.cfg.Dir == "" {
		return q
	}
	q.path = filepath.Join(n.cfg.Dir, revocationsFile)
	b, err := os.ReadFile(q.path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			n.cfg.Logf("control: read %s: %v", revocationsFile, err)
		}
		return q
	}
	var f revocationQueueFile
	if err := json.Unmarshal(b, &f); err != nil {
		// Forgetting deliveries only makes the node send them again.
		n.cfg.Logf("control: %s is damaged (%v); revocations will be sent again", revocationsFile, err)
		return q
	}
	if f.Delivered != nil {
		q.delivered = f.Delivered
	}
	return q
}

func (q *revocationQueue) save() error {
	if q.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(revocationQueueFile{V: 1, Delivered: q.delivered}, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.Write(q.path, b, 0o600)
}

func (q *revocationQueue) done(r removal, cp peer.ID) bool {
	return slices.Contains(q.delivered[r.key()], cp)
}

// removals lists every removal in the ledger whose revocation can still
// matter: one made less than a delegation's lifetime ago (after that,
// every certificate and delegation it could cover has expired).
func (n *Node) removals(now time.Time) []removal {
	st := n.log.State()
	horizon := now.Add(-member.MaxDelegationValidity - member.ClockSkew)
	recent := func(id ledger.ID) bool {
		op, ok := n.log.Get(id)
		return ok && time.UnixMilli(op.Time).After(horizon)
	}
	var out []removal
	for u, id := range st.Removed {
		if recent(id) {
			out = append(out, removal{member.RevokeUser, [32]byte(u), id})
		}
	}
	for k, id := range st.RemovedNodes {
		if recent(id) {
			out = append(out, removal{member.RevokeNode, k, id})
		}
	}
	slices.SortFunc(out, func(a, b removal) int { return strings.Compare(a.key(), b.key()) })
	return out
}

// deliverRevocations sends every removal in the ledger that a control
// plane has not accepted yet, if this node's user is the owner or an
// admin, and records each delivery. A revocation is made at sending time,
// so it covers every certificate issued until then.
func (n *Node) deliverRevocations(ctx context.Context, q *revocationQueue, proof *member.Proof, pb []byte) {
	role := n.log.State().Role(n.User())
	if role != ledger.RoleOwner && role != ledger.RoleAdmin {
		return
	}
	d := proof.Delegation
	if role == ledger.RoleAdmin && d == nil {
		return
	}
	if role == ledger.RoleOwner {
		d = nil
	}
	now := n.cfg.Now()
	rs := n.removals(now)
	live := map[string]bool{}
	changed := false
	for _, r := range rs {
		live[r.key()] = true
		if r.kind == member.RevokeUser && identity.UserID(r.subject) == n.log.State().Owner {
			continue
		}
		for _, cp := range n.controls {
			if q.done(r, cp.info.ID) || n.host.Network().Connectedness(cp.info.ID) != network.Connected {
				continue
			}
			rv := member.Revoke(n.userKey, d, n.log.Network(), r.kind, r.subject, now)
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := controlproto.SendRevocation(rctx, n.host, cp.info.ID, pb, rv.Marshal())
			cancel()
			if err != nil {
				n.cfg.Logf("control: revocation to %s: %v", cp.info.ID.ShortString(), err)
				continue
			}
			q.delivered[r.key()] = append(q.delivered[r.key()], cp.info.ID)
			changed = true
		}
	}
	// Forget deliveries of removals no longer in the ledger's window.
	for k := range q.delivered {
		if !live[k] {
			delete(q.delivered, k)
			changed = true
		}
	}
	if changed {
		if err := q.save(); err != nil {
			n.cfg.Logf("control: save %s: %v", revocationsFile, err)
		}
	}
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
func (n *Node) Usage(ctx context.Context) (controlproto.Usage, error) {
	if len(n.controls) == 0 {
		return controlproto.Usage{}, ErrNoControl
	}
	proof := n.Proof(ctx)
	if proof == nil {
		return controlproto.Usage{}, errors.New("no membership certificate yet: connect to an owner or admin node of the network first")
	}
	var errs []error
	for _, cp := range n.controls {
		if n.host.Network().Connectedness(cp.info.ID) != network.Connected {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			n.host.Connect(cctx, cp.info)
			cancel()
		}
		u, err := controlproto.GetUsage(ctx, n.host, cp.info.ID, proof.Marshal())
		if err == nil {
			return u, nil
		}
		errs = append(errs, err)
	}
	return controlproto.Usage{}, errors.Join(errs...)
}

// controlLimit returns the plan limit a control plane last reported, if any.
func (n *Node) controlLimit() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, cp := range n.controls {
		var le *controlproto.LimitError
		if errors.As(cp.err, &le) {
			return le
		}
	}
	return nil
}
