package node

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Hole punching. go-libp2p's built-in service (libp2p.EnableHolePunching)
// only answers relayed connections that open after it has seen a public
// address, and a coconet node usually reaches its members through the
// relay ~150 ms after start, before that (NAT-NOTES 2; measured in the NAT
// lab: easy-easy stayed relayed). So the node runs the service itself and
// asks it to punch every member it reaches only through a relay, again every
// punchEvery while that lasts. A short direct-dial timeout matters: the
// service first tries a plain dial to the peer's public address, which a
// firewall makes wait for the whole timeout.

const (
	punchEvery        = 10 * time.Second
	punchDialTimeout  = time.Second
	punchCloseTimeout = time.Second
)

type puncher struct {
	svc  *holepunch.Service
	h    host.Host
	wg   sync.WaitGroup
	mu   sync.Mutex
	last map[peer.ID]time.Time
}

func newPuncher(h host.Host) (*puncher, error) {
	idh, ok := h.(interface{ IDService() identify.IDService })
	if !ok {
		return nil, nil
	}
	p := &puncher{h: h, last: map[peer.ID]time.Time{}}
	svc, err := holepunch.NewService(h, idh.IDService(), p.publicAddrs, holepunch.DirectDialTimeout(punchDialTimeout))
	if err != nil {
		return nil, err
	}
	p.svc = svc
	return p, nil
}

func (p *puncher) publicAddrs() []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range p.h.Addrs() {
		if manet.IsPublicAddr(a) {
			out = append(out, a)
		}
	}
	return out
}

// punch starts a hole punch to peer unless one ran recently. It does
// nothing until the host has a public address: before that the service
// would block waiting for one.
func (p *puncher) punch(peer peer.ID, logf func(string, ...any)) {
	if p == nil || len(p.publicAddrs()) == 0 {
		return
	}
	p.mu.Lock()
	if time.Since(p.last[peer]) < punchEvery {
		p.mu.Unlock()
		return
	}
	p.last[peer] = time.Now()
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := p.svc.DirectConnect(peer); err != nil {
			logf("hole punch to %s: %v", peer.ShortString(), err)
		} else {
			logf("hole punched to %s: direct connection", peer.ShortString())
		}
	}()
}

// close stops the service and waits a moment for punches in flight. A punch
// started in the instant before the service noticed its public address can
// stay blocked inside the service; it is not waited for forever.
func (p *puncher) close() {
	if p == nil {
		return
	}
	p.svc.Close()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(punchCloseTimeout):
	}
}
