package control

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	ma "github.com/multiformats/go-multiaddr"
	protobuf "google.golang.org/protobuf/proto"

	"github.com/coconet/coconet/internal/srckey"
)

// acl opens the relay as follows:
//
//   - A reservation (a relay slot, to be reached through the relay) needs a
//     live membership proof, and the network within its plan's bytes.
//   - A circuit between two proof holders needs both in the same network,
//     within its plan's bytes.
//   - A circuit from a peer WITHOUT a proof is a join circuit: it may go only
//     to a node with a live proof (and a relay slot), while that node's
//     network is within its plan's bytes. It exists so that someone holding
//     an invite code can reach the inviting node, and a node that has just
//     joined can fetch its first certificate from it. It is tightly bounded:
//     all circuits of one such peer go to one node, share
//     RelayLimits.JoinData bytes (both directions) and end
//     RelayLimits.JoinDuration after the first opened; the peer gets a new
//     allowance only after that, and one IP address gets at most
//     RelayLimits.JoinsPerIP new allowances per JoinDuration (an IPv6 source
//     counts by its /64); one destination gets at most RelayLimits.JoinsPerDest
//     new allowances and RelayLimits.JoinDestData bytes per JoinDuration. Join
//     bytes have this budget of their own: they do not count against the
//     destination network's plan, and only bytes relayed after the
//     destination accepted the circuit count at all. Such a circuit is not a way into the network: the
//     destination node's gater admits, at the handshake, only member nodes
//     and the keys of invites its ledger records (for the join protocol
//     only).
//   - A join circuit whose source has since registered with a live proof
//     of the destination's network (a node that has just joined, or one
//     that reconnected before re-registering after a control-plane
//     restart) becomes a members' circuit: its allowance's cap and end no
//     longer apply, and its bytes from then on count against the plan. A
//     circuit that reaches its cap waits up to joinPromoteWait for that
//     registration before it is cut, so a copy started right after joining
//     does not break on the race between its bytes and the registration.
type acl struct{ s *Server }

func (a acl) AllowReserve(p peer.ID, _ ma.Multiaddr) bool {
	key, ok := a.s.holderOf(p)
	return ok && !a.s.overLimit(key) && a.s.reserve(p, key)
}

func (a acl) AllowConnect(src peer.ID, srcAddr ma.Multiaddr, dest peer.ID) bool {
	kd, ok := a.s.holderOf(dest)
	if !ok || a.s.overLimit(kd) {
		return false
	}
	if ks, ok := a.s.holderOf(src); ok {
		return ks == kd && a.s.devAllows(src, dest, kd)
	}
	return a.s.grantJoin(src, sourceOf(srcAddr), dest, kd)
}

// sourceOf is what join allowances are counted by for an address: its IPv4
// address, or its IPv6 /64 (one subscriber's usual allocation); "" when it
// has no IP.
func sourceOf(a ma.Multiaddr) string {
	return srckey.Multiaddr(a)
}

// joinLinger is how long a spent join allowance is remembered past its end,
// so that a circuit allowed just before the end is still cut.
const joinLinger = 10 * time.Second

// joinGrant is the allowance of one peer without a proof: circuits to one
// node, cap bytes in all, until end.
type joinGrant struct {
	s      *Server
	src    peer.ID
	dest   peer.ID
	key    [32]byte // the destination's network
	cap    int64
	end    time.Time
	used   atomic.Int64
	budget *joinBudget // the destination's
	timer  *time.Timer

	mu      sync.Mutex // guards following fields
	done    bool
	streams []network.Stream

	promoted atomic.Bool // src showed a live proof of the destination's network
}

// joinPromoteWait is how long a join circuit at its cap waits for its
// source to register with a proof before it is cut. The wait holds only
// the relay's copy of that circuit, and join circuits are bounded per
// source address and per destination.
var joinPromoteWait = 5 * time.Second // a var for tests

// member reports whether the allowance's peer now holds a live proof of the
// destination's network; its circuits are then members' circuits. A proof
// of another network does not count: a member of one network gets no
// unmetered circuits into another; nor does a circuit a developer
// network's tag policy would not allow between members.
func (g *joinGrant) member() bool {
	if g.promoted.Load() {
		return true
	}
	if k, ok := g.s.holderOf(g.src); ok && k == g.key && g.s.devAllows(g.src, g.dest, k) {
		g.promoted.Store(true)
		return true
	}
	return false
}

// awaitMember waits up to joinPromoteWait for the peer to become a member.
func (g *joinGrant) awaitMember() bool {
	for deadline := time.Now().Add(joinPromoteWait); ; time.Sleep(50 * time.Millisecond) {
		if g.member() {
			return true
		}
		if g.isDone() || time.Now().After(deadline) {
			return false
		}
	}
}

// expire ends the allowance at its end, unless its peer became a member.
func (g *joinGrant) expire() {
	if !g.member() {
		g.cut()
	}
}

// joinBudget is one destination's join allowances and bytes in a window of
// JoinDuration.
type joinBudget struct {
	start  time.Time
	grants int
	cap    int64
	bytes  atomic.Int64
}

