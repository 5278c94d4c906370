package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	msmux "github.com/multiformats/go-multistream"
)

// Path liveness. A direct QUIC path dies silently when a NAT's public
// address changes (a laptop moving networks, a router's new lease): the
// packets of one side go to an address that no longer exists, the other
// side's are dropped by a firewall that never saw the new address, and
// QUIC notices only at its idle timeout (30 s). Issue 15 measured `coco
// send` failing for 30.7 s while `coco peers` said "direct".
//
// So, like Tailscale's disco pings, a node checks a connection to a member
// (direct or relayed) while traffic on it is pending: once a liveTick
// while a stream is open on it, at once when a message's acknowledgement
// is late (WatchPending), and when `coco peers` asks. A ping on that very
// connection that gets no answer within liveTimeout (longer on slow paths)
// means the path is dead. The node then closes it, so that traffic moves
// to another connection (or a new one), registers again at its control
// planes (its own public address may be what changed; the answer tells it)
// and punches a new direct path (puncher: the side that cannot start DCUtR
// nudges the other). The control plane connection, which carries every
// relayed one, is pinged once a cpPingEvery (controlPingLoop).

const (
	liveTick    = time.Second
	liveTimeout = 750 * time.Millisecond // at least; 4 RTTs on a slow path
	liveEvery   = time.Second            // at most one check per connection per this
	// ackCheckAfter: a message's acknowledgement later than this (or 3
	// RTTs) checks its connection (WatchPending).
	ackCheckAfter = 300 * time.Millisecond
	// A control plane is pinged once a cpPingEvery and disconnected if it
	// does not answer within cpPingTimeout (controlPingLoop).
	cpPingEvery   = time.Second
	cpPingTimeout = 2 * time.Second
	// dialRound bounds one dial to a member that sends wait on
	// (connectRounds) and one of the reconnect loop.
	dialRound = 2 * time.Second
)

// liveness tracks checks per connection.
type liveness struct {
	mu        sync.Mutex
	conns     map[network.Conn]*connCheck
	cpPinging map[network.Conn]bool // control plane pings in flight
}

type connCheck struct {
	lastOK  time.Time     // last answer
	running chan struct{} // closed when the check in flight ends; nil if none
	alive   bool          // the last check's result
}

// livenessLoop checks the node's busy connections to members.
func (n *Node) livenessLoop() {
	t := time.NewTicker(liveTick)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		for _, c := range n.host.Network().Conns() {
			if n.isControl(c.RemotePeer()) || c.Stat().NumStreams == 0 {
				continue
			}
			if m, _ := n.classify(c.RemotePeer()); !m {
				continue
			}
			n.goLoop(func() { n.checkConn(c, liveEvery) })
		}
		n.live.prune()
	}
}

// checkConn reports whether c is alive: it answered within fresh, or it
// answers a ping now (joining a ping in flight). A connection that does
// not answer within liveTimeout (or 4 RTTs on a slow path) is closed.
func (n *Node) checkConn(c network.Conn, fresh time.Duration) bool {
	l := &n.live
	l.mu.Lock()
	if l.conns == nil {
		l.conns = map[network.Conn]*connCheck{}
	}
	cc := l.conns[c]
	if cc == nil {
		cc = &connCheck{}
		l.conns[c] = cc
	}
	if time.Since(cc.lastOK) < fresh {
		l.mu.Unlock()
		return true
	}
	if ch := cc.running; ch != nil {
		l.mu.Unlock()
		select {
		case <-ch:
		case <-n.ctx.Done():
			return false
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		return cc.alive
	}
	ch := make(chan struct{})
	cc.running = ch
	l.mu.Unlock()

	alive := n.pingCheck(c)
	l.mu.Lock()
	cc.running, cc.alive = nil, alive
	if alive {
		cc.lastOK = time.Now()
	}
	l.mu.Unlock()
	close(ch)
	return alive
}

// pingCheck pings c once; if it does not answer, closes it.
func (n *Node) pingCheck(c network.Conn) bool {
	if c.IsClosed() {
		return false
	}
	timeout := liveTimeout
	if rtt := n.host.Peerstore().LatencyEWMA(c.RemotePeer()); 4*rtt > timeout {
		timeout = 4 * rtt
	}
	ctx, cancel := context.WithTimeout(network.WithAllowLimitedConn(n.ctx, "liveness"), timeout)
	defer cancel()
	rtt, err := pingConn(ctx, c)
	if err == nil {
		n.host.Peerstore().RecordLatency(c.RemotePeer(), rtt)
		return true
	}
	if n.ctx.Err() != nil || c.IsClosed() {
		return false
	}
	n.cfg.Logf("path to %s via %s is dead (%v); closing it", c.RemotePeer().ShortString(), c.RemoteMultiaddr(), err)
	c.Close()
	n.pathDied(c.RemotePeer())
	return false
}

// pathDied reacts to a dead direct path: this node's public address may
// have changed, so it registers again at every control plane (which tells
// it the address it sees now) and connects to the peer again.
func (n *Node) pathDied(p peer.ID) {
	n.mu.Lock()
	for _, cp := range n.controls {
		cp.regUntil = time.Time{}
	}
	n.mu.Unlock()
	n.kickControl()
	if n.host.Network().Connectedness(p) != network.Connected {
		n.kickReconnect()
	}
}

// WatchPending checks connection c if the answer to a request on it is
// late (ackCheckAfter, or 3 RTTs on a slow path): a dead path then fails
// the request within a second instead of at its deadline. stop ends the
// watch. rpc (and so messages) calls it around every request.
func (n *Node) WatchPending(c network.Conn) (stop func()) {
	wait := max(ackCheckAfter, 3*n.host.Peerstore().LatencyEWMA(c.RemotePeer()))
	t := time.AfterFunc(wait, func() { n.goLoop(func() { n.checkConn(c, 0) }) })
	return func() { t.Stop() }
}

// verifyDirect checks every direct connection to p now (closing dead ones).
func (n *Node) verifyDirect(p peer.ID) {
	for _, c := range n.host.Network().ConnsToPeer(p) {
		if !isRelayed(c) {
			n.checkConn(c, 0)
		}
	}
}

// connectOnce dials member p once, for at most dialRound, after clearing
// the swarm's back-off for it (its callers pace their tries). Bounded, so
// that the next try is a fresh dial: one long dial waits for every
// address to fail (a stale direct address of a peer behind a firewall
// takes the whole QUIC handshake timeout), while its relay address,
// refused a moment earlier because the peer had not yet taken its relay
// slot again (after a control plane outage), would work now.
func (n *Node) connectOnce(ctx context.Context, p peer.ID) error {
	if s, ok := n.host.Network().(*swarm.Swarm); ok {
		s.Backoff().Clear(p)
	}
	dctx, cancel := context.WithTimeout(ctx, dialRound)
	defer cancel()
	return n.host.Connect(network.WithAllowLimitedConn(dctx, "connect"), peer.AddrInfo{ID: p})
}

// verifyAllDirect checks every direct connection to a member now.
func (n *Node) verifyAllDirect() {
	var wg sync.WaitGroup
	for _, c := range n.host.Network().Conns() {
		if isRelayed(c) || n.isControl(c.RemotePeer()) {
			continue
		}
		if m, _ := n.classify(c.RemotePeer()); !m {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); n.checkConn(c, 0) }()
	}
	wg.Wait()
}

