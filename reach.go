package coconet

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/internal/dialerr"
)

// Waiting for a path to a member: the first retry after this, doubling up
// to reachMaxWait.
const (
	reachFirstWait = 100 * time.Millisecond
	reachMaxWait   = 2 * time.Second
)

// reach runs op on the member's nodes ids, in order, until one succeeds,
// and returns nil or the error of the last one tried. When none of ids
// could even be connected to (so op cannot have delivered anything) and
// ctx has a deadline, it waits and tries again, with a backoff, until a
// node answers or ctx ends; the error is then the last one op gave before
// ctx ended, so the caller's sentence for an offline member stays the same
// (when ctx ends before any dial could finish, as before, op's error for
// an ended ctx).
// Without a deadline on ctx it tries once, as a caller that may wait
// forever did not ask to.
//
// tryNext says whether op's error lets the next node be tried; reach stops
// at the first error it refuses.
func (n *Node) reach(ctx context.Context, ids []peer.ID, op func(context.Context, peer.ID) error, tryNext func(error) bool) error {
	_, wait := ctx.Deadline()
	delay := reachFirstWait
	var last error
	for {
		noPath := true // every node failed to connect, so nothing was sent
		for _, id := range ids {
			dialed := n.connected(id)
			if !dialed {
				cerr := n.n.ConnectTo(ctx, id)
				dialed = cerr == nil || dialerr.Refused(cerr)
			}
			err := op(ctx, id)
			if err == nil {
				return nil
			}
			if ctx.Err() != nil && last != nil {
				return last // the offline error of the round before
			}
			last = err
			if dialed || n.connected(id) {
				noPath = false
			}
			if !tryNext(err) {
				return err
			}
		}
		if !wait || !noPath || ctx.Err() != nil {
			return last
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return last
		case <-t.C:
		}
		delay = min(2*delay, reachMaxWait)
	}
}

func (n *Node) connected(id peer.ID) bool {
	c := n.n.Host().Network().Connectedness(id)
	return c == network.Connected || c == network.Limited // a relayed path counts
}
