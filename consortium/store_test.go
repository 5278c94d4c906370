package consortium

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
	pb "go.etcd.io/raft/v3/raftpb"
	"path/filepath"

	"crypto/ed25519"
	"errors"
	"fmt"
	"github.com/coconet/coconet/consortium/wal"
	"google.golang.org/protobuf/proto"
	"testing"
)

func TestTransactReplicatesInOrder(t *testing.T) {
	c := newCluster(t, 3, 1)
	lead := c.leader()
	var follower *Node
	for id, n := range c.nodes {
		if id != lead.ID() {
			follower = n
		}
	}
	r1 := c.put(follower, "alice", "100")
	r2 := c.put(lead, "bob", "50")
	if r2.Seqno <= r1.Seqno {
		t.Fatalf("seqnos %d then %d, want increasing", r1.Seqno, r2.Seqno)
	}
	for id, n := range c.nodes {
		v, ver, err := n.Get(ctxT(t), "accounts", []byte("alice"))
		if err != nil || string(v) != "100" || ver != r1.Seqno {
			t.Fatalf("node %d Get(alice) = %q, %d, %v; want 100 at %d", id, v, ver, err, r1.Seqno)
		}
	}
	kvs, err := follower.Range(ctxT(t), "accounts", nil, nil, 0)
	if err != nil || len(kvs) != 2 || string(kvs[0].Key) != "alice" || string(kvs[1].Key) != "bob" {
		t.Fatalf("Range = %v, %v; want alice, bob", kvs, err)
	}
}

