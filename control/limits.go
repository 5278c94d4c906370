package control

import (
	"container/list"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/x/rate"

	"github.com/coconet/coconet/control/controlproto"
)

// Limits bound what anyone, before showing a membership proof, can make
// the control plane hold: connections, streams and buffered bytes, in go-libp2p's
// resource manager. The zero value gives the defaults below.
type Limits struct {
	// Conns is the number of connections in all (default: 3/4 of the
	// process's file descriptor limit, at most 16384). The connection
	// manager trims idle connections from 3/4 of it.
	Conns int
	// ConnsPerIP bounds the connections from one IPv4 address or one IPv6
	// /64 (default 256: many nodes may share an address behind a NAT).
	ConnsPerIP int
	// ConnsPerSubnet bounds the connections from one IPv4 /16 or IPv6 /48
	// (default 4 × ConnsPerIP).
	ConnsPerSubnet int
	// LimitLoopback applies ConnsPerIP and ConnsPerSubnet to loopback
	// addresses too; by default they are exempt, as in go-libp2p.
	LimitLoopback bool
	// ConnsPerPeer bounds the connections of one peer (default 8).
	ConnsPerPeer int
	// StreamsPerPeer bounds one peer's open inbound streams, all protocols
	// (default 160: a relay slot, 64 circuits and a few requests).
	StreamsPerPeer int
	// ControlStreams bounds the control protocol's open streams in all
	// (default 8192) and per peer (ControlStreamsPerPeer, default 8): each
	// may hold a request of up to 192 KiB while it is read.
	ControlStreams        int
	ControlStreamsPerPeer int
	// PendingRequests bounds the control streams of peers without a live
	// proof being read at once (default 4096, each a few KiB), and
	// PendingBytes what they have sent so far (default 32 MiB); past
	// either, the oldest is reset.
	PendingRequests int
	PendingBytes    int64
	// Memory bounds the bytes the muxers and the relay may reserve, in all
	// (default 4 GiB). yamux reserves a 256 KiB window per stream up front,
	// whether or not bytes come, so this mostly bounds the streams open at
	// once (16,384 by default; identify keeps one per connection), and
	// yamux ends the connection whose new stream does not fit. Streams
	// whose protocol is not yet known get 1/8 of it, the relay's circuit
	// buffers 1/4.
	Memory int64
	// RequestTimeout is how long a control stream has to send its request,
	// which carries the proof (default 5 s).
	RequestTimeout time.Duration
}

func (l *Limits) fill() {
	if l.Conns == 0 {
		l.Conns = 16384
		if fds := fdLimit(); fds > 0 {
			l.Conns = min(l.Conns, fds*3/4)
		}
	}
	if l.ConnsPerIP == 0 {
		l.ConnsPerIP = 256
	}
	if l.ConnsPerSubnet == 0 {
		l.ConnsPerSubnet = 4 * l.ConnsPerIP
	}
	if l.ConnsPerPeer == 0 {
		l.ConnsPerPeer = 8
	}
	if l.StreamsPerPeer == 0 {
		l.StreamsPerPeer = 160
	}
	if l.ControlStreams == 0 {
		l.ControlStreams = 8192
	}
	if l.ControlStreamsPerPeer == 0 {
		l.ControlStreamsPerPeer = 8
	}
	if l.PendingRequests == 0 {
		l.PendingRequests = 4096
	}
	if l.PendingBytes == 0 {
		l.PendingBytes = 32 << 20
	}
	if l.Memory == 0 {
		l.Memory = 4 << 30
	}
	if l.RequestTimeout == 0 {
		l.RequestTimeout = 5 * time.Second
	}
}

// fdLimit is the process's soft limit on open files, 0 if unknown.
func fdLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur > math.MaxInt32 {
		return 0
	}
	return int(r.Cur)
}

