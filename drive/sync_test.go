package drive

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pipeNet connects replicas by net.Pipe: Open starts the callee's Serve
// with the caller's ID, as the engine's stream handler will.
type pipeNet struct {
	t        *testing.T
	wg       sync.WaitGroup
	mu       sync.Mutex
	replicas map[PeerID]*Replica
	served   map[PeerID][]error // Serve results, by callee
}

func newPipeNet(t *testing.T) *pipeNet {
	n := &pipeNet{t: t, replicas: map[PeerID]*Replica{}, served: map[PeerID][]error{}}
	t.Cleanup(n.wg.Wait)
	return n
}

type pipeDialer struct {
	n    *pipeNet
	from PeerID
}

func (d pipeDialer) Open(ctx context.Context, to PeerID) (io.ReadWriteCloser, error) {
	d.n.mu.Lock()
	r := d.n.replicas[to]
	d.n.mu.Unlock()
	if r == nil {
		return nil, errors.New("no route")
	}
	a, b := net.Pipe()
	d.n.wg.Add(1)
	go func() {
		defer d.n.wg.Done()
		err := r.Serve(context.Background(), d.from, b)
		d.n.mu.Lock()
		d.n.served[to] = append(d.n.served[to], err)
		d.n.mu.Unlock()
	}()
	return a, nil
}

func (n *pipeNet) add(id PeerID, st *Store, opts ReplicaOptions) (*Replica, Dialer) {
	opts.Logf = n.t.Logf
	r := NewReplica(st, opts)
	n.mu.Lock()
	n.replicas[id] = r
	n.mu.Unlock()
	return r, pipeDialer{n, id}
}

func syncOK(t *testing.T, r *Replica, d Dialer, peer PeerID) SyncStats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := r.Sync(ctx, d, peer)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func contents(t *testing.T, d *Drive) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range d.List() {
		b, err := d.ReadFile(f.Path)
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		out[f.Path] = string(b)
	}
	return out
}

