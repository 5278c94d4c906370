package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch/pb"
	"github.com/libp2p/go-msgio/pbio"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	msmux "github.com/multiformats/go-multistream"
)

// Hole punching: DCUtR (/libp2p/dcutr, wire-compatible with go-libp2p's
// holepunch service), run by the node itself. go-libp2p's service was too
// slow here (issue 15: ~11.5 s to direct where 0.3 s is possible): it
// registers its stream handler only once a poll (250 ms, doubling to 5 s)
// has seen a public address, so the peer's first attempt failed with
// "protocols not supported"; its initiator first tries a plain direct dial
// to the peer's public address, which a stateful firewall makes wait for
// the whole dial timeout; and the node retried every 10 s from both sides,
// although only the side that accepted the relayed connection can start
// the protocol.
//
// Here the handler is registered when the node starts and waits (briefly)
// for the address the control plane reflects; the side holding the inbound
// relayed connection starts the exchange as soon as that connection opens;
// an attempt that fails is retried after punchRetryMin, doubling to
// punchRetryMax, and sooner when this node's public address changes.
//
// Roles (as in the DCUtR spec): the initiator is the node that accepted
// the relayed connection (B in the spec); it sends CONNECT with its public
// addresses, the receiver answers CONNECT with its own, the initiator sends
// SYNC, waits half the measured round trip and both dial each other at
// once (QUIC: the receiver dials as the client, the initiator sends
// packets to open its NAT and accepts).

const (
	punchTries        = 3                // exchanges per attempt
	punchDialTimeout  = 2 * time.Second  // one simultaneous dial
	punchStreamTime   = 10 * time.Second // the whole exchange on the stream
	punchAddrWait     = 5 * time.Second  // how long to wait for a public address
	punchRetryMin     = 2 * time.Second
	punchRetryMax     = 5 * time.Minute
	punchCloseTimeout = time.Second
	// punchNudgeAfter: how long the side that cannot start DCUtR leaves
	// the other to start before it nudges (see punch).
	punchNudgeAfter = 2 * time.Second
	// punchReflectTimeout bounds asking the control planes for this
	// node's public address before a punch.
	punchReflectTimeout = time.Second
	// punchReceiverDelay is how long the receiver waits after SYNC before
	// it dials (see handle).
	punchReceiverDelay = 25 * time.Millisecond
	punchMaxAddrs      = 16 // addresses taken from a peer's CONNECT
	punchMaxMsg        = 4 << 10
)

// errNoPublicAddr means this node does not know a public address of its own
// (no control plane has reflected one yet).
var errNoPublicAddr = errors.New("no public address of this node known yet")

type puncher struct {
	h      host.Host
	member func(peer.ID) bool
	logf   func(string, ...any)
	now    func() time.Time
	// addrOK tells which of this node's addresses it offers and which of
	// a peer's it dials: public ones (tests on loopback replace it).
	addrOK func(ma.Multiaddr) bool

	// verify checks this node's direct connections to a peer, closing
	// dead ones; refresh asks the control planes which public address
	// they see this node at now. Either may be nil.
	verify  func(peer.ID)
	refresh func(context.Context)

	initiated atomic.Int64 // exchanges started as initiator, for tests
	nudges    atomic.Int64 // nudges sent, for tests

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	addrsCh chan struct{} // closed and replaced when the public addresses may have changed
	peers   map[peer.ID]*punchPeer
}

// punchPeer is the puncher's state for one peer it initiates to.
type punchPeer struct {
	active    bool
	fails     int
	next      time.Time // no new attempt before
	lastNudge time.Time // the peer's last nudge honoured
}

func newPuncher(h host.Host, member func(peer.ID) bool, logf func(string, ...any)) *puncher {
	p := &puncher{h: h, member: member, logf: logf, now: time.Now, addrOK: manet.IsPublicAddr,
		addrsCh: make(chan struct{}), peers: map[peer.ID]*punchPeer{}}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	h.SetStreamHandler(holepunch.Protocol, p.handle)
	h.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			switch {
			case !isRelayed(c):
				p.reset(c.RemotePeer()) // direct: the next loss starts afresh
			case c.Stat().Direction == network.DirInbound:
				p.punch(c.RemotePeer())
			}
		},
	})
	return p
}