// resourceManager builds go-libp2p's resource manager with explicit limits
// for every scope a stranger reaches before a proof.
func (l Limits) resourceManager(rl RelayLimits) (network.ResourceManager, error) {
	lv := func(n int) rcmgr.LimitVal { return rcmgr.LimitVal(n) }
	conns := lv(l.Conns)
	// Streams a peer may open before its protocol is known, and streams
	// in all: a control plane mostly answers short requests and relays.
	streams := lv(max(4*l.Conns, 8*l.ControlStreams))
	cfg := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns: conns, ConnsInbound: conns, ConnsOutbound: conns, FD: conns,
			Streams: streams, StreamsInbound: streams, StreamsOutbound: streams,
			Memory: rcmgr.LimitVal64(l.Memory),
		},
		// Streams whose protocol is not negotiated yet (go-libp2p gives
		// them 10 s): enough that a few strangers cannot fill them.
		Transient: rcmgr.ResourceLimits{
			Conns: lv(l.Conns / 4), ConnsInbound: lv(l.Conns / 4), ConnsOutbound: lv(l.Conns / 4), FD: lv(l.Conns / 4),
			Streams: lv(2048), StreamsInbound: lv(2048), StreamsOutbound: lv(2048),
			Memory: rcmgr.LimitVal64(l.Memory / 8),
		},
		PeerDefault: rcmgr.ResourceLimits{
			Conns: lv(l.ConnsPerPeer), ConnsInbound: lv(l.ConnsPerPeer), ConnsOutbound: lv(l.ConnsPerPeer), FD: lv(l.ConnsPerPeer),
			Streams: lv(2 * l.StreamsPerPeer), StreamsInbound: lv(l.StreamsPerPeer), StreamsOutbound: lv(l.StreamsPerPeer),
			Memory: rcmgr.LimitVal64(int64(l.StreamsPerPeer+8) << 18),
		},
		Protocol: map[protocol.ID]rcmgr.ResourceLimits{
			// Above PendingRequests: strangers' streams are pushed out
			// before this is reached.
			controlproto.Protocol: {
				Streams: lv(l.ControlStreams), StreamsInbound: lv(l.ControlStreams), StreamsOutbound: lv(l.ControlStreams),
			},
		},
		ProtocolPeer: map[protocol.ID]rcmgr.ResourceLimits{
			controlproto.Protocol: {
				Streams: lv(l.ControlStreamsPerPeer), StreamsInbound: lv(l.ControlStreamsPerPeer), StreamsOutbound: lv(l.ControlStreamsPerPeer),
			},
			// A peer's hop streams: its reservation and the circuits it
			// opens; stop streams are the relay's, to the destination.
			proto.ProtoIDv2Hop: {
				Streams: lv(rl.MaxCircuits + 8), StreamsInbound: lv(rl.MaxCircuits + 8), StreamsOutbound: lv(rl.MaxCircuits + 8),
			},
		},
		Service: map[string]rcmgr.ResourceLimits{
			// Every circuit reserves two copy buffers.
			relay.ServiceName: {
				Memory: rcmgr.LimitVal64(l.Memory / 4),
			},
		},
	}
	limits := cfg.Build(rcmgr.DefaultLimits.Scale(l.Memory, l.Conns))
	// Nothing reads the resource manager's metrics (see Start).
	opts := []rcmgr.Option{rcmgr.WithMetricsDisabled()}
	opts = append(opts, rcmgr.WithLimitPerSubnet(
		[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 32, ConnCount: l.ConnsPerIP}, {PrefixLength: 16, ConnCount: l.ConnsPerSubnet}},
		[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 64, ConnCount: l.ConnsPerIP}, {PrefixLength: 48, ConnCount: l.ConnsPerSubnet}},
	))
	// New connections per address: a burst for a NAT full of nodes coming
	// back after a restart, then a few a second.
	rl4 := []rate.SubnetLimit{{PrefixLength: 32, Limit: rate.Limit{RPS: 2, Burst: 64}}}
	rl6 := []rate.SubnetLimit{{PrefixLength: 64, Limit: rate.Limit{RPS: 2, Burst: 64}}}
	var exempt []rate.PrefixLimit
	if !l.LimitLoopback {
		exempt = []rate.PrefixLimit{
			{Prefix: netip.MustParsePrefix("127.0.0.0/8")},
			{Prefix: netip.MustParsePrefix("::1/128")},
		}
	}
	opts = append(opts, rcmgr.WithConnRateLimiters(&rate.Limiter{
		NetworkPrefixLimits: exempt,
		SubnetRateLimiter:   rate.SubnetLimiter{IPv4SubnetLimits: rl4, IPv6SubnetLimits: rl6, GracePeriod: time.Minute},
	}))
	if l.LimitLoopback {
		// A prefix that matches nothing, so no address is exempt.
		none := []rcmgr.NetworkPrefixLimit{{Network: netip.MustParsePrefix("0.0.0.0/32"), ConnCount: 0}}
		opts = append(opts, rcmgr.WithNetworkPrefixLimit(none, []rcmgr.NetworkPrefixLimit{{Network: netip.MustParsePrefix("::/128"), ConnCount: 0}}))
	}
	m, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits), opts...)
	if err != nil {
		return nil, fmt.Errorf("control: resource manager: %w", err)
	}
	return m, nil
}

