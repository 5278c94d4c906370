package node

import (
	"bufio"
	"context"
	"errors"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/ledger"
)

// The sync protocol: the opener sends every op ID it has; the other side
// answers with the ops the opener lacks and the IDs it lacks itself; the
// opener sends those. One exchange brings both sides to the union. Every op
// received goes through ledger.Log.Add, which verifies it.

type syncHave struct {
	IDs []ledger.ID `json:"ids"`
}

type syncReply struct {
	Ops  [][]byte    `json:"ops"`
	Want []ledger.ID `json:"want"`
}

type syncOps struct {
	Ops [][]byte `json:"ops"`
}

func (n *Node) kickSync() {
	select {
	case n.syncCh <- struct{}{}:
	default:
	}
}

func (n *Node) syncLoop() {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.syncCh:
		case <-t.C:
		}
		for _, p := range n.host.Network().Peers() {
			if m, _ := n.classify(p); !m {
				continue
			}
			ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
			if err := n.SyncWith(ctx, p); err != nil && n.ctx.Err() == nil {
				n.cfg.Logf("sync with %s: %v", p.ShortString(), err)
			}
			cancel()
		}
	}
}

// SyncWith runs one ledger exchange with a member peer.
func (n *Node) SyncWith(ctx context.Context, p peer.ID) error {
	s, err := n.host.NewStream(network.WithAllowLimitedConn(ctx, "sync"), p, ProtoSync)
	if err != nil {
		return err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	if err := writeFrame(s, syncHave{IDs: n.log.IDs()}); err != nil {
		return err
	}
	var rep syncReply
	if err := readFrame(bufio.NewReader(s), &rep, maxFrame); err != nil {
		return err
	}
	n.addOps(p, rep.Ops)
	var out syncOps
	for _, id := range rep.Want {
		if op, ok := n.log.Get(id); ok {
			out.Ops = append(out.Ops, op.Marshal())
		}
	}
	if err := writeFrame(s, out); err != nil {
		return err
	}
	if err := s.CloseWrite(); err != nil {
		return err
	}
	// Wait until the other side has stored what we sent and closed.
	io.Copy(io.Discard, s)
	return nil
}

func (n *Node) handleSync(s network.Stream) {
	defer s.Close()
	if m, _ := n.classify(s.Conn().RemotePeer()); !m {
		s.Reset()
		return
	}
	s.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(s)
	var have syncHave
	if err := readFrame(r, &have, maxFrame); err != nil {
		s.Reset()
		return
	}
	theirs := make(map[ledger.ID]bool, len(have.IDs))
	for _, id := range have.IDs {
		theirs[id] = true
	}
	var rep syncReply
	for _, op := range n.log.Ops() {
		if !theirs[op.ID()] {
			rep.Ops = append(rep.Ops, op.Marshal())
		}
	}
	for id := range theirs {
		if !n.log.Has(id) {
			rep.Want = append(rep.Want, id)
		}
	}
	if err := writeFrame(s, rep); err != nil {
		s.Reset()
		return
	}
	var in syncOps // always sent, empty when we wanted nothing
	if err := readFrame(r, &in, maxFrame); err != nil {
		return
	}
	n.addOps(s.Conn().RemotePeer(), in.Ops)
}

// addOps verifies and stores ops from a peer, logging each rejection.
func (n *Node) addOps(from peer.ID, raw [][]byte) {
	if len(raw) == 0 {
		return
	}
	ops := make([]*ledger.Op, 0, len(raw))
	for _, b := range raw {
		op, err := ledger.Unmarshal(b)
		if err != nil {
			n.cfg.Logf("ledger op from %s rejected: %v", from.ShortString(), err)
			continue
		}
		ops = append(ops, op)
	}
	added, errs := n.log.AddAll(ops)
	for _, err := range errs {
		if err != nil && !errors.Is(err, ledger.ErrDuplicate) {
			n.cfg.Logf("ledger op from %s rejected: %v", from.ShortString(), err)
		}
	}
	if added > 0 {
		n.cfg.Logf("ledger: %d new operation(s) from %s", added, from.ShortString())
	}
}

// pushTo sends our ledger to p, whatever p's standing, ignoring errors: used
// to tell a node it was removed before cutting it off.
func (n *Node) pushTo(ctx context.Context, p peer.ID) {
	if err := n.SyncWith(ctx, p); err != nil {
		n.cfg.Logf("last sync with removed %s: %v", p.ShortString(), err)
	}
}
