package daemon

import (
	"encoding/hex"
	"sort"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/consortium"
)

func wireConsortiumNode(n consortium.NodeInfo) api.ConsortiumNode {
	return api.ConsortiumNode{ID: n.ID, PubKey: n.PubKey, CodeHash: n.CodeHash, Env: n.Env, Addr: n.Addr}
}

func unwireConsortiumNode(n api.ConsortiumNode) consortium.NodeInfo {
	return consortium.NodeInfo{ID: n.ID, PubKey: n.PubKey, CodeHash: n.CodeHash, Env: n.Env, Addr: n.Addr}
}

func wireConsortiumStatus(n *consortium.Node, m *consortium.Member) api.ConsortiumStatus {
	id := n.ConsortiumID()
	members := n.Members()
	sort.Strings(members)
	st := api.ConsortiumStatus{ID: hex.EncodeToString(id[:]), Node: n.ID(), Leader: n.Leader(), Applied: n.Applied(),
		Voters: n.Voters(), Members: members, Self: m.ID()}
	for _, ni := range n.Nodes() {
		st.Nodes = append(st.Nodes, wireConsortiumNode(ni))
	}
	return st
}

func wireReceipt(r *consortium.Receipt) *api.ConsortiumReceipt {
	return &api.ConsortiumReceipt{Consortium: r.Consortium, Seqno: r.Seqno, Record: r.Record, TreeSize: r.TreeSize,
		Root: r.Root, Proof: r.Proof, Node: r.Node, Sig: r.Sig}
}

func wireConsAction(a consortium.Action) api.ConsortiumAction {
	out := api.ConsortiumAction{Kind: a.Kind, Cert: a.Cert, ID: a.ID, NodeID: a.NodeID, Hash: a.Hash, Env: a.Env}
	if a.Node != nil {
		n := wireConsortiumNode(*a.Node)
		out.Node = &n
	}
	return out
}

func unwireConsAction(a api.ConsortiumAction) consortium.Action {
	out := consortium.Action{Kind: a.Kind, Cert: a.Cert, ID: a.ID, NodeID: a.NodeID, Hash: a.Hash, Env: a.Env}
	if a.Node != nil {
		n := unwireConsortiumNode(*a.Node)
		out.Node = &n
	}
	return out
}

func wireProposal(p *consortium.ProposalInfo) api.ConsortiumProposal {
	out := api.ConsortiumProposal{ID: p.ID, Proposer: p.Proposer, State: p.State, Ballots: p.Ballots, Failure: p.Failure}
	for _, a := range p.Actions {
		out.Actions = append(out.Actions, wireConsAction(a))
	}
	return out
}
