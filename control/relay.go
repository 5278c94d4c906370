package control

import (
	"context"
	"errors"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
)

// acl opens the relay only to peers that showed a valid proof, and circuits
// only between peers of the same network, while that network is within its
// plan's bytes.
type acl struct{ s *Server }

func (a acl) AllowReserve(p peer.ID, _ ma.Multiaddr) bool {
	key, ok := a.s.holderOf(p)
	return ok && !a.s.overLimit(key)
}

func (a acl) AllowConnect(src peer.ID, _ ma.Multiaddr, dest peer.ID) bool {
	ks, ok := a.s.holderOf(src)
	if !ok {
		return false
	}
	kd, ok := a.s.holderOf(dest)
	return ok && ks == kd && !a.s.overLimit(ks)
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
	return h.s.meterStream(st), nil
}

type meteredStream struct {
	network.Stream
	s   *Server
	key *[32]byte
}

func (s *Server) meterStream(st network.Stream) network.Stream {
	return &meteredStream{Stream: st, s: s}
}

var errOverQuota = errors.New("control: network over its plan's monthly bytes")

func (m *meteredStream) Read(b []byte) (int, error) {
	n, err := m.Stream.Read(b)
	if n > 0 {
		p := m.Conn().RemotePeer()
		if m.s.cfg.Tap != nil {
			m.s.cfg.Tap(p, b[:n])
		}
		if m.key == nil {
			if k, ok := m.s.holderOf(p); ok {
				m.key = &k
			}
		}
		if m.key != nil {
			m.s.meter.get(*m.key, m.s.cfg.Now()).Relay.Add(int64(n))
			if m.s.overLimit(*m.key) {
				m.Stream.Reset()
				return n, errOverQuota
			}
		}
	}
	return n, err
}