// TestSyncThreeReplicas: two writers who are never online together share
// everything through a blind replicator; a writer edits offline and
// reconnects; concurrent edits end as one conflict copy everywhere.
func TestSyncThreeReplicas(t *testing.T) {
	n := newPipeNet(t)
	a, b := member(t, 1, false), member(t, 2, false)
	repStore, err := OpenStore(t.TempDir(), testAddr, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer repStore.Close()
	ra, da := n.add("alice", a.Store(), ReplicaOptions{})
	rb, db := n.add("bob", b.Store(), ReplicaOptions{})
	n.add("replicator", repStore, ReplicaOptions{})
	_ = da
	_ = db

	t0 := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	a.opts.Now = func() time.Time { return t0 }
	b.opts.Now = func() time.Time { return t0.Add(time.Hour) }
	a.WriteFile("plan.txt", []byte("v1 by alice"))
	a.WriteFile("photos/cat.jpg", bytes.Repeat([]byte("meow"), 300000))
	syncOK(t, ra, da, "replicator") // alice goes offline
	st := syncOK(t, rb, db, "replicator")
	if st.BlocksReceived != 2 || st.ChunksReceived == 0 {
		t.Fatalf("bob's first sync: %+v", st)
	}
	if got, _ := b.ReadFile("plan.txt"); string(got) != "v1 by alice" {
		t.Fatalf("bob reads %q", got)
	}
	// Both edit plan.txt while apart; bob also renames the photo.
	a.WriteFile("plan.txt", []byte("v2 by alice"))
	b.WriteFile("plan.txt", []byte("v2 by bob"))
	if err := b.Rename("photos/cat.jpg", "cat.jpg"); err != nil {
		t.Fatal(err)
	}
	syncOK(t, rb, db, "replicator")
	syncOK(t, ra, da, "replicator")
	syncOK(t, rb, db, "replicator")
	ca, cb := contents(t, a), contents(t, b)
	want := map[string]string{
		"plan.txt": "v2 by bob",
		"plan.sync-conflict-20261203-090000-" + a.Writer().Short() + ".txt": "v2 by alice",
		"cat.jpg": strings.Repeat("meow", 300000),
	}
	for p, c := range want {
		if ca[p] != c || cb[p] != c {
			t.Errorf("%s: alice %.20q, bob %.20q, want %.20q", p, ca[p], cb[p], c)
		}
	}
	if len(ca) != len(want) || len(cb) != len(want) {
		t.Fatalf("trees: alice %d files, bob %d, want %d", len(ca), len(cb), len(want))
	}
	// The replicator holds both logs whole and every chunk.
	if hs := repStore.Heads(); len(hs) != 2 || len(repStore.MissingChunks()) != 0 {
		t.Fatalf("replicator: %d heads, %d missing chunks", len(hs), len(repStore.MissingChunks()))
	}
	// Health: the replicator knows what each peer held when last seen.
	rep := n.replicas["replicator"]
	if ps := rep.Peers(); len(ps) != 2 || ps[0].Peer != "alice" {
		t.Fatalf("replicator peers: %+v", ps)
	}
	// A second sync moves nothing.
	if st := syncOK(t, ra, da, "replicator"); st.BlocksSent+st.BlocksReceived+st.ChunksSent+st.ChunksReceived != 0 {
		t.Fatalf("idle sync moved %+v", st)
	}
}

// TestMaliciousReplicaTampered: a replica running a modified client alters
// a block of another writer's log; the member refuses the batch with a
// reason and stores none of it, and the honest replicator still works.
func TestMaliciousReplicaTampered(t *testing.T) {
	n := newPipeNet(t)
	a, b := member(t, 1, true), member(t, 2, true)
	a.WriteFile("x", []byte("from alice"))
	a.WriteFile("y", []byte("more"))
	evil, _ := n.add("evil", a.Store(), ReplicaOptions{})
	evil.tamper = func(bt *Batch) {
		bt.Blocks[len(bt.Blocks)-1] = encodeEntry(Entry{Sealed: []byte("rewritten by the replica")})
	}
	rb, db := n.add("bob", b.Store(), ReplicaOptions{})
	_, err := rb.Sync(context.Background(), db, "evil")
	if !errors.Is(err, ErrTampered) {
		t.Fatalf("sync with a tampering replica = %v, want ErrTampered", err)
	}
	t.Logf("refused: %v", err)
	if h := b.Store().Head(a.Writer()); h.Size != 0 {
		t.Fatalf("bob stored %d blocks of a tampered batch", h.Size)
	}
	evil.tamper = nil
	syncOK(t, rb, db, "evil")
	if got, _ := b.ReadFile("x"); string(got) != "from alice" {
		t.Fatalf("after honest sync: %q", got)
	}
}

// TestTamperedChunk: a replica serving a chunk that does not hash to its
// address is refused.
func TestTamperedChunk(t *testing.T) {
	n := newPipeNet(t)
	a, b := member(t, 1, true), member(t, 2, true)
	a.WriteFile("x", []byte("precious"))
	h := dedupe(chunksOf(t, a, "x"))[0]
	if err := a.Store().writeFile(a.Store().chunkPath(h), []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	n.add("a", a.Store(), ReplicaOptions{})
	rb, db := n.add("b", b.Store(), ReplicaOptions{})
	syncOK(t, rb, db, "a") // the damaged chunk is reported missing, not served
	if b.Store().HasChunk(h) {
		t.Fatal("a damaged chunk was stored")
	}
	if _, err := b.ReadFile("x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ReadFile without its chunk = %v", err)
	}
}

func chunksOf(t *testing.T, d *Drive, p string) []Hash {
	fi, err := d.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.chunks
}

// TestForkSpreads: a writer that forks its log is caught by the first
// replica that sees both branches, and the proof travels to the others.
func TestForkSpreads(t *testing.T) {
	n := newPipeNet(t)
	k := testKey(t, 1)
	s1, s2 := openTestStore(t, t.TempDir()), openTestStore(t, t.TempDir())
	s1.Append(k, block(0))
	s2.Append(k, block(1)) // same key, another first block
	rep := openTestStore(t, t.TempDir())
	other := openTestStore(t, t.TempDir())
	r1, d1 := n.add("dev1", s1, ReplicaOptions{})
	r2, d2 := n.add("dev2", s2, ReplicaOptions{})
	n.add("rep", rep, ReplicaOptions{})
	ro, do := n.add("other", other, ReplicaOptions{})
	syncOK(t, r1, d1, "rep")
	syncOK(t, r2, d2, "rep") // rep sees the second branch
	if !rep.Forked(WriterOf(k)) {
		t.Fatal("replicator did not flag the fork")
	}
	syncOK(t, ro, do, "rep")
	if !other.Forked(WriterOf(k)) {
		t.Fatal("the fork proof did not travel")
	}
}

// TestStrangerRefused: a peer the caller let through but the drive does
// not allow gets nothing and costs nothing; a peer that sends an oversized
// frame or garbage is cut off.
func TestStrangerRefused(t *testing.T) {
	a := member(t, 1, true)
	a.WriteFile("x", []byte("secret"))
	r := NewReplica(a.Store(), ReplicaOptions{AllowPeer: func(p PeerID) bool { return p == "friend" }})
	c1, c2 := net.Pipe()
	go func() { c1.Write([]byte("anything")); c1.Close() }()
	if err := r.Serve(context.Background(), "stranger", c2); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("Serve(stranger) = %v, want ErrNotAllowed", err)
	}
	for name, in := range map[string][]byte{
		"huge frame":  binary.AppendUvarint(nil, 1<<40),
		"garbage":     append(binary.AppendUvarint(nil, 3), 0xff, 0xff, 0xff),
		"not hello":   frameOf(&msg{T: tEnd}),
		"wrong drive": frameOf(&msg{T: tHello, Hello: &hello{V: 1, Drive: Address{9}}}),
	} {
		var out bytes.Buffer
		err := r.Serve(context.Background(), "friend", rwc{bytes.NewReader(in), &out})
		if err == nil {
			t.Errorf("%s: Serve = nil", name)
		}
		t.Logf("%s: %v", name, err)
	}
}