// connManager trims connections from 3/4 of the connection limit down to
// 1/2, oldest idle first; members with a live proof are protected.
func (l Limits) connManager() (*connmgr.BasicConnMgr, error) {
	return connmgr.NewConnManager(l.Conns/2, l.Conns*3/4, connmgr.WithGracePeriod(20*time.Second))
}

// pendingStreams are the control streams of peers without a live proof,
// oldest first: at most max of them, holding at most maxBytes of request
// bytes read so far. Past either, the oldest is reset.
type pendingStreams struct {
	max      int
	maxBytes int64

	mu      sync.Mutex // guards following fields
	streams *list.List // of *pendingStream
	bytes   int64
}

type pendingStream struct {
	p     *pendingStreams
	st    network.Stream
	e     *list.Element // nil once out of the list
	bytes int64
}

// bigRequest is the size past which a pending request is pushed out
// before older ones when the byte bound is crossed.
const bigRequest = 16 << 10

func newPendingStreams(max int, maxBytes int64) *pendingStreams {
	return &pendingStreams{max: max, maxBytes: maxBytes, streams: list.New()}
}

// add puts st at the back.
func (p *pendingStreams) add(st network.Stream) *pendingStream {
	ps := &pendingStream{p: p, st: st}
	p.mu.Lock()
	ps.e = p.streams.PushBack(ps)
	evict := p.evictLocked()
	p.mu.Unlock()
	for _, st := range evict {
		st.Reset()
	}
	return ps
}

// evictLocked takes out the oldest streams while over a bound.
func (p *pendingStreams) evictLocked() []network.Stream {
	var out []network.Stream
	for p.streams.Len() > 0 && (p.streams.Len() > p.max || p.bytes > p.maxBytes) {
		old := p.streams.Front().Value.(*pendingStream)
		p.removeLocked(old)
		out = append(out, old.st)
	}
	return out
}

func (p *pendingStreams) removeLocked(ps *pendingStream) {
	if ps.e != nil {
		p.streams.Remove(ps.e)
		ps.e = nil
		p.bytes -= ps.bytes
	}
}

// Read counts the bytes read from the stream against the bound.
func (ps *pendingStream) Read(b []byte) (int, error) {
	n, err := ps.st.Read(b)
	if n > 0 {
		p := ps.p
		p.mu.Lock()
		if ps.e != nil {
			ps.bytes += int64(n)
			p.bytes += int64(n)
		}
		var evict []network.Stream
		if p.bytes > p.maxBytes && ps.e != nil && ps.bytes > bigRequest {
			// Over the byte bound, a large request goes first: the one
			// that crossed it, rather than an older small one (a
			// member's request is a few KiB).
			p.removeLocked(ps)
			evict = append(evict, ps.st)
		}
		evict = append(evict, p.evictLocked()...)
		p.mu.Unlock()
		for _, st := range evict {
			st.Reset()
		}
	}
	return n, err
}

// done takes the stream out (its request is read, or it failed).
func (ps *pendingStream) done() {
	ps.p.mu.Lock()
	defer ps.p.mu.Unlock()
	ps.p.removeLocked(ps)
}

// len is the number of pending streams and their bytes.
func (p *pendingStreams) len() (int, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.streams.Len(), p.bytes
}
