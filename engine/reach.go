package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/internal/dialerr"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/msg"
	"github.com/coconet/coconet/rpc"
	"github.com/coconet/coconet/stream"
)

// Waiting for a path to a member: the first retry after this, doubling up
// to reachMaxWait.
const (
	reachFirstWait = 100 * time.Millisecond
	reachMaxWait   = 2 * time.Second
)

// Reach runs op on the nodes ids, in order, until one succeeds, and returns
// nil or the error of the last one tried. When none of ids could even be
// connected to (so op cannot have delivered anything) and ctx has a
// deadline, it waits and tries again, with a backoff, until a node answers
// or ctx ends; the error is then the last one op gave before ctx ended.
// Without a deadline on ctx it tries once, as a caller that may wait
// forever did not ask to.
//
// tryNext says whether op's error lets the next node be tried; Reach stops
// at the first error it refuses. Every way of reaching a member (Send,
// Request, Dial, the home model's client) goes through here.
func (e *Engine) Reach(ctx context.Context, ids []peer.ID, op func(context.Context, peer.ID) error, tryNext func(error) bool) error {
	if len(ids) == 0 {
		return ErrNoNodes
	}
	_, wait := ctx.Deadline()
	delay := reachFirstWait
	var last error
	for {
		noPath := true // every node failed to connect, so nothing was sent
		for _, id := range ids {
			dialed := e.Connected(id)
			if !dialed {
				cerr := e.n.ConnectTo(ctx, id)
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
			if dialed || e.Connected(id) {
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
		case <-e.n.Context().Done(): // the engine closed: nothing will answer
			t.Stop()
			return last
		case <-t.C:
		}
		delay = min(2*delay, reachMaxWait)
	}
}

// Send delivers data to a member (by name or user ID), trying each of its
// nodes, and returns once one acknowledged it.
//
// When none of the member's nodes can be reached yet, Send waits for one
// until ctx's deadline, trying again with a backoff, and then says the
// member is offline. A ctx without a deadline does not wait. Send fails at
// once when to names no member, when this user was removed, and when the
// member's node refuses this one.
func (e *Engine) Send(ctx context.Context, to string, data []byte) error {
	st := e.log.State()
	if st.Role(e.user) == ledger.RoleNone {
		if _, ok := st.Removed[e.user]; !ok {
			return fmt.Errorf("you are not a member of %q; ask one of its admins for an invite", st.Name)
		}
		return fmt.Errorf("you are no longer a member of %q (you were removed); ask one of its admins for a new invite", st.Name)
	}
	name, ids, err := e.Resolve(to)
	if err != nil {
		return err
	}
	lastErr := e.Reach(ctx, ids, func(ctx context.Context, id peer.ID) error {
		return e.msg.Send(ctx, id, data)
	}, notQueued)
	if lastErr == nil {
		return nil
	}
	if errors.Is(lastErr, msg.ErrRefused) {
		return fmt.Errorf("%s's node refused the connection: its copy of the ledger does not list your node as a member of %q (were you removed?)", name, st.Name)
	}
	// A ctx that ends while a dial is still under way gives a deadline
	// error, not ErrOffline; with no connection to any of the member's
	// nodes it is the same fact.
	if errors.Is(lastErr, msg.ErrOffline) || (ctx.Err() != nil && !e.anyConnected(ids)) {
		return fmt.Errorf("%s is offline: none of their %d node(s) could be reached; the message was not delivered", name, len(ids))
	}
	return lastErr
}

// anyConnected says whether this node has a connection to one of ids.
func (e *Engine) anyConnected(ids []peer.ID) bool {
	for _, id := range ids {
		if e.Connected(id) {
			return true
		}
	}
	return false
}

// notQueued says whether a failed send certainly did not queue the
// message, so that trying the member's next node cannot deliver it twice.
func notQueued(err error) bool {
	return errors.Is(err, msg.ErrOffline) || errors.Is(err, msg.ErrRefused) ||
		errors.Is(err, msg.ErrInboxFull) || errors.Is(err, rpc.ErrUnknownService)
}

// ErrNoNodes means Reach was given no node to try.
var ErrNoNodes = errors.New("engine: no node to reach")

// Messages subscribes to incoming messages; call cancel when done.
func (e *Engine) Messages() (<-chan msg.Message, func()) { return e.msg.Subscribe() }

// Request calls a service on a member's node and returns its reply. The
// error says whether the peer is unreachable (rpc.ErrUnreachable), the
// service unknown (rpc.ErrUnknownService), the caller not allowed
// (rpc.ErrNotAllowed) or the deadline passed (rpc.ErrDeadline).
//
// Like Send it waits within ctx's deadline for a connection to one of the
// member's nodes. A request is sent again only when no connection was
// made, so a call that reached the peer is never repeated.
func (e *Engine) Request(ctx context.Context, to, service string, payload []byte) ([]byte, error) {
	ids, err := e.PeerNodes(to)
	if err != nil {
		return nil, err
	}
	return e.RequestNodes(ctx, ids, service, payload)
}

// RequestNodes is Request to given nodes, tried in order.
func (e *Engine) RequestNodes(ctx context.Context, ids []peer.ID, service string, payload []byte) ([]byte, error) {
	var reply []byte
	err := e.Reach(ctx, ids, func(ctx context.Context, id peer.ID) (err error) {
		reply, err = e.rpc.Request(ctx, id, service, payload)
		return err
	}, func(err error) bool { return errors.Is(err, rpc.ErrUnreachable) })
	if err != nil {
		return nil, err
	}
	return reply, nil
}

// Dial opens an ordered, flow-controlled byte stream to a member's service.
// Like Request, it waits within ctx's deadline for a connection to one of
// the member's nodes and fails at once when to names no member or the peer
// refuses the caller.
func (e *Engine) Dial(ctx context.Context, to, service string) (*stream.Conn, error) {
	ids, err := e.PeerNodes(to)
	if err != nil {
		return nil, err
	}
	var c *stream.Conn
	err = e.Reach(ctx, ids, func(ctx context.Context, id peer.ID) (err error) {
		c, err = e.streams.Dial(ctx, id, service)
		return err
	}, func(err error) bool { return errors.Is(err, stream.ErrUnreachable) })
	if err != nil {
		return nil, err
	}
	return c, nil
}