// TestSessionBound: the same peer cannot hold more than MaxSessions.
func TestSessionBound(t *testing.T) {
	r := NewReplica(member(t, 1, true).Store(), ReplicaOptions{MaxSessions: 1})
	c1, c2 := net.Pipe()
	done := make(chan error)
	go func() { done <- r.Serve(context.Background(), "p", c2) }()
	// The first session waits for a hello; a second one is refused.
	d1, d2 := net.Pipe()
	defer d1.Close()
	for {
		r.mu.Lock()
		n := r.sessions["p"]
		r.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := r.Serve(context.Background(), "p", d2); !errors.Is(err, ErrQuota) {
		t.Fatalf("second session = %v, want ErrQuota", err)
	}
	c1.Close()
	<-done
}

type rwc struct {
	io.Reader
	io.Writer
}

func (rwc) Close() error { return nil }

func frameOf(m *msg) []byte {
	b, _ := encMode.Marshal(m)
	return append(binary.AppendUvarint(nil, uint64(len(b))), b...)
}

// FuzzServe feeds the responder arbitrary bytes as the initiator's side of
// a session: it must refuse or finish, never panic or store what does not
// verify. Inputs that reach new code are minimized for a minute each by
// default; run it with -fuzzminimizetime 2s to see executions move.
func FuzzServe(f *testing.F) {
	k := testKey(f, 1)
	src := openTestStore(f, f.TempDir())
	for i := range 3 {
		src.Append(k, block(i))
	}
	b, _ := src.BatchFrom(WriterOf(k), 0, 10, 1<<20)
	seed := frameOf(&msg{T: tHello, Hello: &hello{V: 1, Drive: testAddr, Heads: src.Heads()}})
	seed = append(seed, frameOf(&msg{T: tBatch, Batch: &b})...)
	seed = append(seed, frameOf(&msg{T: tEnd})...)
	seed = append(seed, frameOf(&msg{T: tWant, Want: []Hash{{1}}})...)
	seed = append(seed, frameOf(&msg{T: tEnd})...)
	f.Add(seed)
	f.Add(frameOf(&msg{T: tHello, Hello: &hello{V: 1, Drive: testAddr, Fetch: true}}))
	f.Fuzz(func(t *testing.T, in []byte) {
		st, err := OpenStore(t.TempDir(), testAddr, StoreOptions{noSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		r := NewReplica(st, ReplicaOptions{})
		r.Serve(context.Background(), "fuzz", rwc{bytes.NewReader(in), io.Discard})
		for _, h := range st.Heads() {
			if err := h.Verify(testAddr); err != nil {
				t.Fatalf("stored an unverified head: %v", err)
			}
		}
	})
}

// TestHealth: after syncs, a member knows which peers hold which logs up
// to where, and warns below the copy target.
func TestHealth(t *testing.T) {
	n := newPipeNet(t)
	a, b := member(t, 1, true), member(t, 2, true)
	rep := openTestStore(t, t.TempDir())
	ra, da := n.add("alice", a.Store(), ReplicaOptions{})
	n.add("bob", b.Store(), ReplicaOptions{})
	n.add("rep", rep, ReplicaOptions{})
	a.WriteFile("x", []byte("1"))
	syncOK(t, ra, da, "rep")
	syncOK(t, ra, da, "bob")
	a.WriteFile("y", []byte("2")) // bob and rep are now one behind
	h := ra.Health(3, 0)
	if len(h.Logs) != 1 || h.Logs[0].Copies != 1 || len(h.Logs[0].Behind) != 2 || len(h.Warnings) != 1 {
		t.Fatalf("health = %+v", h)
	}
	syncOK(t, ra, da, "rep")
	syncOK(t, ra, da, "bob")
	h = ra.Health(3, 0)
	if h.Logs[0].Copies != 3 || len(h.Warnings) != 0 {
		t.Fatalf("health after sync = %+v", h)
	}
	t.Logf("health: %+v", h.Logs[0])
}
