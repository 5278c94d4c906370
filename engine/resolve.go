package engine

import (
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

// ResolveMember finds a member by name, user ID (or a prefix of 6+
// characters) and explains what went wrong otherwise.
func ResolveMember(st *ledger.State, ref string) (*ledger.Member, error) {
	ms := st.MemberByName(ref)
	switch len(ms) {
	case 1:
		return ms[0], nil
	case 0:
		var names []string
		for _, m := range st.SortedMembers() {
			names = append(names, m.Name)
		}
		return nil, fmt.Errorf("no member %q in %q; members are: %s", ref, st.Name, strings.Join(names, ", "))
	default:
		return nil, fmt.Errorf("%q matches %d members of %q; use the user ID from `coco members`", ref, len(ms), st.Name)
	}
}

// Resolve is the one place that answers "which nodes of bob's, in what
// order": to is a member (name, user ID or a prefix of it), a device by the
// name its owner's ledger gives it, or a node's peer ID. It returns the
// name to use in messages and the nodes to try, this app's node and nodes
// already connected first; a device of the owner's is never one of the
// owner's nodes. It reads this node's own ledger copy only.
func (e *Engine) Resolve(to string) (name string, ids []peer.ID, err error) {
	st := e.log.State()
	if id, err := peer.Decode(to); err == nil {
		s, ok := e.n.SenderOf(id)
		if !ok {
			return "", nil, fmt.Errorf("node %s is not a member node of %q", id.ShortString(), st.Name)
		}
		return s.Name, []peer.ID{id}, nil
	}
	m, err := ResolveMember(st, to)
	if err != nil {
		for _, r := range st.Table(ledger.TableDevice) {
			if ni := nodeNamed(st, r.Key); ni != nil && strings.EqualFold(ni.Name, to) {
				id, _ := peer.Decode(r.Key)
				return ni.Name, []peer.ID{id}, nil
			}
		}
		return "", nil, err
	}
	var first, rest []peer.ID
	for k, ni := range st.Nodes {
		if ni.User != m.User {
			continue
		}
		id, err := node.PeerIDOf(k)
		if err != nil || id == e.self || (ni.User == st.Owner && st.Record(ledger.TableDevice, id.String()) != nil) {
			continue // a device of the member's is not the member
		}
		if ni.Name == e.cfg.App || e.Connected(id) {
			first = append(first, id)
		} else {
			rest = append(rest, id)
		}
	}
	out := append(first, rest...)
	if len(out) == 0 {
		return "", nil, fmt.Errorf("%s has no node in %q", m.Name, st.Name)
	}
	return m.Name, out, nil
}

// PeerNodes is Resolve without the name.
func (e *Engine) PeerNodes(to string) ([]peer.ID, error) {
	_, ids, err := e.Resolve(to)
	return ids, err
}

// Connected says whether the node has a connection to id, direct or
// relayed.
func (e *Engine) Connected(id peer.ID) bool {
	c := e.n.Host().Network().Connectedness(id)
	return c == network.Connected || c == network.Limited
}

// nodeNamed returns the node whose peer ID is pid, if st lists it.
func nodeNamed(st *ledger.State, pid string) *ledger.NodeInfo {
	id, err := peer.Decode(pid)
	if err != nil {
		return nil
	}
	k, err := node.KeyOf(id)
	if err != nil {
		return nil
	}
	return st.Nodes[k]
}
