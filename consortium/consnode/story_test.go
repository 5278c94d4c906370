package consnode_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/peer"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/coconet/coconet/consortium"
	"github.com/coconet/coconet/consortium/consnode"
	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/internal/frame"
	"github.com/coconet/coconet/internal/nettest"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

// network starts the owner's engine and one invited member per further
// name, all in coconet network "home" on loopback, each connected to the
// owner.
func network(t *testing.T, names ...string) []*engine.Engine {
	t.Helper()
	dir := t.TempDir()
	homes := make([]string, len(names))
	for i, name := range names {
		homes[i] = filepath.Join(dir, name)
		if _, err := homedir.Init(homes[i], name); err != nil {
			t.Fatalf("Init(%s): %v", name, err)
		}
	}
	if _, err := homedir.CreateNetwork(homes[0], "home", "user", ""); err != nil {
		t.Fatal(err)
	}
	es := []*engine.Engine{nettest.Start(t, homes[0])}
	for _, h := range homes[1:] {
		code, _, err := es[0].Invite(engine.InviteOptions{Role: ledger.RoleGuest, Uses: 1, TTL: time.Hour})
		if err != nil {
			t.Fatalf("Invite: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, peers, err := homedir.Join(ctx, h, code, homedir.JoinOptions{})
		cancel()
		if err != nil {
			t.Fatalf("Join: %v", err)
		}
		e := nettest.Start(t, h)
		e.Node().AddPeerAddrs(peers)
		es = append(es, e)
	}
	// Everyone knows everyone once the ledgers synced and they connected.
	waitFor(t, "every node connected to every other", func() bool {
		for _, a := range es {
			for _, b := range es {
				if a != b && (!a.Node().IsMember(b.PeerID()) || !a.Connected(b.PeerID())) {
					if a.Node().IsMember(b.PeerID()) {
						a.Node().AddPeerAddrs(peersOf(b))
					}
					return false
				}
			}
		}
		return true
	})
	return es
}

func peersOf(e *engine.Engine) []peer.AddrInfo {
	return []peer.AddrInfo{{ID: e.PeerID(), Addrs: e.Node().Host().Addrs()}}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func member(t *testing.T, e *engine.Engine) *consortium.Member {
	t.Helper()
	m, err := consnode.Member(e.Identity(), e.NetworkID())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// consortiumOf is the genesis of a consortium whose members and validating
// nodes are the given engines' users and nodes, with participants.
func consortiumOf(t *testing.T, es []*engine.Engine, participants ...*consortium.Member) *consortium.Genesis {
	t.Helper()
	g := &consortium.Genesis{Name: "bank", Envs: []string{consortium.EnvSoftware}, Nonce: []byte("story")}
	h, err := consnode.CodeHash()
	if err != nil {
		t.Fatal(err)
	}
	g.Code = [][]byte{h}
	for _, e := range es {
		g.Members = append(g.Members, member(t, e).Cert)
		ni, err := consnode.Info(e)
		if err != nil {
			t.Fatal(err)
		}
		g.Nodes = append(g.Nodes, ni)
	}
	for _, p := range participants {
		g.Participants = append(g.Participants, p.Cert)
	}
	return g
}

func attach(t *testing.T, e *engine.Engine, g *consortium.Genesis) *consnode.Service {
	t.Helper()
	s, err := consnode.Attach(e, consnode.Config{Genesis: g, Dir: filepath.Join(t.TempDir(), "consortium"),
		TickInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("Attach: %v", err)
	}
	return s
}

func leaderOf(t *testing.T, ss []*consnode.Service) *consnode.Service {
	t.Helper()
	var lead *consnode.Service
	waitFor(t, "a leader all agree on", func() bool {
		l := ss[0].Node().Leader()
		if l == 0 {
			return false
		}
		for _, s := range ss {
			if s.Node().Leader() != l {
				return false
			}
			if s.Node().ID() == l {
				lead = s
			}
		}
		return lead != nil
	})
	return lead
}

func putTxn(caller *consortium.Member, key, val string) consortium.Txn {
	return consortium.Txn{Caller: caller.ID(), Writes: []consortium.Write{{Table: "accounts", Key: []byte(key), Value: []byte(val)}}}
}

// Three members of one coconet network run the validating nodes of a
// consortium over their nodes' encrypted streams: a put commits and its
// receipt verifies, a proposal to add a member passes by majority, a
// participant's ballot is refused, and with one node killed the other two
// keep committing.
func TestStoryThreeValidatingNodes(t *testing.T) {
	es := network(t, "alice", "bob", "carol")
	alice, bob, carol := member(t, es[0]), member(t, es[1]), member(t, es[2])
	pid, err := identity.NewSeed()
	if err != nil {
		t.Fatal(err)
	}
	partic, err := consnode.Member(&identity.Identity{Seed: pid, Name: "dora"}, es[0].NetworkID())
	if err != nil {
		t.Fatal(err)
	}
	g := consortiumOf(t, es, partic)
	var ss []*consnode.Service
	for _, e := range es {
		ss = append(ss, attach(t, e, g))
	}
	if s, ok := engine.Lookup[*consnode.Service](es[1]); !ok || s != ss[1] {
		t.Fatal("the service is not in the engine's slot")
	}
	leaderOf(t, ss)

	// A put through bob's node commits; its receipt, signed by carol's
	// node, verifies offline against carol's key in the node table.
	ctx := ctxT(t)
	res, err := ss[1].Node().Transact(ctx, putTxn(bob, "acct-1", "100"))
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	v, _, err := ss[2].Node().Get(ctx, "accounts", []byte("acct-1"))
	if err != nil || string(v) != "100" {
		t.Fatalf("get on carol's node = %q, %v; want 100", v, err)
	}
	rc, err := ss[2].Node().Receipt(ctx, res.Seqno)
	if err != nil {
		t.Fatalf("receipt: %v", err)
	}
	info, _ := consnode.Info(es[2])
	if err := consortium.VerifyReceipt(rc, info.PubKey); err != nil {
		t.Fatalf("receipt does not verify: %v", err)
	}
	rc.Record[len(rc.Record)-1] ^= 1
	if err := consortium.VerifyReceipt(rc, info.PubKey); !errors.Is(err, consortium.ErrBadReceipt) {
		t.Fatalf("a changed receipt verified: %v", err)
	}

	// Alice proposes a new member; bob's yes makes a majority of three.
	erin, _ := identity.NewSeed()
	newcomer, err := consnode.Member(&identity.Identity{Seed: erin, Name: "erin"}, es[0].NetworkID())
	if err != nil {
		t.Fatal(err)
	}
	prop, err := alice.Propose(g.ID(), consortium.Action{Kind: consortium.ActAddMember, Cert: newcomer.Cert})
	if err != nil {
		t.Fatal(err)
	}
	r, err := ss[0].Node().Govern(ctx, prop)
	if err != nil || r.Proposal == nil || r.Proposal.State != consortium.StateOpen {
		t.Fatalf("propose = %+v, %v; want an open proposal", r.Proposal, err)
	}
	id := r.Proposal.ID
	for _, m := range []*consortium.Member{alice, bob} {
		b, err := m.Ballot(g.ID(), id, true)
		if err != nil {
			t.Fatal(err)
		}
		if r, err = ss[1].Node().Govern(ctx, b); err != nil {
			t.Fatalf("ballot: %v", err)
		}
	}
	if r.Proposal.State != consortium.StateAccepted {
		t.Fatalf("after two of three yes the proposal is %s; want accepted", r.Proposal.State)
	}
	waitFor(t, "carol's node applies the new member", func() bool {
		for _, m := range ss[2].Node().Members() {
			if m == newcomer.ID() {
				return true
			}
		}
		return false
	})

	// A participant's ballot is refused.
	prop2, _ := carol.Propose(g.ID(), consortium.Action{Kind: consortium.ActAllowEnv, Env: "sev-snp"})
	r, err = ss[2].Node().Govern(ctx, prop2)
	if err != nil {
		t.Fatalf("propose: %v", err)
	}
	pb_, _ := partic.Ballot(g.ID(), r.Proposal.ID, true)
	if _, err := ss[0].Node().Govern(ctx, pb_); !errors.Is(err, consortium.ErrNotMember) {
		t.Fatalf("participant's ballot: %v; want ErrNotMember", err)
	}

	// Carol's node dies (its engine closes, and the service with it): alice
	// and bob keep committing.
	es[2].Close()
	for i := 0; i < 5; i++ {
		if _, err := ss[i%2].Node().Transact(ctx, putTxn(alice, fmt.Sprintf("after-%d", i), "1")); err != nil {
			t.Fatalf("put %d with carol down: %v", i, err)
		}
	}
	v, _, err = ss[0].Node().Get(ctx, "accounts", []byte("after-4"))
	if err != nil || string(v) != "1" {
		t.Fatalf("get after-4 = %q, %v", v, err)
	}
}

// entry is the consortium's raft entry as it is encoded (field names).
type entry struct {
	V    uint8
	Req  []byte
	Time int64
	Txn  *consortium.Txn `cbor:",omitempty"`
}

// Attack: dave, a member of the coconet network but not a validating node,
// opens the raft stream to the leader and sends a proposal claiming to come
// from bob's validating node, with a transaction in alice's name. The
// transport names the sender from the stream's authenticated peer, which
// the node table does not list: the stream is refused and nothing commits.
func TestAttackForgedRaftSender(t *testing.T) {
	es := network(t, "alice", "bob", "carol", "dave")
	nodes := es[:3]
	g := consortiumOf(t, nodes)
	var ss []*consnode.Service
	for _, e := range nodes {
		ss = append(ss, attach(t, e, g))
	}
	lead := leaderOf(t, ss)
	var from uint64
	for _, s := range ss {
		if s != lead {
			from = s.Node().ID()
		}
	}
	alice := member(t, es[0])
	data, err := cbor.Marshal(entry{V: 1, Req: []byte("forged"), Time: time.Now().UnixNano(), Txn: &consortium.Txn{
		Caller: alice.ID(), Writes: []consortium.Write{{Table: "accounts", Key: []byte("stolen"), Value: []byte("1000000")}}}})
	if err != nil {
		t.Fatal(err)
	}
	m := &pb.Message{Type: pb.MessageType_MsgProp.Enum(), From: proto.Uint64(from), To: proto.Uint64(lead.Node().ID()),
		Entries: []*pb.Entry{{Data: data}}}
	msg, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var leadEngine *engine.Engine
	for i, s := range ss {
		if s == lead {
			leadEngine = nodes[i]
		}
	}
	ctx := ctxT(t)
	c, err := es[3].Streams().Dial(ctx, leadEngine.PeerID(), consnode.ServiceName)
	if err != nil {
		t.Fatalf("dave dials the raft service: %v", err)
	}
	defer c.Close()
	frame.Write(c, msg)
	stolen := func() bool {
		_, _, err := lead.Node().Get(ctx, "accounts", []byte("stolen"))
		return err == nil
	}
	waitFor(t, "the forged proposal is refused or commits", func() bool { return lead.Refused() > 0 || stolen() })
	// A later put commits after anything the forged one could have done.
	if _, err := lead.Node().Transact(ctx, putTxn(alice, "later", "1")); err != nil {
		t.Fatal(err)
	}
	if stolen() {
		t.Fatal("a forged raft proposal from a non-validating node committed")
	}
}

// A fourth member's node joins the consortium after the members vote to
// add it, and catches up with what was committed before.
func TestJoinByProposal(t *testing.T) {
	es := network(t, "alice", "bob", "carol", "dave")
	g := consortiumOf(t, es[:3])
	var ss []*consnode.Service
	for _, e := range es[:3] {
		ss = append(ss, attach(t, e, g))
	}
	leaderOf(t, ss)
	ctx := ctxT(t)
	alice, bob := member(t, es[0]), member(t, es[1])
	if _, err := ss[0].Node().Transact(ctx, putTxn(alice, "before", "1")); err != nil {
		t.Fatal(err)
	}
	info, err := consnode.Info(es[3])
	if err != nil {
		t.Fatal(err)
	}
	prop, _ := alice.Propose(g.ID(), consortium.Action{Kind: consortium.ActAddNode, Node: &info})
	r, err := ss[0].Node().Govern(ctx, prop)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*consortium.Member{alice, bob} {
		b, _ := m.Ballot(g.ID(), r.Proposal.ID, true)
		if r, err = ss[1].Node().Govern(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if r.Proposal.State != consortium.StateAccepted {
		t.Fatalf("add_node is %s", r.Proposal.State)
	}
	d, err := consnode.Attach(es[3], consnode.Config{Genesis: g, Dir: filepath.Join(t.TempDir(), "consortium"), Join: true,
		TickInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "dave's node applies the earlier put", func() bool {
		c, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		v, _, err := d.Node().Get(c, "accounts", []byte("before"))
		return err == nil && string(v) == "1"
	})
	if _, err := d.Node().Transact(ctx, putTxn(alice, "via-dave", "1")); err != nil {
		t.Fatalf("put through the joined node: %v", err)
	}
}

// A joining node takes the log from a leader newer than its table: it
// names a peer it does not list by the raft ID derived from the peer's
// authenticated ID, and answers it on a stream to that peer.
func TestJoiningNodeAnswersUnlistedLeader(t *testing.T) {
	es := network(t, "alice", "bob", "erin")
	g := consortiumOf(t, es[:1])
	ln, err := es[2].Listen(consnode.ServiceName, node.Access{Roles: []ledger.Role{ledger.RoleGuest}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d, err := consnode.Attach(es[1], consnode.Config{Genesis: g, Dir: filepath.Join(t.TempDir(), "consortium"), Join: true,
		TickInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	erin := consnode.RaftID(es[2].PeerID())
	hb := &pb.Message{Type: pb.MessageType_MsgHeartbeat.Enum(), From: proto.Uint64(erin), To: proto.Uint64(d.Node().ID()), Term: proto.Uint64(1)}
	msg, _ := proto.Marshal(hb)
	c, err := es[2].Streams().Dial(ctx, es[1].PeerID(), consnode.ServiceName)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := frame.Write(c, msg); err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		if in, err := ln.Accept(); err == nil {
			accepted <- in
		}
	}()
	var in net.Conn
	select {
	case in = <-accepted:
	case <-ctx.Done():
		t.Fatal("the joining node never answered the unlisted leader")
	}
	defer in.Close()
	b, err := frame.Read(bufio.NewReader(in), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var m pb.Message
	if err := proto.Unmarshal(b, &m); err != nil || m.GetType() != pb.MessageType_MsgHeartbeatResp || m.GetTo() != erin {
		t.Fatalf("answer = %v, %v; want a heartbeat response to erin's raft ID", &m, err)
	}
}
