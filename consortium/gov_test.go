package consortium

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"
)

// govern submits a signed request through n and fails the test on error.
func (c *cluster) govern(n *Node, req *SignedRequest, err error) *ProposalInfo {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
	r, err := n.Govern(ctxT(c.t), req)
	if err != nil {
		c.t.Fatalf("Govern on node %d = %v", n.ID(), err)
	}
	return r.Proposal
}

func (c *cluster) propose(n *Node, m *Member, actions ...Action) *ProposalInfo {
	c.t.Helper()
	req, err := m.Propose(c.gid(), actions...)
	return c.govern(n, req, err)
}

func (c *cluster) vote(n *Node, m *Member, id string, approve bool) *ProposalInfo {
	c.t.Helper()
	req, err := m.Ballot(c.gid(), id, approve)
	return c.govern(n, req, err)
}

func (c *cluster) tryVote(n *Node, m *Member, id string, approve bool) error {
	c.t.Helper()
	req, err := m.Ballot(c.gid(), id, approve)
	if err != nil {
		c.t.Fatal(err)
	}
	_, err = n.Govern(ctxT(c.t), req)
	return err
}

func TestProposalAddMemberPasses(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.leader()
	dave := issue(t, c.ca, "dave", true) // from the org CA of the constitution
	p := c.propose(n, c.members[0], Action{Kind: ActAddMember, Cert: dave.Cert})
	if p.State != StateOpen {
		t.Fatalf("new proposal = %s, want open", p.State)
	}
	if p = c.vote(n, c.members[1], p.ID, true); p.State != StateOpen {
		t.Fatalf("after 1 of 3 = %s, want open", p.State)
	}
	// The second yes through another node: a majority of 3 accepts.
	other := c.nodes[n.ID()%3+1]
	if p = c.vote(other, c.members[2], p.ID, true); p.State != StateAccepted {
		t.Fatalf("after 2 of 3 = %s, want accepted", p.State)
	}
	for id, node := range c.nodes {
		got, err := node.Proposal(ctxT(t), p.ID)
		if err != nil || got.State != StateAccepted {
			t.Fatalf("node %d Proposal = %v, %v; want accepted", id, got, err)
		}
		if _, _, err := node.Get(ctxT(t), TableMembers, []byte(dave.ID())); err != nil {
			t.Fatalf("node %d: dave not in %s: %v", id, TableMembers, err)
		}
	}
	// Dave now governs: his proposal is open, and he counts among 4 members.
	p = c.propose(n, dave, Action{Kind: ActAllowEnv, Env: "sgx"})
	c.vote(n, dave, p.ID, true)
	if p = c.vote(n, c.members[0], p.ID, true); p.State != StateOpen {
		t.Fatalf("2 of 4 = %s, want open (a majority of 4 is 3)", p.State)
	}
	if p = c.vote(n, c.members[1], p.ID, true); p.State != StateAccepted {
		t.Fatalf("3 of 4 = %s, want accepted", p.State)
	}
}

func TestProposalRejectedWithdrawnDropped(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.leader()
	env := func(e string) Action { return Action{Kind: ActAllowEnv, Env: e} }

	// Rejected: 2 of 3 say no, a majority can no longer be reached.
	p := c.propose(n, c.members[0], env("a"))
	c.vote(n, c.members[1], p.ID, false)
	if p = c.vote(n, c.members[2], p.ID, false); p.State != StateRejected {
		t.Fatalf("2 no of 3 = %s, want rejected", p.State)
	}
	if err := c.tryVote(n, c.members[0], p.ID, true); !errors.Is(err, ErrNotOpen) {
		t.Fatalf("ballot on a rejected proposal = %v, want ErrNotOpen", err)
	}

	// Withdrawn by its proposer; nobody else may withdraw.
	p = c.propose(n, c.members[0], env("b"))
	req, _ := c.members[1].Withdraw(c.gid(), p.ID)
	if _, err := n.Govern(ctxT(t), req); !errors.Is(err, ErrNotProposer) {
		t.Fatalf("withdraw by another member = %v, want ErrNotProposer", err)
	}
	req, err := c.members[0].Withdraw(c.gid(), p.ID)
	if p = c.govern(n, req, err); p.State != StateWithdrawn {
		t.Fatalf("withdraw = %s, want withdrawn", p.State)
	}

	// Dropped: one that lacks votes stays open, then is dropped when the
	// member set changes under it.
	stale := c.propose(n, c.members[0], env("c"))
	c.vote(n, c.members[0], stale.ID, true)
	if got, _ := n.Proposal(ctxT(t), stale.ID); got.State != StateOpen {
		t.Fatalf("1 yes of 3 = %s, want open", got.State)
	}
	rm := c.propose(n, c.members[1], Action{Kind: ActRemoveMember, ID: c.members[2].ID()})
	c.vote(n, c.members[0], rm.ID, true)
	if rm = c.vote(n, c.members[1], rm.ID, true); rm.State != StateAccepted {
		t.Fatalf("remove member = %s, want accepted", rm.State)
	}
	if got, _ := n.Proposal(ctxT(t), stale.ID); got.State != StateDropped {
		t.Fatalf("open proposal after the member set changed = %s, want dropped", got.State)
	}

	// Dropped: expired under a policy with a TTL.
	pol := c.propose(n, c.members[0], Action{Kind: ActSetPolicy, Policy: &Policy{TTL: 1}})
	if pol = c.vote(n, c.members[0], pol.ID, true); pol.State != StateOpen {
		t.Fatalf("1 of 2 = %s, want open", pol.State)
	}
	if pol = c.vote(n, c.members[1], pol.ID, true); pol.State != StateAccepted {
		t.Fatalf("set_policy = %s, want accepted", pol.State)
	}
	old := c.propose(n, c.members[0], env("d"))
	waitFor(t, "the TTL to pass", func() bool { return time.Since(time.Unix(0, old.Created)) > 1100*time.Millisecond })
	fresh := c.propose(n, c.members[0], env("e")) // any governance entry sweeps
	if got, _ := n.Proposal(ctxT(t), old.ID); got.State != StateDropped {
		t.Fatalf("proposal past its TTL = %s, want dropped", got.State)
	}
	if fresh.State != StateOpen {
		t.Fatalf("fresh proposal = %s, want open", fresh.State)
	}
}