func TestReadSetConflict(t *testing.T) {
	c := newCluster(t, 3, 1)
	n := c.leader()
	c.put(n, "k", "1")
	_, ver, err := n.Get(ctxT(t), "accounts", []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	c.put(n, "k", "2") // someone else writes k after our read
	txn := Txn{Caller: c.members[0].ID(), Reads: []Read{{Table: "accounts", Key: []byte("k"), Version: ver}},
		Writes: []Write{{Table: "accounts", Key: []byte("k"), Value: []byte("1+1")}}}
	if _, err := n.Transact(ctxT(t), txn); !errors.Is(err, ErrConflict) {
		t.Fatalf("Transact(stale read set) = %v, want ErrConflict", err)
	}
	_, ver, _ = n.Get(ctxT(t), "accounts", []byte("k"))
	txn.Reads[0].Version = ver
	if _, err := n.Transact(ctxT(t), txn); err != nil {
		t.Fatalf("Transact(fresh read set) = %v", err)
	}
	// A delete, and a read set that requires absence (version 0).
	del := Txn{Caller: c.members[0].ID(), Reads: []Read{{Table: "accounts", Key: []byte("new"), Version: 0}},
		Writes: []Write{{Table: "accounts", Key: []byte("k"), Delete: true}, {Table: "accounts", Key: []byte("new"), Value: []byte("x")}}}
	if _, err := n.Transact(ctxT(t), del); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.Get(ctxT(t), "accounts", []byte("k")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(deleted) = %v, want ErrNotFound", err)
	}
	if _, err := n.Transact(ctxT(t), del); !errors.Is(err, ErrConflict) {
		t.Fatalf("Transact(absent read on present key) = %v, want ErrConflict", err)
	}
}

func TestReceiptVerifies(t *testing.T) {
	c := newCluster(t, 3, 1)
	n := c.leader()
	var seqs []uint64
	for i := 0; i < 13; i++ {
		seqs = append(seqs, c.put(n, fmt.Sprint("k", i), "v").Seqno)
	}
	for _, id := range []uint64{1, 2, 3} {
		node := c.nodes[id]
		for _, s := range append(seqs, 0) {
			r, err := node.Receipt(ctxT(t), s)
			if err != nil {
				t.Fatalf("node %d Receipt(%d) = %v", id, s, err)
			}
			if err := VerifyReceipt(r, c.keys[id].Public().(ed25519PublicKey)); err != nil {
				t.Fatalf("VerifyReceipt(node %d, seq %d) = %v", id, s, err)
			}
			// One byte changed anywhere fails.
			bad := *r
			bad.Record = append([]byte(nil), r.Record...)
			bad.Record[len(bad.Record)/2] ^= 1
			if err := VerifyReceipt(&bad, c.keys[id].Public().(ed25519PublicKey)); !errors.Is(err, ErrBadReceipt) {
				t.Fatalf("VerifyReceipt(record byte flipped) = %v, want ErrBadReceipt", err)
			}
			bad = *r
			bad.Root = append([]byte(nil), r.Root...)
			bad.Root[0] ^= 1
			if err := VerifyReceipt(&bad, c.keys[id].Public().(ed25519PublicKey)); !errors.Is(err, ErrBadReceipt) {
				t.Fatalf("VerifyReceipt(root byte flipped) = %v, want ErrBadReceipt", err)
			}
			if len(r.Proof) > 0 {
				bad = *r
				bad.Proof = append([][]byte(nil), r.Proof...)
				bad.Proof[0] = append([]byte(nil), r.Proof[0]...)
				bad.Proof[0][3] ^= 1
				if err := VerifyReceipt(&bad, c.keys[id].Public().(ed25519PublicKey)); !errors.Is(err, ErrBadReceipt) {
					t.Fatalf("VerifyReceipt(proof byte flipped) = %v, want ErrBadReceipt", err)
				}
			}
			// Another node's key does not verify this node's root.
			other := c.keys[id%3+1].Public().(ed25519PublicKey)
			if err := VerifyReceipt(r, other); !errors.Is(err, ErrBadReceipt) {
				t.Fatalf("VerifyReceipt(other node's key) = %v, want ErrBadReceipt", err)
			}
		}
	}
}

func TestRestartKeepsCommitted(t *testing.T) {
	c := newCluster(t, 3, 1)
	c.snapN = 25 // snapshots and log compaction on the way
	for id := range c.nodes {
		c.crash(id)
	}
	for id := uint64(1); id <= 3; id++ {
		c.start(id, false)
	}
	n := c.leader()
	for i := 0; i < 60; i++ {
		c.put(n, fmt.Sprint("k", i), fmt.Sprint(i))
	}
	// Node 3 misses 80 entries (more than a snapshot's worth: it catches up
	// from a snapshot), then everyone restarts from disk.
	behind := c.nodes[3].Applied()
	c.crash(3)
	n = c.leader()
	for i := 60; i < 140; i++ {
		c.put(n, fmt.Sprint("k", i), fmt.Sprint(i))
	}
	if first, _ := n.storage.FirstIndex(); first <= behind+1 {
		t.Fatalf("leader's log starts at %d, node 3 is at %d: no snapshot needed, the test misses its point", first, behind)
	}
	c.start(3, false)
	waitFor(t, "node 3 to catch up", func() bool { return c.nodes[3].Applied() >= n.Applied() })
	for id := range c.nodes {
		c.crash(id)
	}
	for id := uint64(1); id <= 3; id++ {
		c.start(id, false)
	}
	for id, node := range c.nodes {
		kvs, err := node.Range(ctxT(t), "accounts", nil, nil, 0)
		if err != nil || len(kvs) != 140 {
			t.Fatalf("node %d after restart: %d keys, %v; want 140", id, len(kvs), err)
		}
		r, err := node.Receipt(ctxT(t), 100)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyReceipt(r, c.keys[id].Public().(ed25519PublicKey)); err != nil {
			t.Fatalf("node %d receipt after restart: %v", id, err)
		}
	}
}

type ed25519PublicKey = ed25519.PublicKey

// A proposal that raft delivers twice (submit proposes again after a leader
// change) is applied once.
func TestReproposalAppliedOnce(t *testing.T) {
	c := newCluster(t, 3, 1)
	n := c.leader()
	first := c.put(n, "a", "1")
	txn := put("accounts", "b", "2")
	txn.Caller = c.members[0].ID()
	data, _ := encMode.Marshal(&entry{V: 1, Req: newReq(), Time: 1, Txn: &txn})
	for i := 0; i < 2; i++ {
		if err := n.rn.Propose(ctxT(t), data); err != nil {
			t.Fatal(err)
		}
	}
	last := c.put(n, "c", "3")
	if last.Seqno != first.Seqno+2 {
		t.Fatalf("seqno after a doubly delivered entry = %d, want %d (applied once)", last.Seqno, first.Seqno+2)
	}
}

// After a power loss the WAL may hold an older commit index than the synced
// state applied (a commit-only hard state is not fsynced); the node must
// start anyway.
func TestRestartWithStaleCommitIndex(t *testing.T) {
	c := newCluster(t, 3, 1)
	n := c.leader()
	for i := 0; i < 5; i++ {
		c.put(n, fmt.Sprint("k", i), "v")
	}
	id := n.ID()%3 + 1
	waitFor(t, "the follower to apply", func() bool { return c.nodes[id].Applied() >= n.Applied() })
	c.crash(id)
	w, st, err := wal.Open(filepath.Join(c.dirs[id], "wal"))
	if err != nil {
		t.Fatal(err)
	}
	hs := st.HardState
	hs.Commit = proto.Uint64(1)
	if err := w.Save(hs, nil, true); err != nil {
		t.Fatal(err)
	}
	w.Close()
	back := c.start(id, false)
	if v, _, err := back.Get(ctxT(t), "accounts", []byte("k4")); err != nil || string(v) != "v" {
		t.Fatalf("Get after restart with a stale commit index = %q, %v", v, err)
	}
}

// A configuration change applied while raft stops (Close racing an apply)
// gets an empty configuration back from raft; it must not reach the state,
// or the node restarts with no voters.
func TestConfChangeWhileStopping(t *testing.T) {
	c := newCluster(t, 3, 1)
	n := c.leader()
	_, before := n.st.applied()
	n.rn.Stop()
	cc, _ := proto.Marshal(&pb.ConfChange{Type: pb.ConfChangeAddNode.Enum(), NodeId: proto.Uint64(2)})
	e := &pb.Entry{Type: pb.EntryConfChange.Enum(), Index: proto.Uint64(1 << 30), Data: cc}
	err := n.st.db.Update(func(tx *bolt.Tx) error {
		_, err := n.applyConf(tx, e)
		return err
	})
	if err == nil {
		t.Fatal("applyConf on a stopped raft succeeded")
	}
	if _, after := n.st.applied(); !bytes.Equal(before, after) {
		t.Fatalf("conf state changed to %x by a stopped raft", after)
	}
}