// publicAddrs are this node's public direct addresses: the ones control
// planes reflected (Config.Control's addrsFactory) and public listen
// addresses.
func (p *puncher) publicAddrs() []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range p.h.Addrs() {
		if !isRelayAddr(a) && p.addrOK(a) {
			out = append(out, a)
		}
	}
	return out
}

// addrsChanged tells the puncher that this node's public addresses may have
// changed: waiting exchanges look again, and peers that failed are tried
// again at once (a new address may be punchable where the old one was
// not).
func (p *puncher) addrsChanged() {
	if p == nil {
		return
	}
	p.mu.Lock()
	close(p.addrsCh)
	p.addrsCh = make(chan struct{})
	for _, st := range p.peers {
		st.fails, st.next = 0, time.Time{}
	}
	p.mu.Unlock()
}

// waitAddrs returns this node's public addresses, waiting up to
// punchAddrWait for a control plane to reflect one.
func (p *puncher) waitAddrs(ctx context.Context) ([]ma.Multiaddr, error) {
	t := time.NewTimer(punchAddrWait)
	defer t.Stop()
	for {
		p.mu.Lock()
		ch := p.addrsCh
		p.mu.Unlock()
		if addrs := p.publicAddrs(); len(addrs) > 0 {
			return addrs, nil
		}
		select {
		case <-ch:
		case <-t.C:
			return nil, errNoPublicAddr
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// initiatorConn returns the relayed connection on which this node starts
// DCUtR with peer, or nil when it is the peer's turn: the spec's initiator
// is the side that accepted the relayed connection. When each side dialed
// the other through a relay, both hold an inbound one; the node with the
// smaller ID starts.
func (p *puncher) initiatorConn(peerID peer.ID) network.Conn {
	var in network.Conn
	out := false
	for _, c := range p.h.Network().ConnsToPeer(peerID) {
		if !isRelayed(c) {
			return nil // direct already
		}
		if c.Stat().Direction == network.DirInbound {
			in = c
		} else {
			out = true
		}
	}
	if in != nil && out && p.h.ID() > peerID {
		return nil
	}
	return in
}

// reset forgets a peer's failures.
func (p *puncher) reset(peerID peer.ID) {
	p.mu.Lock()
	if st := p.peers[peerID]; st != nil {
		st.fails, st.next = 0, time.Time{}
	}
	p.mu.Unlock()
}

// nudgeConn returns a relayed connection this node dialed to peer, on
// which it can nudge the peer to start DCUtR, or nil.
func (p *puncher) nudgeConn(peerID peer.ID) network.Conn {
	for _, c := range p.h.Network().ConnsToPeer(peerID) {
		if isRelayed(c) && c.Stat().Direction == network.DirOutbound {
			return c
		}
	}
	return nil
}

// punch starts a DCUtR attempt to peer if this node is the side that
// starts it, none is running and the last failure's back-off has passed.
// On the other side of the relayed connection it cannot start DCUtR; it
// nudges the peer instead (with the same back-off), once the peer has had
// punchNudgeAfter to start by itself: the peer may still hold a direct
// connection that died without its knowing (its NAT's address changed),
// and the nudge makes it check that connection and punch again.
func (p *puncher) punch(peerID peer.ID) {
	if p == nil || !p.member(peerID) || direct(p.h, peerID) {
		return
	}
	nudge := false
	if p.initiatorConn(peerID) == nil {
		c := p.nudgeConn(peerID)
		if c == nil || p.now().Sub(c.Stat().Opened) < punchNudgeAfter {
			return
		}
		nudge = true
	}
	p.mu.Lock()
	if p.ctx.Err() != nil {
		p.mu.Unlock()
		return
	}
	st := p.peers[peerID]
	if st == nil {
		st = &punchPeer{}
		p.peers[peerID] = st
	}
	if st.active || p.now().Before(st.next) {
		p.mu.Unlock()
		return
	}
	st.active = true
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		var err error
		if nudge {
			if err = p.sendNudge(peerID); err == nil {
				err = errNudged // counts as a try: nudges back off too
			}
		} else {
			err = p.attempt(peerID)
		}
		p.mu.Lock()
		st.active = false
		wait := time.Duration(0)
		if err == nil {
			st.fails, st.next = 0, time.Time{}
		} else {
			st.fails++
			wait = punchBackoff(st.fails)
			st.next = p.now().Add(wait)
		}
		p.mu.Unlock()
		if err != nil && p.ctx.Err() == nil && !errors.Is(err, errNudged) {
			p.logf("hole punch to %s: %v (next try in %v)", peerID.ShortString(), err, wait)
		}
	}()
}

// punchBackoff is the wait after the n-th failed attempt in a row.
func punchBackoff(fails int) time.Duration {
	d := punchRetryMin
	for i := 1; i < fails && d < punchRetryMax; i++ {
		d *= 2
	}
	return min(d, punchRetryMax)
}

// forget drops a peer's state once it has no connection left.
func (p *puncher) forget(peerID peer.ID) {
	if p == nil {
		return
	}
	p.mu.Lock()
	if st := p.peers[peerID]; st != nil && !st.active {
		delete(p.peers, peerID)
	}
	p.mu.Unlock()
}

// errNudged means the peer was asked to punch.
var errNudged = errors.New("nudged the peer")

// sendNudge asks the peer to start DCUtR: a DCUtR stream on a relayed
// connection this node dialed, which the peer sees as inbound (go-libp2p
// resets such a stream; a coconet node resets it and punches).
func (p *puncher) sendNudge(peerID peer.ID) error {
	c := p.nudgeConn(peerID)
	if c == nil {
		return errors.New("relayed connection gone")
	}
	p.nudges.Add(1)
	p.logf("hole punch: asking %s to start one (it holds the inbound relayed connection)", peerID.ShortString())
	ctx, cancel := context.WithTimeout(network.WithAllowLimitedConn(p.ctx, "hole-punch"), punchStreamTime)
	defer cancel()
	s, err := c.NewStream(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.SetProtocol(holepunch.Protocol); err != nil {
		s.Reset()
		return err
	}
	s.SetDeadline(time.Now().Add(punchStreamTime))
	w := pbio.NewDelimitedWriter(msmux.NewMSSelect(s, holepunch.Protocol))
	return w.WriteMsg(&pb.HolePunch{Type: pb.HolePunch_CONNECT.Enum()})
}

// nudged handles a peer's nudge: check the direct connections this node
// may still hold to it (the peer sees none), then punch, sooner than the
// back-off would allow (at most once per punchRetryMin per peer).
func (p *puncher) nudged(peerID peer.ID) {
	p.mu.Lock()
	st := p.peers[peerID]
	if st == nil {
		st = &punchPeer{}
		p.peers[peerID] = st
	}
	if p.now().Sub(st.lastNudge) < punchRetryMin {
		p.mu.Unlock()
		return
	}
	p.logf("hole punch: %s asks for one", peerID.ShortString())
	st.lastNudge, st.next = p.now(), time.Time{}
	p.mu.Unlock()
	if p.verify != nil && direct(p.h, peerID) {
		p.verify(peerID)
	}
	p.punch(peerID)
}

// reflect refreshes this node's public address before a punch offers it:
// its NAT may have changed it since the control plane last saw it.
func (p *puncher) reflect() {
	if p.refresh == nil {
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, punchReflectTimeout)
	defer cancel()
	p.refresh(ctx)
}

// attempt runs up to punchTries DCUtR exchanges with peer, as initiator.
func (p *puncher) attempt(peerID peer.ID) error {
	p.reflect()
	own, err := p.waitAddrs(p.ctx)
	if err != nil {
		return err
	}
	var last error
	for try := 1; try <= punchTries; try++ {
		c := p.initiatorConn(peerID)
		if c == nil {
			if direct(p.h, peerID) {
				return nil
			}
			return errors.New("relayed connection gone")
		}
		start := p.now()
		addrs, rtt, err := p.initiate(c, own)
		if err != nil {
			return err // the exchange itself failed: retry after the back-off
		}
		// The spec waits rtt/2 here so that both sides' first packets
		// cross. Not waiting is faster: this side's packets open its NAT
		// before the receiver's first QUIC packet arrives (they are dropped
		// at the receiver's firewall until it sends, which does no harm),
		// instead of racing it and leaving the receiver to retransmit
		// after its first probe timeout (~200 ms measured in the lab).
		_ = rtt
		// From the second try on this side dials as a QUIC client too
		// (go-libp2p's initiator switches on its last try): a receiver
		// that is directly reachable (a public host) accepts that dial,
		// while its own dial to this side fails when this side is behind
		// a symmetric NAT (measured in the lab: public×hard stayed
		// relayed with the spec's roles only).
		if err := p.connect(peerID, addrs, try > 1); err != nil {
			last = err
			continue
		}
		p.logf("hole punched to %s: direct %v after the relayed connection opened (try %d, exchange %v)",
			peerID.ShortString(), p.now().Sub(c.Stat().Opened).Round(time.Millisecond), try, p.now().Sub(start).Round(time.Millisecond))
		return nil
	}
	return fmt.Errorf("%d simultaneous dials failed: %w", punchTries, last)
}

// initiate runs the initiator's side of one exchange on relayed connection
// c: CONNECT out, CONNECT in, SYNC out. It returns the peer's addresses and
// the round trip.
func (p *puncher) initiate(c network.Conn, own []ma.Multiaddr) ([]ma.Multiaddr, time.Duration, error) {
	ctx, cancel := context.WithTimeout(network.WithAllowLimitedConn(p.ctx, "hole-punch"), punchStreamTime)
	defer cancel()
	p.initiated.Add(1)
	s, err := c.NewStream(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("open stream: %w", err)
	}
	if err := s.SetProtocol(holepunch.Protocol); err != nil {
		s.Reset()
		return nil, 0, err
	}
	s.SetDeadline(time.Now().Add(punchStreamTime))
	// Negotiated lazily: the protocol proposal travels with CONNECT.
	rw := msmux.NewMSSelect(s, holepunch.Protocol)
	w, r := pbio.NewDelimitedWriter(rw), pbio.NewDelimitedReader(rw, punchMaxMsg)
	start := time.Now()
	if err := w.WriteMsg(&pb.HolePunch{Type: pb.HolePunch_CONNECT.Enum(), ObsAddrs: addrsBytes(own)}); err != nil {
		s.Reset()
		return nil, 0, fmt.Errorf("send CONNECT: %w", err)
	}
	var msg pb.HolePunch
	if err := r.ReadMsg(&msg); err != nil {
		s.Reset()
		return nil, 0, fmt.Errorf("read CONNECT: %w", err)
	}
	rtt := time.Since(start)
	if msg.GetType() != pb.HolePunch_CONNECT {
		s.Reset()
		return nil, 0, fmt.Errorf("want CONNECT, got %v", msg.GetType())
	}
	addrs := p.dialableAddrs(msg.ObsAddrs)
	if len(addrs) == 0 {
		s.Reset()
		return nil, 0, errors.New("the peer sent no public address")
	}
	if err := w.WriteMsg(&pb.HolePunch{Type: pb.HolePunch_SYNC.Enum()}); err != nil {
		s.Reset()
		return nil, 0, fmt.Errorf("send SYNC: %w", err)
	}
	s.Close()
	return addrs, rtt, nil
}

// handle is the receiver's side: the peer accepted a relayed connection
// this node dialed and starts an exchange on it.
func (p *puncher) handle(s network.Stream) {
	rp := s.Conn().RemotePeer()
	if !isRelayed(s.Conn()) || !p.member(rp) {
		// Only members: a stranger cannot make this node send packets
		// to addresses of its choice.
		s.Reset()
		return
	}
	if s.Conn().Stat().Direction == network.DirInbound {
		// The peer dialed this relayed connection, so this node is the
		// initiator: a nudge (see punch).
		s.Reset()
		p.mu.Lock()
		if p.ctx.Err() == nil {
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.nudged(rp) }()
		}
		p.mu.Unlock()
		return
	}
	p.mu.Lock()
	if p.ctx.Err() != nil {
		p.mu.Unlock()
		s.Reset()
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	defer p.wg.Done()
	s.SetDeadline(time.Now().Add(punchStreamTime))
	w, r := pbio.NewDelimitedWriter(s), pbio.NewDelimitedReader(s, punchMaxMsg)
	var msg pb.HolePunch
	if err := r.ReadMsg(&msg); err != nil || msg.GetType() != pb.HolePunch_CONNECT {
		s.Reset()
		return
	}
	if p.verify != nil && direct(p.h, rp) {
		p.verify(rp) // the peer sees no direct path: is this node's dead?
	}
	p.reflect()
	own, err := p.waitAddrs(p.ctx)
	addrs := p.dialableAddrs(msg.ObsAddrs)
	if err != nil || len(addrs) == 0 {
		s.Reset()
		return
	}
	if err := w.WriteMsg(&pb.HolePunch{Type: pb.HolePunch_CONNECT.Enum(), ObsAddrs: addrsBytes(own)}); err != nil {
		s.Reset()
		return
	}
	msg.Reset()
	if err := r.ReadMsg(&msg); err != nil || msg.GetType() != pb.HolePunch_SYNC {
		s.Reset()
		return
	}
	s.Close()
	// The initiator started sending as it read CONNECT; let its first
	// packets leave before this side's first QUIC packet arrives at its
	// NAT, or that packet is dropped and resent only after QUIC's probe
	// timeout.
	select {
	case <-time.After(punchReceiverDelay):
	case <-p.ctx.Done():
		return
	}
	if err := p.connect(rp, addrs, true); err == nil {
		p.logf("hole punched to %s: direct (as receiver)", rp.ShortString())
	}
}

// connect dials peer at addrs as one side of a simultaneous open.
func (p *puncher) connect(peerID peer.ID, addrs []ma.Multiaddr, client bool) error {
	if direct(p.h, peerID) {
		return nil
	}
	ctx, cancel := context.WithTimeout(p.ctx, punchDialTimeout)
	defer cancel()
	ctx = network.WithSimultaneousConnect(ctx, client, "hole-punch")
	ctx = network.WithForceDirectDial(ctx, "hole-punch")
	return p.h.Connect(ctx, peer.AddrInfo{ID: peerID, Addrs: addrs})
}

// direct reports whether h has a direct connection to peer.
func direct(h host.Host, peerID peer.ID) bool {
	for _, c := range h.Network().ConnsToPeer(peerID) {
		if !isRelayed(c) {
			return true
		}
	}
	return false
}

func addrsBytes(as []ma.Multiaddr) [][]byte {
	out := make([][]byte, 0, len(as))
	for _, a := range as {
		out = append(out, a.Bytes())
	}
	return out
}

// dialableAddrs parses a peer's CONNECT addresses, keeping at most
// punchMaxAddrs public, direct ones.
func (p *puncher) dialableAddrs(bs [][]byte) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, b := range bs {
		a, err := ma.NewMultiaddrBytes(b)
		if err != nil || isRelayAddr(a) || !p.addrOK(a) {
			continue
		}
		if !slices.ContainsFunc(out, a.Equal) {
			out = append(out, a)
		}
		if len(out) == punchMaxAddrs {
			break
		}
	}
	return out
}

// close stops the puncher and waits a moment for attempts in flight.
func (p *puncher) close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.cancel()
	p.mu.Unlock()
	p.h.RemoveStreamHandler(holepunch.Protocol)
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(punchCloseTimeout):
	}
}
