package consortium

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"math/big"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func (c *cluster) submit(n *Node, req *SignedRequest) error {
	c.t.Helper()
	_, err := n.Govern(ctxT(c.t), req)
	return err
}

// A participant transacts but can neither propose nor vote, and no
// application transaction writes a governance table.
func TestAttackParticipantVotes(t *testing.T) {
	c := newCluster(t, 3, 2)
	n := c.leader()
	carol := issue(t, c.ca, "carol", false)
	p := c.propose(n, c.members[0], Action{Kind: ActAddParticipant, Cert: carol.Cert})
	c.vote(n, c.members[0], p.ID, true)
	if p = c.vote(n, c.members[1], p.ID, true); p.State != StateAccepted {
		t.Fatalf("add_participant = %s", p.State)
	}
	txn := put("orders", "o1", "carol buys")
	txn.Caller = carol.ID()
	if _, err := n.Transact(ctxT(t), txn); err != nil {
		t.Fatalf("participant Transact = %v", err)
	}
	open := c.propose(n, c.members[0], Action{Kind: ActAllowEnv, Env: "x"})
	req, _ := carol.Ballot(c.gid(), open.ID, true)
	if err := c.submit(n, req); !errors.Is(err, ErrNotMember) {
		t.Fatalf("participant ballot = %v, want ErrNotMember", err)
	}
	req, _ = carol.Propose(c.gid(), Action{Kind: ActAddMember, Cert: carol.Cert})
	if err := c.submit(n, req); !errors.Is(err, ErrNotMember) {
		t.Fatalf("participant proposal = %v, want ErrNotMember", err)
	}
	// Writing the member table directly, as a participant or as a member.
	for _, caller := range []string{carol.ID(), c.members[0].ID()} {
		evil := Txn{Caller: caller, Writes: []Write{{Table: TableMembers, Key: []byte(carol.ID()), Value: carol.Cert}}}
		if _, err := n.Transact(ctxT(t), evil); !errors.Is(err, ErrForbidden) {
			t.Fatalf("Transact writing %s = %v, want ErrForbidden", TableMembers, err)
		}
	}
	// A stranger's transaction.
	stranger := issue(t, nil, "stranger", true)
	txn.Caller = stranger.ID()
	if _, err := n.Transact(ctxT(t), txn); !errors.Is(err, ErrForbidden) {
		t.Fatalf("stranger Transact = %v, want ErrForbidden", err)
	}
	if got, _ := n.Proposal(ctxT(t), open.ID); len(got.Ballots) != 0 {
		t.Fatalf("ballots after refused votes = %v, want none", got.Ballots)
	}
}

// A removed member's ballots and proposals are refused from the point of
// its removal on, even ones it signed while still a member.
func TestAttackRemovedMemberBallot(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.leader()
	mallory := c.members[2]
	target := c.propose(n, c.members[0], Action{Kind: ActAllowEnv, Env: "later"})
	presigned, _ := mallory.Ballot(c.gid(), target.ID, true)
	presignedProp, _ := mallory.Propose(c.gid(), Action{Kind: ActAllowEnv, Env: "mallory"})

	rm := c.propose(n, c.members[0], Action{Kind: ActRemoveMember, ID: mallory.ID()})
	c.vote(n, c.members[0], rm.ID, true)
	if rm = c.vote(n, c.members[1], rm.ID, true); rm.State != StateAccepted {
		t.Fatalf("remove_member = %s", rm.State)
	}
	fresh := c.propose(n, c.members[0], Action{Kind: ActAllowEnv, Env: "after"})
	late, _ := mallory.Ballot(c.gid(), fresh.ID, true)
	for name, req := range map[string]*SignedRequest{"ballot signed before removal": presigned, "proposal signed before removal": presignedProp, "ballot after removal": late} {
		if err := c.submit(n, req); !errors.Is(err, ErrNotMember) {
			t.Fatalf("removed member's %s = %v, want ErrNotMember", name, err)
		}
	}
	// Two members now: the remaining two decide alone.
	c.vote(n, c.members[0], fresh.ID, true)
	if p := c.vote(n, c.members[1], fresh.ID, true); p.State != StateAccepted || len(p.Ballots) != 2 {
		t.Fatalf("after removal = %s with %d ballots, want accepted with 2", p.State, len(p.Ballots))
	}
}