func TestVetoAndPerActionThreshold(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.leader()
	pol := &Policy{PerAction: map[string]Threshold{ActAddNode: {1, 1}}, Veto: []string{c.members[2].ID()}}
	p := c.propose(n, c.members[0], Action{Kind: ActSetPolicy, Policy: pol})
	c.vote(n, c.members[0], p.ID, true)
	if p = c.vote(n, c.members[1], p.ID, true); p.State != StateAccepted {
		t.Fatalf("set_policy = %s", p.State)
	}
	// The veto member's single no rejects what two yes would accept.
	p = c.propose(n, c.members[0], Action{Kind: ActAllowEnv, Env: "x"})
	c.vote(n, c.members[0], p.ID, true)
	if p = c.vote(n, c.members[2], p.ID, false); p.State != StateRejected {
		t.Fatalf("veto = %s, want rejected", p.State)
	}
	// add_node needs all three.
	_, key := newNodeKey(t)
	p = c.propose(n, c.members[0], Action{Kind: ActAddNode, Node: ptr(nodeInfo(4, key))})
	c.vote(n, c.members[0], p.ID, true)
	if p = c.vote(n, c.members[1], p.ID, true); p.State != StateOpen {
		t.Fatalf("add_node with 2 of 3 under unanimity = %s, want open", p.State)
	}
	if p = c.vote(n, c.members[2], p.ID, true); p.State != StateAccepted {
		t.Fatalf("add_node with 3 of 3 = %s, want accepted", p.State)
	}
}

func ptr[T any](v T) *T { return &v }

// TestNodeJoinAndRemove: the members add a node, the leader adds it to raft
// and it catches up; a node with an unlisted binary hash is refused; removing
// a node takes it out of raft.
func TestNodeJoinAndRemove(t *testing.T) {
	c := newCluster(t, 3, 1)
	n := c.leader()
	c.put(n, "before", "join")

	// An unlisted binary: the accepted proposal fails and changes nothing.
	_, badKey := newNodeKey(t)
	bad := nodeInfo(5, badKey)
	evil := sha256.Sum256([]byte("patched binary"))
	bad.CodeHash = evil[:]
	p := c.propose(n, c.members[0], Action{Kind: ActAddNode, Node: &bad})
	if p = c.vote(n, c.members[0], p.ID, true); p.State != StateFailed {
		t.Fatalf("add_node with unlisted code = %s, want failed", p.State)
	}
	if _, _, err := n.Get(ctxT(t), TableNodes, be(5)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("node 5 in the table after a failed proposal: %v", err)
	}
	// An environment not in the manifest fails too.
	envBad := nodeInfo(5, badKey)
	envBad.Env = "sgx enclave (claimed)"
	p = c.propose(n, c.members[0], Action{Kind: ActAddNode, Node: &envBad})
	if p = c.vote(n, c.members[0], p.ID, true); p.State != StateFailed {
		t.Fatalf("add_node with unlisted environment = %s, want failed", p.State)
	}

	// A listed node joins.
	_, key := newNodeKey(t)
	c.keys[4] = key
	p = c.propose(n, c.members[0], Action{Kind: ActAddNode, Node: ptr(nodeInfo(4, key))})
	if p = c.vote(n, c.members[0], p.ID, true); p.State != StateAccepted {
		t.Fatalf("add_node = %s, want accepted", p.State)
	}
	c.dirs[4] = t.TempDir()
	joined := c.start(4, true)
	waitFor(t, "node 4 to become a voter", func() bool { return hasVoter(c.leader(), 4) })
	if v, _, err := joined.Get(ctxT(t), "accounts", []byte("before")); err != nil || string(v) != "join" {
		t.Fatalf("joined node Get = %q, %v", v, err)
	}
	c.put(joined, "after", "join")

	// Removed: out of the table at one point, then out of raft.
	p = c.propose(n, c.members[0], Action{Kind: ActRemoveNode, NodeID: 4})
	if p = c.vote(n, c.members[0], p.ID, true); p.State != StateAccepted {
		t.Fatalf("remove_node = %s", p.State)
	}
	waitFor(t, "node 4 to leave raft", func() bool { return !hasVoter(c.leader(), 4) })
	c.put(c.leader(), "without", "4")
}

func hasVoter(n *Node, id uint64) bool {
	for _, v := range n.Voters() {
		if v == id {
			return true
		}
	}
	return false
}
