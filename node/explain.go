package node

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/control/controlproto"
)

// ExplainUnreachable adds the reason a control plane gives to err, a failed
// exchange with p: when this node's only connections to p go through a
// relay and a control plane reported (or, asked now, reports) that the
// network is over a limit of its plan, the result says the relay is closed
// to this network and wraps the *controlproto.LimitError. Otherwise it
// returns err unchanged. It may ask a control plane, for up to 3 s.
func (n *Node) ExplainUnreachable(p peer.ID, err error) error {
	if le := n.relayLimit(p); le != nil {
		return fmt.Errorf("%w; the relay is closed to this network: %w", err, le)
	}
	return err
}

// relayLimit returns the plan limit a control plane reported if this node
// has no direct connection to p.
func (n *Node) relayLimit(p peer.ID) error {
	for _, c := range n.host.Network().ConnsToPeer(p) {
		if !isRelayed(c) {
			return nil
		}
	}
	if err := n.controlLimit(); err != nil || len(n.controls) == 0 {
		return err
	}
	// The relay may have cut the stream on a limit the control loop has
	// not heard of yet: ask.
	ctx, cancel := context.WithTimeout(n.ctx, 3*time.Second)
	defer cancel()
	if u, err := n.Usage(ctx); err == nil && u.Exceeded != "" {
		return &controlproto.LimitError{Limit: controlproto.LimitBytes, Used: u.Bytes, Max: u.LimitBytes, Msg: u.Exceeded}
	}
	return nil
}