// A ballot cannot be moved to another proposal, counted twice, or used in
// another consortium; a proposal cannot be replayed.
func TestAttackBallotReplay(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.leader()
	p1 := c.propose(n, c.members[0], Action{Kind: ActAllowEnv, Env: "one"})
	p2 := c.propose(n, c.members[0], Action{Kind: ActAllowEnv, Env: "two"})
	ballot, _ := c.members[1].Ballot(c.gid(), p1.ID, false)
	if err := c.submit(n, ballot); err != nil {
		t.Fatal(err)
	}
	if err := c.submit(n, ballot); !errors.Is(err, ErrAlreadyVoted) {
		t.Fatalf("replayed ballot = %v, want ErrAlreadyVoted", err)
	}
	// Retarget the signed ballot to p2 (and flip it to yes).
	var body GovBody
	decMode.Unmarshal(ballot.Body, &body)
	body.Proposal = mustHex(p2.ID)
	body.Approve = true
	moved := *ballot
	moved.Body, _ = encMode.Marshal(body)
	if err := c.submit(n, &moved); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("ballot moved to another proposal = %v, want ErrBadSignature", err)
	}
	// A ballot signed for another consortium.
	var other [32]byte
	other[0] = 1
	foreign, _ := c.members[1].Ballot(other, p2.ID, true)
	if err := c.submit(n, foreign); !errors.Is(err, ErrWrongConsortium) {
		t.Fatalf("ballot for another consortium = %v, want ErrWrongConsortium", err)
	}
	// A proposal replayed.
	req, _ := c.members[0].Propose(c.gid(), Action{Kind: ActAllowEnv, Env: "three"})
	c.govern(n, req, nil)
	if err := c.submit(n, req); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("replayed proposal = %v, want ErrDuplicate", err)
	}
	if got, _ := n.Proposal(ctxT(t), p2.ID); len(got.Ballots) != 0 {
		t.Fatalf("p2 ballots = %v, want none", got.Ballots)
	}
}

// Forged certificates: a look-alike of a member's certificate, a member's
// certificate with the attacker's signature, and a new member's certificate
// from a CA the constitution does not list.
func TestAttackForgedCertificate(t *testing.T) {
	c := newCluster(t, 3, 2)
	n := c.leader()
	victim, _ := x509.ParseCertificate(c.members[0].Cert)

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	look := *victim
	look.SerialNumber = big.NewInt(99)
	fakeParent := *c.ca.cert
	fakeParent.PublicKey = key.Public() // the CA's name, the forger's key
	der, err := x509.CreateCertificate(rand.Reader, &look, &fakeParent, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	forger := &Member{Cert: der, Key: key}
	req, _ := forger.Propose(c.gid(), Action{Kind: ActAddMember, Cert: der})
	if err := c.submit(n, req); !errors.Is(err, ErrNotMember) {
		t.Fatalf("look-alike certificate = %v, want ErrNotMember", err)
	}
	// The member's real certificate, the forger's signature.
	stolen := &Member{Cert: c.members[0].Cert, Key: key}
	req, _ = stolen.Propose(c.gid(), Action{Kind: ActAllowEnv, Env: "x"})
	if err := c.submit(n, req); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("member certificate, foreign signature = %v, want ErrBadSignature", err)
	}
	// Members vote in a certificate from an unlisted CA: the proposal fails.
	rogueCA := newCA(t, "org") // same name, different key
	fake := issue(t, rogueCA, "fake", false)
	p := c.propose(n, c.members[0], Action{Kind: ActAddMember, Cert: fake.Cert})
	c.vote(n, c.members[0], p.ID, true)
	if p = c.vote(n, c.members[1], p.ID, true); p.State != StateFailed {
		t.Fatalf("member from an unlisted CA = %s, want failed", p.State)
	}
	req, _ = fake.Propose(c.gid(), Action{Kind: ActAllowEnv, Env: "y"})
	if err := c.submit(n, req); !errors.Is(err, ErrNotMember) {
		t.Fatalf("rogue-CA member proposal = %v, want ErrNotMember", err)
	}
}

