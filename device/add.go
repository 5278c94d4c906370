package device

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

func sortInfos(in []Info) {
	slices.SortFunc(in, func(a, b Info) int {
		if c := strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c != 0 {
			return c
		}
		return strings.Compare(a.Node, b.Node)
	})
}

// ClaimTimeout bounds how long Add tries to reach the device.
var ClaimTimeout = 20 * time.Second

// Add claims the device whose claim code is code into n's network. Only the
// owner adds devices. On success the device has the network's ledger and
// joins it as a node; if it cannot be reached or refuses, the node and its
// record are taken out of the ledger again and the error says why.
func Add(ctx context.Context, n *engine.Engine, code string) (Info, error) {
	c, err := ParseCode(code)
	if err != nil {
		return Info{}, err
	}
	st := n.Ledger().State()
	if st.Owner != n.User() {
		return Info{}, fmt.Errorf("only the owner of %q adds devices (you are %s)", st.Name, st.Role(n.User()))
	}
	pid, err := node.PeerIDOf(c.Key)
	if err != nil {
		return Info{}, fmt.Errorf("%w: %v", ErrBadCode, err)
	}
	if ni := st.Nodes[c.Key]; ni != nil {
		return Info{}, fmt.Errorf("device %q (%s) is already in %q", ni.Name, pid.ShortString(), st.Name)
	}
	name := c.Name
	if name == "" {
		name = "device-" + pid.String()[len(pid.String())-6:]
	}
	for _, d := range List(st) {
		if strings.EqualFold(d.Name, name) {
			return Info{}, fmt.Errorf("%q already has a device named %q: rename one of them first", st.Name, d.Name)
		}
	}
	rec := Record{Name: name, Node: pid.String(), Model: c.Model, Added: time.Now().UTC().Truncate(time.Second)}
	val, _ := json.Marshal(rec)
	// Only the owner adds a node without the node key's proof of
	// possession: the device's key comes from its claim code.
	if _, err := n.Append(ledger.Op{Kind: ledger.KindAddNode, Subject: n.User(), Node: c.Key, SubjectName: name}); err != nil {
		return Info{}, err
	}
	if _, err := n.Append(ledger.Op{Kind: ledger.KindPut, Table: ledger.TableDevice, Key: pid.String(), Value: val}); err != nil {
		n.Append(ledger.Op{Kind: ledger.KindRemoveNode, Node: c.Key})
		return Info{}, err
	}
	if err := handOver(ctx, n, c, pid); err != nil {
		n.Append(ledger.Op{Kind: ledger.KindDelete, Table: ledger.TableDevice, Key: pid.String()})
		n.Append(ledger.Op{Kind: ledger.KindRemoveNode, Node: c.Key})
		return Info{}, fmt.Errorf("device %q was not added: %w", name, err)
	}
	return Info{Name: name, Node: pid.String(), Model: c.Model, Added: rec.Added, AddedBy: n.User()}, nil
}