// grantJoin allows a join circuit from src to dest of network key, under
// src's current allowance or a new one.
func (s *Server) grantJoin(src peer.ID, ip string, dest peer.ID, key [32]byte) bool {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if g := s.joins[src]; g != nil {
		if now.Before(g.end.Add(joinLinger)) {
			return g.dest == dest && !g.isDone() && now.Before(g.end)
		}
		g.timer.Stop()
	}
	rl := s.cfg.Relay
	if s.joinDests == nil {
		s.joinDests = map[peer.ID]*joinBudget{}
	}
	b := s.joinDests[dest]
	if b == nil || now.Sub(b.start) >= rl.JoinDuration {
		b = &joinBudget{start: now, cap: rl.JoinDestData}
		s.joinDests[dest] = b
	}
	if b.grants >= rl.JoinsPerDest || b.bytes.Load() >= b.cap {
		s.cfg.Logf("join circuit %s → %s refused: the destination had %d join allowances (%d bytes) in %v", src.ShortString(), dest.ShortString(), b.grants, b.bytes.Load(), rl.JoinDuration)
		return false
	}
	if ip != "" {
		if s.joinIPs == nil {
			s.joinIPs = map[string][]time.Time{}
		}
		recent := s.joinIPs[ip][:0]
		for _, t := range s.joinIPs[ip] {
			if now.Sub(t) < rl.JoinDuration {
				recent = append(recent, t)
			}
		}
		if len(recent) >= rl.JoinsPerIP {
			s.joinIPs[ip] = recent
			s.cfg.Logf("join circuit %s → %s refused: %s opened %d join allowances in %v", src.ShortString(), dest.ShortString(), ip, len(recent), rl.JoinDuration)
			return false
		}
		s.joinIPs[ip] = append(recent, now)
	}
	b.grants++
	g := &joinGrant{s: s, src: src, dest: dest, key: key, cap: rl.JoinData, end: now.Add(rl.JoinDuration), budget: b}
	g.timer = time.AfterFunc(rl.JoinDuration, g.expire)
	s.joins[src] = g
	s.cfg.Logf("join circuit %s → %s allowed (%d bytes, %v)", src.ShortString(), dest.ShortString(), rl.JoinData, rl.JoinDuration)
	return true
}

// joinOf returns the current allowance of src, if any.
func (s *Server) joinOf(src peer.ID) *joinGrant {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.joins[src]
	if g == nil || time.Now().After(g.end.Add(joinLinger)) {
		return nil
	}
	return g
}

// gcJoinsLocked forgets spent allowances.
func (s *Server) gcJoinsLocked(now time.Time) {
	for ip, ts := range s.joinIPs {
		if len(ts) == 0 || now.Sub(ts[len(ts)-1]) >= s.cfg.Relay.JoinDuration {
			delete(s.joinIPs, ip)
		}
	}
	for p, b := range s.joinDests {
		if now.Sub(b.start) >= s.cfg.Relay.JoinDuration {
			delete(s.joinDests, p)
		}
	}
	for p, g := range s.joins {
		if now.After(g.end.Add(joinLinger)) {
			g.timer.Stop()
			delete(s.joins, p)
		}
	}
}

func (g *joinGrant) isDone() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.done
}

// add puts a stream under the allowance; false if it is spent (the stream
// is then reset).
func (g *joinGrant) add(st network.Stream) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done {
		st.Reset()
		return false
	}
	g.streams = append(g.streams, st)
	return true
}

// use counts n bytes; false once the allowance, or the destination's join
// budget, is spent.
func (g *joinGrant) use(n int) bool {
	ok := g.used.Add(int64(n)) <= g.cap
	if g.budget != nil && g.budget.bytes.Add(int64(n)) > g.budget.cap {
		ok = false
	}
	return ok && !g.isDone()
}

// useOrPromote counts n bytes like use; at the cap it waits for the peer
// to become a member (true: the caller rebinds the stream to the plan).
func (g *joinGrant) useOrPromote(n int) (ok, promoted bool) {
	if g.member() {
		return true, true
	}
	if g.use(n) {
		return true, false
	}
	if g.awaitMember() {
		return true, true
	}
	return false, false
}

// cut ends every circuit of the allowance. The relay resets the other half
// of each circuit when its copy fails.
func (g *joinGrant) cut() {
	g.mu.Lock()
	g.done = true
	streams := g.streams
	g.streams = nil
	g.mu.Unlock()
	for _, st := range streams {
		st.Reset()
	}
}

// meteredHost is the host the relay service sees: every stream it handles or
// opens counts the bytes read from it against the peer's network, and is
// cut when that network goes over its plan.
type meteredHost struct {
	host.Host
	s *Server
}

func (h *meteredHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	h.Host.SetStreamHandler(pid, func(st network.Stream) { handler(h.s.meterStream(st)) })
}

func (h *meteredHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	st, err := h.Host.NewStream(ctx, p, pids...)
	if err != nil {
		return nil, err
	}
	m := &meteredStream{Stream: st, s: h.s}
	// The relay opens stop streams only, to a circuit's destination.
	m.stop = slices.Contains(pids, proto.ProtoIDv2Stop)
	return m, nil
}