// A validating node not in the table: its raft messages are refused, a node
// cannot speak for another over its link, and a leader that proposes a
// configuration change the members did not vote has it refused at apply.
func TestAttackUnlistedNode(t *testing.T) {
	c := newCluster(t, 3, 1)
	lead := c.leader()
	c.put(lead, "k", "v")
	var follower *Node
	for id, n := range c.nodes {
		if id != lead.ID() {
			follower = n
			break
		}
	}
	term := follower.rn.Status().GetTerm()
	msgs := []*pb.Message{
		{Type: pb.MsgVote.Enum(), From: proto.Uint64(9), To: proto.Uint64(follower.ID()), Term: proto.Uint64(term + 5), LogTerm: proto.Uint64(term + 5), Index: proto.Uint64(1 << 20)},
		{Type: pb.MsgApp.Enum(), From: proto.Uint64(9), To: proto.Uint64(follower.ID()), Term: proto.Uint64(term + 5), Commit: proto.Uint64(1 << 20)},
	}
	for _, m := range msgs {
		b, _ := proto.Marshal(m)
		if err := follower.Receive(9, b); !errors.Is(err, ErrUnknownNode) {
			t.Fatalf("Receive(%s from unlisted node 9) = %v, want ErrUnknownNode", m.GetType(), err)
		}
	}
	// A listed node's link claiming to carry the leader's message.
	m := &pb.Message{Type: pb.MsgApp.Enum(), From: proto.Uint64(lead.ID()), To: proto.Uint64(follower.ID()), Term: proto.Uint64(term + 5)}
	b, _ := proto.Marshal(m)
	other := 6 - lead.ID() - follower.ID()
	if err := follower.Receive(other, b); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("Receive(message from %d over %d's link) = %v, want ErrBadRequest", lead.ID(), other, err)
	}
	// Local-only message types from the network.
	hup, _ := proto.Marshal(&pb.Message{Type: pb.MsgHup.Enum(), From: proto.Uint64(other), To: proto.Uint64(follower.ID())})
	if err := follower.Receive(other, hup); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("Receive(MsgHup) = %v, want ErrBadRequest", err)
	}
	// A listed node's heartbeat that commits far past the follower's log
	// (raft itself would panic on it).
	hb, _ := proto.Marshal(&pb.Message{Type: pb.MsgHeartbeat.Enum(), From: proto.Uint64(other), To: proto.Uint64(follower.ID()), Term: proto.Uint64(term + 1), Commit: proto.Uint64(1 << 40)})
	if err := follower.Receive(other, hb); err != nil {
		t.Fatalf("Receive(heartbeat) = %v", err)
	}
	// A leader adding node 9 to raft by itself.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	before := lead.Applied()
	if err := lead.rn.ProposeConfChange(ctx, &pb.ConfChange{Type: pb.ConfChangeAddNode.Enum(), NodeId: proto.Uint64(9)}); err != nil {
		t.Fatal(err)
	}
	c.put(lead, "k2", "v2")
	waitFor(t, "the conf change to apply", func() bool { return lead.Applied() > before+1 })
	for id, n := range c.nodes {
		if hasVoter(n, 9) {
			t.Fatalf("node %d has unlisted node 9 among its voters %v", id, n.Voters())
		}
	}
	if v, _, err := follower.Get(ctxT(t), "accounts", []byte("k2")); err != nil || string(v) != "v2" {
		t.Fatalf("cluster after the attacks: Get = %q, %v", v, err)
	}
}

// A minority cut off from the others commits nothing; the majority goes on.
func TestAttackMinorityPartition(t *testing.T) {
	c := newCluster(t, 5, 1)
	old := c.leader()
	minority := []uint64{old.ID(), old.ID()%5 + 1}
	var majority []uint64
	for id := uint64(1); id <= 5; id++ {
		if id != minority[0] && id != minority[1] {
			majority = append(majority, id)
		}
	}
	c.net.Partition(minority, majority)
	for _, id := range minority {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		txn := put("accounts", "minority", "x")
		txn.Caller = c.members[0].ID()
		_, err := c.nodes[id].Transact(ctx, txn)
		cancel()
		if err == nil {
			t.Fatalf("Transact on minority node %d committed without quorum", id)
		}
		ctx, cancel = context.WithTimeout(context.Background(), time.Second)
		_, _, err = c.nodes[id].Get(ctx, "accounts", []byte("minority"))
		cancel()
		if err == nil {
			t.Fatalf("linearizable Get on minority node %d answered without quorum", id)
		}
	}
	maj := c.nodes[majority[0]]
	c.put(maj, "majority", "y")
	c.net.Heal()
	for id, n := range c.nodes {
		if v, _, err := n.Get(ctxT(t), "accounts", []byte("majority")); err != nil || string(v) != "y" {
			t.Fatalf("node %d after heal: Get(majority) = %q, %v", id, v, err)
		}
		if _, _, err := n.Get(ctxT(t), "accounts", []byte("minority")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("node %d after heal: the minority's put is there (%v)", id, err)
		}
	}
}

// The leader dies between the proposal and its last ballot; the proposal
// lives on in the replicated state and resolves under the next leader.
func TestAttackLeaderChangeMidProposal(t *testing.T) {
	c := newCluster(t, 3, 3)
	lead := c.leader()
	p := c.propose(lead, c.members[0], Action{Kind: ActAllowEnv, Env: "mid"})
	c.vote(lead, c.members[0], p.ID, true)
	dead := lead.ID()
	c.crash(dead)
	next := c.leader()
	if next.ID() == dead {
		t.Fatal("crashed node still leads")
	}
	if p = c.vote(next, c.members[1], p.ID, true); p.State != StateAccepted {
		t.Fatalf("after leader change = %s, want accepted", p.State)
	}
	back := c.start(dead, false)
	if got, err := back.Proposal(ctxT(t), p.ID); err != nil || got.State != StateAccepted {
		t.Fatalf("restarted old leader: proposal = %v, %v; want accepted", got, err)
	}
	if _, _, err := back.Get(ctxT(t), TableEnvs, []byte("mid")); err != nil {
		t.Fatalf("restarted old leader: env not applied: %v", err)
	}
}