// handOver connects to the device's claim host and gives it the ledger.
func handOver(ctx context.Context, n *engine.Engine, c *Code, pid peer.ID) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, ClaimTimeout)
	defer cancel()
	h := n.Node().Host()
	addrs := c.Multiaddrs()
	if err := h.Connect(ctx, peer.AddrInfo{ID: pid, Addrs: addrs}); err != nil {
		return fmt.Errorf("cannot reach the device at %v (is `coco up --device` running there, on a network you can reach?): %w", addrs, err)
	}
	s, err := h.NewStream(ctx, pid, Protocol)
	if err != nil {
		return fmt.Errorf("the device does not take claims (already claimed? it shows a code only until then; or it runs another version of coconet): %w", err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	r := bufio.NewReader(s)
	if err := writeFrame(s, claimProof{Proof: Proof(c.Secret, h.ID(), pid)}); err != nil {
		return fmt.Errorf("send the claim to the device: %w", err)
	}
	var rep claimReply
	if err := readFrame(r, &rep, maxReplyFrame); err != nil {
		return fmt.Errorf("the device did not answer: %w", err)
	}
	if !rep.OK {
		return fmt.Errorf("the device refused: %s", rep.Error)
	}
	var cp claimPeers
	self, _ := ma.NewMultiaddr("/p2p/" + h.ID().String())
	for _, a := range h.Addrs() {
		if len(cp.Peers) < maxClaimPeers {
			cp.Peers = append(cp.Peers, a.Encapsulate(self).Bytes())
		}
	}
	if err := writeFrame(s, cp); err != nil {
		return fmt.Errorf("send the claim to the device: %w", err)
	}
	// The ledger, in chunks, each with its own deadline: the device
	// verifies and stores one before it reads the next. Its answer is read
	// meanwhile: a device that refuses the ledger half-way says why and
	// stops reading, and the sending stops.
	end := start.Add(claimMax)
	s.SetReadDeadline(end)
	answer := make(chan error, 1)
	go func() {
		var rep claimReply
		err := readFrame(r, &rep, maxReplyFrame)
		switch {
		case err != nil:
			err = fmt.Errorf("the device did not answer: %w", err)
		case !rep.OK:
			err = fmt.Errorf("the device refused: %s", rep.Error)
		}
		if err != nil {
			s.SetWriteDeadline(time.Now()) // unblock the sending
		}
		answer <- err
	}()
	sendErr := node.SendOps(&renewingWriter{s: s, end: end}, n.Ledger().Ops())
	if sendErr != nil {
		s.SetReadDeadline(time.Now().Add(time.Second)) // an answer already sent is read at once
	}
	if err := <-answer; err != nil {
		return err
	}
	if sendErr != nil {
		return fmt.Errorf("send the ledger to the device: %w", sendErr)
	}
	// The claim host goes away now, and its addresses with it: the device's
	// node, on ports of its own, connects to us (it has our addresses), and
	// the other members learn where it is by address exchange.
	s.Close()
	h.Network().ClosePeer(pid)
	h.Peerstore().ClearAddrs(pid)
	return nil
}

// renewingWriter gives each write (a frame) claimIdle, never past end.
type renewingWriter struct {
	s   network.Stream
	end time.Time
}

func (w *renewingWriter) Write(b []byte) (int, error) {
	dl := time.Now().Add(claimIdle)
	if w.end.Before(dl) {
		dl = w.end
	}
	w.s.SetWriteDeadline(dl)
	return w.s.Write(b)
}

// Find resolves a device of st by name (any case) or peer ID.
func Find(st *ledger.State, ref string) (Info, error) {
	var match []Info
	for _, d := range List(st) {
		if d.Node == ref || strings.EqualFold(d.Name, ref) {
			match = append(match, d)
		}
	}
	switch len(match) {
	case 0:
		return Info{}, fmt.Errorf("%q has no device %q (see `coco device list`)", st.Name, ref)
	case 1:
		return match[0], nil
	}
	return Info{}, fmt.Errorf("%q names %d devices; use the node ID from `coco device list`", ref, len(match))
}

// Remove takes a device out of n's network: its node is removed (online
// members cut it off at once) and its record deleted. Only the owner
// removes devices.
func Remove(n *engine.Engine, ref string) (Info, error) {
	return RemoveFrom(n.Ledger(), func(o ledger.Op) (*ledger.Op, error) { return n.Append(o) }, n.User(), ref)
}

// RemoveFrom is Remove on a ledger directly (no node running): appendOp
// signs as user.
func RemoveFrom(l *ledger.Log, appendOp func(ledger.Op) (*ledger.Op, error), user identity.UserID, ref string) (Info, error) {
	st := l.State()
	if st.Owner != user {
		return Info{}, fmt.Errorf("only the owner of %q removes devices", st.Name)
	}
	d, err := Find(st, ref)
	if err != nil {
		return Info{}, err
	}
	pid, err := peer.Decode(d.Node)
	if err != nil {
		return Info{}, err
	}
	key, err := node.KeyOf(pid)
	if err != nil {
		return Info{}, err
	}
	if st.Nodes[key] != nil {
		if _, err := appendOp(ledger.Op{Kind: ledger.KindRemoveNode, Node: key}); err != nil {
			return Info{}, err
		}
	}
	if _, err := appendOp(ledger.Op{Kind: ledger.KindDelete, Table: ledger.TableDevice, Key: d.Node}); err != nil {
		return Info{}, err
	}
	return d, nil
}