// meteredStream is one stream of the relay service. Bytes read from a
// proof holder count against its network. A stream from a peer without a
// proof that has a join allowance counts, in both directions, against the
// allowance (and what it reads against the destination's network); it is
// cut when the allowance is spent.
type meteredStream struct {
	network.Stream
	s    *Server
	key  *[32]byte
	join *joinGrant
	// answered: the relay has written its answer on this stream (a
	// stranger's hop stream counts only bytes after it: after the
	// destination accepted).
	answered bool
	// stop: a stream the relay opened to a circuit's destination. Its
	// first message names the source; hdr gathers it. skip: it belongs to
	// a join circuit, whose hop stream counts both directions.
	stop, decided, skip bool
	hdr                 []byte
	// skipped is the allowance of a skipped stop stream's source: once
	// that source is a member the stream counts against the plan.
	skipped *joinGrant
}

func (s *Server) meterStream(st network.Stream) network.Stream {
	return &meteredStream{Stream: st, s: s}
}

var (
	errOverQuota = errors.New("control: network over its plan's monthly bytes")
	errJoinSpent = errors.New("control: join circuit past its allowance")
)

// bind finds what the stream's bytes count against, once it is known: the
// peer's network, or (for a peer without a proof) its join allowance,
// which exists once the relay allowed its circuit.
func (m *meteredStream) bind() {
	if m.key != nil || m.join != nil {
		return
	}
	p := m.Conn().RemotePeer()
	if k, ok := m.s.holderOf(p); ok {
		m.key = &k
		return
	}
	if g := m.s.joinOf(p); g != nil {
		m.join = g
		g.add(m.Stream)
	}
}

func (m *meteredStream) Read(b []byte) (int, error) {
	n, err := m.Stream.Read(b)
	if n > 0 {
		p := m.Conn().RemotePeer()
		if m.s.cfg.Tap != nil {
			m.s.cfg.Tap(p, b[:n])
		}
		if m.skipping() {
			return n, err
		}
		m.bind()
		if m.join != nil && m.answered {
			ok, promoted := m.join.useOrPromote(n)
			if !ok {
				m.join.cut()
				return n, errJoinSpent
			}
			if promoted {
				m.promote()
			}
		}
		if m.join == nil && m.key != nil {
			// Counted (claimed in the store) before the bytes go on.
			if err := m.s.count(*m.key, Counts{Relay: int64(n)}); err != nil {
				m.Stream.Reset()
				return 0, err
			}
			if m.s.overLimit(*m.key) {
				m.Stream.Reset()
				return n, errOverQuota
			}
		}
	}
	return n, err
}

func (m *meteredStream) Write(b []byte) (int, error) {
	if m.stop && !m.decided {
		m.decideStop(b)
	}
	if m.skipping() {
		return m.Stream.Write(b)
	}
	m.bind()
	if m.join != nil {
		if !m.answered {
			// The relay's answer to the stranger: the circuit is up.
			m.answered = true
		} else if ok, promoted := m.join.useOrPromote(len(b)); !ok {
			m.join.cut()
			return 0, errJoinSpent
		} else if promoted {
			m.promote()
		}
	}
	return m.Stream.Write(b)
}

// promote makes a join circuit's hop stream a member's: its bytes count
// against the network from now on.
func (m *meteredStream) promote() {
	k := m.join.key
	m.key, m.join = &k, nil
}

// skipping says whether the stream is a join circuit's stop stream whose
// bytes its hop stream counts; once the source is a member, it is not.
func (m *meteredStream) skipping() bool {
	if m.skip && m.skipped != nil && m.skipped.member() {
		m.skip, m.skipped = false, nil
	}
	return m.skip
}

// decideStop reads the source of a stop stream from the relay's first
// message; a circuit from a peer with a join allowance and no proof is
// counted on its hop stream only.
func (m *meteredStream) decideStop(b []byte) {
	m.hdr = append(m.hdr, b...)
	src, err := stopSource(m.hdr)
	if errors.Is(err, errShort) && len(m.hdr) < 4096 {
		return
	}
	m.decided, m.hdr = true, nil
	if err != nil {
		return
	}
	if _, ok := m.s.holderOf(src); !ok {
		if g := m.s.joinOf(src); g != nil {
			m.skip, m.skipped = true, g
		}
	}
}

var errShort = errors.New("short message")

// stopSource decodes the source peer of a circuit relay stop message (a
// uvarint length and a StopMessage); errShort if b holds only part of it.
func stopSource(b []byte) (peer.ID, error) {
	l, n := binary.Uvarint(b)
	switch {
	case n == 0:
		return "", errShort
	case n < 0 || l > 4096:
		return "", errors.New("bad stop message length")
	case uint64(len(b)-n) < l:
		return "", errShort
	}
	var msg pbv2.StopMessage
	if err := protobuf.Unmarshal(b[n:n+int(l)], &msg); err != nil {
		return "", err
	}
	return peer.IDFromBytes(msg.GetPeer().GetId())
}