// prune forgets closed connections.
func (l *liveness) prune() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c, cc := range l.conns {
		if c.IsClosed() && cc.running == nil {
			delete(l.conns, c)
		}
	}
}

// pingConn runs libp2p's ping protocol once on connection c (not on
// whichever connection the host would pick) and returns the round trip.
func pingConn(ctx context.Context, c network.Conn) (time.Duration, error) {
	s, err := c.NewStream(ctx)
	if err != nil {
		return 0, fmt.Errorf("open stream: %w", err)
	}
	defer s.Reset()
	if err := s.SetProtocol(ping.ID); err != nil {
		return 0, err
	}
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	rw := msmux.NewMSSelect(s, ping.ID)
	buf := make([]byte, ping.PingSize)
	rand.Read(buf)
	start := time.Now()
	if _, err := rw.Write(buf); err != nil {
		return 0, err
	}
	got := make([]byte, ping.PingSize)
	if _, err := io.ReadFull(rw, got); err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("no answer in %v", time.Since(start).Round(time.Millisecond))
		}
		return 0, err
	}
	if !bytes.Equal(buf, got) {
		return 0, errors.New("wrong ping answer")
	}
	return time.Since(start), nil
}

// controlPingLoop pings every control plane this node is connected to once
// a cpPingEvery on its direct connection. It keeps the relay path working
// when this node's NAT changes its public address: the control plane's
// QUIC connection follows the node to its new address only once the node
// sends something, and until then every relayed connection to this node
// is dead. A control plane that does not answer within cpPingTimeout is
// disconnected, so the control loop reconnects (from the new address, if
// the connection could not follow) and status says so at once.
func (n *Node) controlPingLoop() {
	t := time.NewTicker(cpPingEvery)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		for _, cp := range n.controls {
			var c network.Conn
			for _, cc := range n.host.Network().ConnsToPeer(cp.info.ID) {
				if !isRelayed(cc) {
					c = cc
				}
			}
			if c == nil {
				continue
			}
			n.goLoop(func() { n.pingControl(cp, c) })
		}
	}
}

func (n *Node) pingControl(cp *cpState, c network.Conn) {
	if !n.live.startControl(c) {
		return // the last ping still runs
	}
	defer n.live.endControl(c)
	ctx, cancel := context.WithTimeout(n.ctx, cpPingTimeout)
	_, err := pingConn(ctx, c)
	cancel()
	if err == nil || n.ctx.Err() != nil || c.IsClosed() {
		return
	}
	n.cfg.Logf("control: %s does not answer (%v); reconnecting", cp.info.ID.ShortString(), err)
	n.setCP(cp, func() {
		cp.connected, cp.regUntil, cp.rsvpUntil = false, time.Time{}, time.Time{}
		cp.err = fmt.Errorf("the control plane does not answer: %v", err)
	})
	c.Close()
	if s, ok := n.host.Network().(*swarm.Swarm); ok {
		s.Backoff().Clear(cp.info.ID)
	}
	n.kickControl()
	// This node's network may have changed: its direct paths too.
	n.verifyAllDirect()
}

func (l *liveness) startControl(c network.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cpPinging == nil {
		l.cpPinging = map[network.Conn]bool{}
	}
	if l.cpPinging[c] {
		return false
	}
	l.cpPinging[c] = true
	return true
}

func (l *liveness) endControl(c network.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.cpPinging, c)
}
