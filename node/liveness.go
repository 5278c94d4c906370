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
// So, like Tailscale's disco pings, a node checks a direct connection
// while traffic on it is pending (a stream open on it) once every
// liveTick, and when `coco peers` asks: a ping on that very connection
// that gets no answer within liveTimeout (longer on slow paths) means the
// path is dead. The node then closes it, so that traffic moves to the
// relayed connection (or a new one), registers again at its control planes
// (its own public address may be what changed; the answer tells it) and
// punches a new direct path.

const (
	liveTick    = time.Second
	liveTimeout = time.Second // at least; 4 RTTs on a slow path
	liveEvery   = time.Second // at most one check per connection per this
)

// liveness tracks checks per connection.
type liveness struct {
	mu    sync.Mutex
	conns map[network.Conn]*connCheck
}

type connCheck struct {
	lastOK  time.Time     // last answer
	running chan struct{} // closed when the check in flight ends; nil if none
	alive   bool          // the last check's result
}

// livenessLoop checks the node's busy direct connections.
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
			if isRelayed(c) || n.isControl(c.RemotePeer()) || c.Stat().NumStreams == 0 {
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
	ctx, cancel := context.WithTimeout(n.ctx, timeout)
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
