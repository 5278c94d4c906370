package consortium

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coconet/coconet/consortium/wal"
	bolt "go.etcd.io/bbolt"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Transport carries raft messages between validating nodes. Send must not
// block for long (queue or drop: raft retransmits) and must deliver a
// message only to the node with that raft ID. The receiving side hands each
// message to that node's Node.Receive with the sender's ID as the transport
// authenticated it.
type Transport interface {
	Send(to uint64, msg []byte)
}

// Config configures a validating node.
type Config struct {
	ID        uint64             // raft ID; must be listed in the genesis or added by proposal
	Dir       string             // WAL, snapshots and state.db
	Genesis   *Genesis           // the same on every node of the consortium
	Key       ed25519.PrivateKey // signs receipts; its public key is in the node table
	Transport Transport
	// LedgerSecret opens and seals private tables; nil leaves them closed
	// (reads and writes of private tables fail with ErrNoSecret).
	LedgerSecret *LedgerSecret
	// Join starts a node that is not in the genesis: it waits until a leader
	// adds it (after the members' add_node proposal) and sends it the log.
	Join bool

	TickInterval  time.Duration // raft tick; default 100ms
	ElectionTicks int           // default 10
	SnapshotEvery uint64        // applied entries between snapshots; default 10000
	// CommitInterval is how long applied entries may stay in the state's
	// open bbolt transaction before it commits (etcd's backend batch
	// interval); default 100ms. Answers do not wait for it: an entry is
	// durable in the raft log of a quorum once committed, and a restarted
	// node applies again what its state had not committed. Reads wait for
	// the commit of what they must see (and ask for it at once).
	CommitInterval time.Duration
	Logf           func(format string, args ...any)
}

type applyResult struct {
	res Result
	err error
}

// Node is a validating node: a raft member that persists, orders and applies
// the consortium's entries.
type Node struct {
	cfg     Config
	gid     [32]byte
	rn      raft.Node
	storage *raft.MemoryStorage
	wal     *wal.WAL
	st      *store

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	lead   atomic.Uint64
	kick   chan struct{}
	applyc chan applyBatch
	boot   [8]byte // random per start, in request IDs
	reqSeq atomic.Uint64
	walMu  sync.Mutex // guards wal and the raft storage's contents against a local snapshot
	secret atomic.Pointer[keyring]
	recMu  sync.Mutex        // guards shares
	shares map[string][]byte // recovery shares submitted to this node, by member ID

	// The applier's open state transaction (group commit across Ready
	// batches), applier goroutine only.
	tx         *bolt.Tx
	txSince    time.Time
	txLast     uint64 // raft index of the last entry applied into tx
	txEntries  int
	commitNow  chan struct{} // a reader waits for the open transaction
	wantStored atomic.Uint64 // the highest index a reader waits to see committed

	mu        sync.Mutex // guards all following fields
	waiters   map[string]chan applyResult
	reads     map[string]chan uint64
	applied   uint64        // last entry applied (into the open transaction, maybe)
	stored    uint64        // last entry applied and committed to state.db: what reads see
	storedCh  chan struct{} // closed when stored grows
	conf      *pb.ConfState
	snapIndex uint64
	err       error // fatal storage error; the node stopped
	closed    bool
}

// Start opens (or creates) the node's state in cfg.Dir and starts raft.
func Start(cfg Config) (*Node, error) {
	if cfg.ID == 0 || cfg.Genesis == nil || cfg.Transport == nil || len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("consortium: config needs an ID, a genesis, a key and a transport: %w", ErrBadRequest)
	}
	if cfg.TickInterval == 0 {
		cfg.TickInterval = 100 * time.Millisecond
	}
	if cfg.ElectionTicks == 0 {
		cfg.ElectionTicks = 10
	}
	if cfg.SnapshotEvery == 0 {
		cfg.SnapshotEvery = 10000
	}
	if cfg.CommitInterval == 0 {
		cfg.CommitInterval = 100 * time.Millisecond
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if r := cfg.Genesis.Recovery; cfg.LedgerSecret != nil && r != nil {
		h := sha256.Sum256(cfg.LedgerSecret[:])
		if !bytes.Equal(h[:], r.SecretHash) {
			return nil, fmt.Errorf("%w: the ledger secret is not the genesis'", ErrNoSecret)
		}
	}
	w, ws, err := wal.Open(filepath.Join(cfg.Dir, "wal"))
	if err != nil {
		return nil, err
	}
	st, err := openStore(filepath.Join(cfg.Dir, "state.db"), cfg.Genesis)
	if err != nil {
		w.Close()
		return nil, err
	}
	n := &Node{cfg: cfg, gid: st.gid, wal: w, st: st, storage: raft.NewMemoryStorage(),
		waiters: map[string]chan applyResult{}, reads: map[string]chan uint64{},
		storedCh: make(chan struct{}), kick: make(chan struct{}, 1), applyc: make(chan applyBatch, 128), commitNow: make(chan struct{}, 1)}
	fail := func(err error) (*Node, error) {
		w.Close()
		st.close()
		return nil, err
	}
	fresh := ws.HardState == nil && ws.Snapshot == nil && len(ws.Entries) == 0
	if ws.Snapshot != nil {
		if err := n.storage.ApplySnapshot(ws.Snapshot); err != nil {
			return fail(fmt.Errorf("consortium: apply snapshot: %w", err))
		}
		n.snapIndex = ws.Snapshot.GetMetadata().GetIndex()
		n.conf = ws.Snapshot.GetMetadata().GetConfState()
		if applied, _ := st.applied(); applied < n.snapIndex {
			// Crashed between saving a leader's snapshot and installing it.
			if err := st.install(ws.Snapshot.GetData()); err != nil {
				return fail(err)
			}
		}
	}
	if ws.HardState != nil {
		// A hard state that only moved the commit index is written without
		// fsync, while the state applied from it is synced: after a power
		// loss the state may be ahead. What was applied was committed.
		if applied, _ := st.applied(); ws.HardState.GetCommit() < applied {
			ws.HardState.Commit = proto.Uint64(applied)
		}
		n.storage.SetHardState(ws.HardState)
	}
	if err := n.storage.Append(ws.Entries); err != nil {
		return fail(fmt.Errorf("consortium: append log: %w", err))
	}
	applied, confBytes := st.applied()
	if applied > n.snapIndex {
		// The state is ahead of the last snapshot: start raft from the state,
		// so raft's configuration is the one the state recorded.
		cs := &pb.ConfState{}
		if err := proto.Unmarshal(confBytes, cs); err != nil {
			return fail(fmt.Errorf("consortium: conf state: %w", err))
		}
		data, err := st.dump()
		if err != nil {
			return fail(err)
		}
		if _, err := n.storage.CreateSnapshot(applied, cs, data); err != nil {
			return fail(fmt.Errorf("consortium: snapshot at %d: %w", applied, err))
		}
		if err := n.storage.Compact(applied); err != nil {
			return fail(fmt.Errorf("consortium: compact at %d: %w", applied, err))
		}
		n.snapIndex, n.conf = applied, cs
	}
	n.applied, n.stored = applied, applied
	rc := &raft.Config{
		ID:                        cfg.ID,
		ElectionTick:              cfg.ElectionTicks,
		HeartbeatTick:             1,
		Storage:                   n.storage,
		Applied:                   applied,
		MaxSizePerMsg:             1 << 20,
		MaxCommittedSizePerReady:  8 << 20,
		MaxUncommittedEntriesSize: 64 << 20,
		MaxInflightMsgs:           256,
		CheckQuorum:               true,
		PreVote:                   true,
		StepDownOnRemoval:         true,
		Logger:                    quietLogger{cfg.Logf},
	}
	if fresh && !cfg.Join {
		var peers []raft.Peer
		for _, id := range st.cons.Load().nodeIDs() {
			peers = append(peers, raft.Peer{ID: id})
		}
		n.rn = raft.StartNode(rc, peers)
	} else {
		n.rn = raft.RestartNode(rc)
	}
	if cfg.LedgerSecret != nil {
		c := st.cons.Load()
		var first *constitution = c
		if len(c.Epochs) > 1 {
			// The configured secret is the genesis'; a node given it after
			// a rekey opens the newest with its node key below.
			first = &constitution{}
		}
		if err := n.adoptSecret(first, cfg.LedgerSecret); err != nil {
			return fail(err)
		}
	}
	n.maybeAdopt(st.cons.Load())
	rand.Read(n.boot[:])
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.wg.Add(3)
	go n.run()
	go n.applier()
	go n.reconcile()
	return n, nil
}

// ConsortiumID is the hash of the genesis.
func (n *Node) ConsortiumID() [32]byte { return n.gid }

// ID is the node's raft ID.
func (n *Node) ID() uint64 { return n.cfg.ID }

// Leader is the raft ID of the leader this node knows (0 = none).
func (n *Node) Leader() uint64 { return n.lead.Load() }

// Applied is the raft index of the last entry the node applied and
// committed to its state (what its reads see).
func (n *Node) Applied() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stored
}

// Close stops the node; its state stays on disk. Close is idempotent.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	// Stop our loops before raft's: an apply in flight must get its answer
	// from raft (ApplyConfChange on a stopped raft returns an empty
	// configuration, which must never reach the state).
	n.cancel()
	n.wg.Wait()
	n.rn.Stop()
	err := n.wal.Close()
	if cerr := n.st.close(); err == nil {
		err = cerr
	}
	return err
}

// Receive is the transport's inbound handler: one raft message from the node
// the transport authenticated as from. Messages from nodes that are not in the
// committed validating-node table are refused.
func (n *Node) Receive(from uint64, data []byte) error {
	m := &pb.Message{}
	if err := proto.Unmarshal(data, m); err != nil {
		return fmt.Errorf("%w: raft message: %v", ErrBadRequest, err)
	}
	if m.GetFrom() != from || m.GetTo() != n.cfg.ID || raft.IsLocalMsg(m.GetType()) {
		return fmt.Errorf("%w: raft message %s from %d to %d over the link from %d", ErrBadRequest, m.GetType(), m.GetFrom(), m.GetTo(), from)
	}
	c := n.st.cons.Load()
	if _, ok := c.Nodes[from]; !ok {
		// A node that is not yet in its own table is joining and takes the
		// log from whoever leads; every other node listens to listed nodes only.
		if _, self := c.Nodes[n.cfg.ID]; self || !n.cfg.Join {
			return fmt.Errorf("%w: %d", ErrUnknownNode, from)
		}
	}
	if m.GetType() == pb.MsgHeartbeat {
		// raft panics on a heartbeat committing past the follower's log; a
		// leader never sends one, a faulty node might. A lower commit only
		// delays what the next append tells.
		if last, err := n.storage.LastIndex(); err == nil && m.GetCommit() > last {
			m.Commit = proto.Uint64(last)
		}
	}
	return n.rn.Step(n.ctx, m)
}

type quietLogger struct{ logf func(string, ...any) }

func (l quietLogger) Debug(v ...any)                 {}
func (l quietLogger) Debugf(format string, v ...any) {}
func (l quietLogger) Info(v ...any)                  {}
func (l quietLogger) Infof(format string, v ...any)  {}
func (l quietLogger) Warning(v ...any)               { l.logf("raft: %s", fmt.Sprint(v...)) }
func (l quietLogger) Warningf(f string, v ...any)    { l.logf("raft: "+f, v...) }
func (l quietLogger) Error(v ...any)                 { l.logf("raft: %s", fmt.Sprint(v...)) }
func (l quietLogger) Errorf(f string, v ...any)      { l.logf("raft: "+f, v...) }
func (l quietLogger) Fatal(v ...any)                 { panic(fmt.Sprint(v...)) }
func (l quietLogger) Fatalf(f string, v ...any)      { panic(fmt.Sprintf(f, v...)) }
func (l quietLogger) Panic(v ...any)                 { panic(fmt.Sprint(v...)) }
func (l quietLogger) Panicf(f string, v ...any)      { panic(fmt.Sprintf(f, v...)) }

func (n *Node) fatal(err error) {
	n.cfg.Logf("consortium: node %d stops: %v", n.cfg.ID, err)
	n.mu.Lock()
	if n.err == nil {
		n.err = err
	}
	n.mu.Unlock()
	n.cancel()
}

// run is the raft loop: persist, send, apply, snapshot.
func (n *Node) run() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
			n.rn.Tick()
		case rd := <-n.rn.Ready():
			if err := n.handle(rd); err != nil {
				n.fatal(err)
				return
			}
			n.rn.Advance()
		}
	}
}

func (n *Node) handle(rd raft.Ready) error {
	if rd.SoftState != nil {
		if rd.SoftState.Lead != n.lead.Swap(rd.SoftState.Lead) && rd.SoftState.Lead == n.cfg.ID {
			n.poke()
		}
	}
	snap := rd.Snapshot
	if snap != nil && raft.IsEmptySnap(snap) {
		snap = nil
	}
	// The WAL and the raft storage change together under walMu, so a local
	// snapshot (taken by the applier) never misses entries.
	n.walMu.Lock()
	if snap != nil {
		if err := n.wal.SaveSnapshot(snap, rd.HardState, nil); err != nil {
			n.walMu.Unlock()
			return err
		}
		if err := n.storage.ApplySnapshot(snap); err != nil {
			n.walMu.Unlock()
			return fmt.Errorf("consortium: apply snapshot: %w", err)
		}
	}
	if err := n.wal.Save(rd.HardState, rd.Entries, rd.MustSync); err != nil {
		n.walMu.Unlock()
		return err
	}
	if rd.HardState != nil && !raft.IsEmptyHardState(rd.HardState) {
		n.storage.SetHardState(rd.HardState)
	}
	err := n.storage.Append(rd.Entries)
	n.walMu.Unlock()
	if err != nil {
		return fmt.Errorf("consortium: append: %w", err)
	}
	for _, m := range rd.Messages {
		b, err := proto.Marshal(m)
		if err != nil {
			return fmt.Errorf("consortium: marshal message: %w", err)
		}
		n.cfg.Transport.Send(m.GetTo(), b)
		if m.GetType() == pb.MsgSnap {
			n.rn.ReportSnapshot(m.GetTo(), raft.SnapshotFinish)
		}
	}
	if len(rd.ReadStates) > 0 {
		n.mu.Lock()
		for _, rs := range rd.ReadStates {
			if ch, ok := n.reads[string(rs.RequestCtx)]; ok {
				select {
				case ch <- rs.Index:
				default:
				}
			}
		}
		n.mu.Unlock()
	}
	if snap == nil && len(rd.CommittedEntries) == 0 {
		return nil
	}
	select {
	case n.applyc <- applyBatch{snap, rd.CommittedEntries}:
		return nil
	case <-n.ctx.Done():
		return ErrClosed
	}
}

// applyBatch is what the raft loop hands the applier, in log order.
type applyBatch struct {
	snap *pb.Snapshot
	ents []*pb.Entry
}

// applier applies committed entries off the raft loop, so persisting and
// sending the next entries overlaps with applying these; batches that queued
// up meanwhile go into one bbolt transaction (group commit).
func (n *Node) applier() {
	defer n.wg.Done()
	defer n.rollback()
	commitTimer := time.NewTimer(time.Hour)
	defer commitTimer.Stop()
	for {
		var due <-chan time.Time
		if n.tx != nil {
			commitTimer.Reset(time.Until(n.txSince.Add(n.cfg.CommitInterval)))
			due = commitTimer.C
		}
		var batch []applyBatch
		select {
		case <-n.ctx.Done():
			// What is applied but not committed is applied again at the
			// next start, from the WAL.
			return
		case <-due:
			if err := n.commit(); err != nil {
				n.fatal(err)
				return
			}
			continue
		case <-n.commitNow:
			if err := n.commit(); err != nil {
				n.fatal(err)
				return
			}
			continue
		case b := <-n.applyc:
			batch = append(batch, b)
		}
	drain:
		for len(batch) < 256 {
			select {
			case b := <-n.applyc:
				batch = append(batch, b)
			default:
				break drain
			}
		}
		var ents []*pb.Entry
		for _, b := range batch {
			if b.snap != nil {
				if err := n.apply(ents); err != nil {
					n.fatal(err)
					return
				}
				ents = nil
				if err := n.commit(); err != nil {
					n.fatal(err)
					return
				}
				if err := n.installSnapshot(b.snap); err != nil {
					n.fatal(err)
					return
				}
			}
			ents = append(ents, b.ents...)
		}
		if err := n.apply(ents); err != nil {
			n.fatal(err)
			return
		}
		if want := n.wantStored.Load(); n.tx != nil && (n.txEntries >= maxTxEntries || time.Since(n.txSince) >= n.cfg.CommitInterval || (want > n.Applied() && want <= n.txLast)) {
			if err := n.commit(); err != nil {
				n.fatal(err)
				return
			}
		}
	}
}

// maxTxEntries bounds the entries of one state transaction (etcd's
// backend batch limit).
const maxTxEntries = 10000

// commit commits the open state transaction, makes what it applied visible
// to reads, and snapshots when due.
func (n *Node) commit() error {
	if n.tx == nil {
		return nil
	}
	err := n.tx.Commit()
	n.st.mu.RUnlock()
	n.tx = nil
	if err != nil {
		return fmt.Errorf("consortium: commit state: %w", err)
	}
	n.mu.Lock()
	if n.txLast > n.stored {
		n.stored = n.txLast
		close(n.storedCh)
		n.storedCh = make(chan struct{})
	}
	n.mu.Unlock()
	return n.maybeSnapshot()
}

// rollback drops the open state transaction when the applier stops.
func (n *Node) rollback() {
	if n.tx != nil {
		n.tx.Rollback()
		n.st.mu.RUnlock()
		n.tx = nil
	}
}

func (n *Node) installSnapshot(snap *pb.Snapshot) error {
	if err := n.st.install(snap.GetData()); err != nil {
		return err
	}
	n.mu.Lock()
	idx := snap.GetMetadata().GetIndex()
	n.applied, n.stored, n.snapIndex, n.conf = idx, idx, idx, snap.GetMetadata().GetConfState()
	close(n.storedCh)
	n.storedCh = make(chan struct{})
	n.mu.Unlock()
	return nil
}

type notice struct {
	req []byte
	ar  applyResult
}

var bReqs = []byte("reqs")

// apply applies committed entries in the open bbolt transaction (beginning
// one if none is open), then answers the waiters: what they are told is in
// the raft log of a quorum, fsynced, and a restart applies it again if the
// transaction had not committed.
func (n *Node) apply(ents []*pb.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	n.mu.Lock()
	applied := n.applied
	n.mu.Unlock()
	var notices []notice
	var conf *pb.ConfState
	var cons *constitution
	last := applied
	if n.tx == nil {
		n.st.mu.RLock()
		tx, err := n.st.db.Begin(true)
		if err != nil {
			n.st.mu.RUnlock()
			return fmt.Errorf("consortium: begin state transaction: %w", err)
		}
		n.tx, n.txSince, n.txEntries = tx, time.Now(), 0
	}
	n.txEntries += len(ents)
	err := func(tx *bolt.Tx) error {
		reqs, err := tx.CreateBucketIfNotExists(bReqs)
		if err != nil {
			return err
		}
		gov := false
		for _, e := range ents {
			idx := e.GetIndex()
			if idx <= applied {
				continue
			}
			last = idx
			switch e.GetType() {
			case pb.EntryNormal:
				if len(e.GetData()) == 0 {
					continue
				}
				var peek struct{ Req []byte }
				if decMode.Unmarshal(e.GetData(), &peek) == nil && len(peek.Req) > 0 {
					if reqs.Get(peek.Req) != nil {
						continue // a re-proposal of an entry already applied
					}
					if err := reqs.Put(peek.Req, be(idx)); err != nil {
						return err
					}
				}
				res, req, uerr, err := n.st.applyEntry(tx, idx, e.GetData())
				if err != nil {
					return err
				}
				if res.Proposal != nil {
					gov = true
				}
				if req != nil {
					notices = append(notices, notice{req, applyResult{res, uerr}})
				}
			case pb.EntryConfChange, pb.EntryConfChangeV2:
				cs, err := n.applyConf(tx, e)
				if err != nil {
					return err
				}
				conf = cs
			}
		}
		meta := tx.Bucket(bMeta)
		if err := meta.Put(kApplied, be(last)); err != nil {
			return err
		}
		if err := n.st.saveFrontier(tx); err != nil {
			return err
		}
		if gov {
			if cons, err = loadConstitution(tx); err != nil {
				return err
			}
		}
		return nil
	}(n.tx)
	if err != nil {
		n.rollback()
		return fmt.Errorf("consortium: apply: %w", err)
	}
	n.txLast = last
	if cons != nil {
		n.st.cons.Store(cons)
		n.maybeAdopt(cons)
		n.poke()
	}
	n.mu.Lock()
	if conf != nil {
		n.conf = conf
	}
	if last > n.applied {
		n.applied = last
	}
	for _, nt := range notices {
		if ch, ok := n.waiters[string(nt.req)]; ok {
			ch <- nt.ar
			delete(n.waiters, string(nt.req))
		}
	}
	n.mu.Unlock()
	return nil
}

// applyConf applies a raft configuration change only if it matches the
// committed node table at this point of the order: a leader cannot add a
// node the members did not add, nor keep one they removed out of the table.
func (n *Node) applyConf(tx *bolt.Tx, e *pb.Entry) (*pb.ConfState, error) {
	var cci pb.ConfChangeI
	if e.GetType() == pb.EntryConfChange {
		cc := &pb.ConfChange{}
		if err := proto.Unmarshal(e.GetData(), cc); err != nil {
			return nil, fmt.Errorf("conf change at %d: %w", e.GetIndex(), err)
		}
		cci = cc
	} else {
		cc := &pb.ConfChangeV2{}
		if err := proto.Unmarshal(e.GetData(), cc); err != nil {
			return nil, fmt.Errorf("conf change at %d: %w", e.GetIndex(), err)
		}
		cci = cc
	}
	inTable := func(id uint64) bool {
		return tx.Bucket(bNodes).Get(be(id)) != nil
	}
	ok := true
	for _, ch := range cci.AsV2().GetChanges() {
		switch ch.GetType() {
		case pb.ConfChangeAddNode, pb.ConfChangeAddLearnerNode:
			ok = ok && inTable(ch.GetNodeId())
		case pb.ConfChangeRemoveNode:
			ok = ok && !inTable(ch.GetNodeId())
		default:
			ok = false
		}
	}
	if len(cci.AsV2().GetChanges()) == 0 {
		ok = false
	}
	if !ok {
		n.cfg.Logf("consortium: node %d: conf change at %d refused: not the node table's", n.cfg.ID, e.GetIndex())
		cci = &pb.ConfChange{Type: pb.ConfChangeAddNode.Enum(), NodeId: proto.Uint64(raft.None)}
	}
	cs := n.rn.ApplyConfChange(cci)
	if len(cs.GetVoters()) == 0 {
		// Raft stopped under us (or a change emptied the cluster, which
		// raft refuses): keep the state as it was.
		return nil, fmt.Errorf("consortium: conf change at %d: no voters: %w", e.GetIndex(), ErrClosed)
	}
	b, err := proto.Marshal(cs)
	if err != nil {
		return nil, err
	}
	return cs, tx.Bucket(bMeta).Put(kConfState, b)
}

func (n *Node) maybeSnapshot() error {
	n.mu.Lock()
	applied, snapIndex, conf := n.stored, n.snapIndex, n.conf
	n.mu.Unlock()
	if applied-snapIndex < n.cfg.SnapshotEvery || conf == nil {
		return nil
	}
	data, err := n.st.dump()
	if err != nil {
		return err
	}
	n.walMu.Lock()
	defer n.walMu.Unlock()
	snap, err := n.storage.CreateSnapshot(applied, conf, data)
	if errors.Is(err, raft.ErrSnapOutOfDate) {
		return nil // a leader's newer snapshot came in meanwhile
	}
	if err != nil {
		return fmt.Errorf("consortium: create snapshot: %w", err)
	}
	last, _ := n.storage.LastIndex()
	var retained []*pb.Entry
	if last > applied {
		if retained, err = n.storage.Entries(applied+1, last+1, ^uint64(0)); err != nil {
			return fmt.Errorf("consortium: retained entries: %w", err)
		}
	}
	hs, _, _ := n.storage.InitialState()
	if err := n.wal.SaveSnapshot(snap, hs, retained); err != nil {
		return err
	}
	if err := n.storage.Compact(applied); err != nil && !errors.Is(err, raft.ErrCompacted) {
		return fmt.Errorf("consortium: compact: %w", err)
	}
	n.mu.Lock()
	n.snapIndex = applied
	n.mu.Unlock()
	return nil
}

func (n *Node) poke() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// reconcile makes raft's voters follow the committed node table while this
// node leads: a node the members added is added to raft, a removed one is
// removed. Raft takes one configuration change at a time.
func (n *Node) reconcile() {
	defer n.wg.Done()
	t := time.NewTicker(10 * n.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		case <-n.kick:
		}
		if n.lead.Load() != n.cfg.ID {
			continue
		}
		n.mu.Lock()
		conf := n.conf
		n.mu.Unlock()
		if conf == nil {
			continue
		}
		voters := map[uint64]bool{}
		for _, v := range conf.GetVoters() {
			voters[v] = true
		}
		c := n.st.cons.Load()
		var cc *pb.ConfChange
		for _, id := range c.nodeIDs() {
			if !voters[id] {
				cc = &pb.ConfChange{Type: pb.ConfChangeAddNode.Enum(), NodeId: proto.Uint64(id)}
				break
			}
		}
		if cc == nil {
			for v := range voters {
				if _, ok := c.Nodes[v]; !ok {
					cc = &pb.ConfChange{Type: pb.ConfChangeRemoveNode.Enum(), NodeId: proto.Uint64(v)}
					break
				}
			}
		}
		if cc == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(n.ctx, 10*n.cfg.TickInterval)
		if err := n.rn.ProposeConfChange(ctx, cc); err != nil {
			n.cfg.Logf("consortium: node %d: propose conf change: %v", n.cfg.ID, err)
		}
		cancel()
	}
}

func newReq() []byte {
	b := make([]byte, 16)
	rand.Read(b)
	return b
}

// nextReq is a request ID that is unique across nodes and restarts (node ID,
// a random boot prefix) and increasing within one run, so the state
// machine's table of applied request IDs grows at its end instead of
// dirtying random pages of a B+tree.
func (n *Node) nextReq() []byte {
	b := make([]byte, 24)
	binary.BigEndian.PutUint64(b, n.cfg.ID)
	copy(b[8:16], n.boot[:])
	binary.BigEndian.PutUint64(b[16:], n.reqSeq.Add(1))
	return b
}

// submit replicates an entry and waits for this node to apply it. It proposes
// again while no result came (a leader change can drop a proposal); the state
// machine applies one request ID at most once.
func (n *Node) submit(ctx context.Context, e *entry) (Result, error) {
	e.V, e.Req, e.Time = 1, n.nextReq(), time.Now().UnixNano()
	data, err := encMode.Marshal(e)
	if err != nil {
		return Result{}, fmt.Errorf("consortium: encode entry: %w", err)
	}
	ch := make(chan applyResult, 1)
	n.mu.Lock()
	if n.closed || n.err != nil {
		n.mu.Unlock()
		return Result{}, ErrClosed
	}
	n.waiters[string(e.Req)] = ch
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.waiters, string(e.Req))
		n.mu.Unlock()
	}()
	retry := time.NewTicker(time.Duration(2*n.cfg.ElectionTicks) * n.cfg.TickInterval)
	defer retry.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Duration(n.cfg.ElectionTicks)*n.cfg.TickInterval)
		err := n.rn.Propose(pctx, data)
		cancel()
		if err != nil && ctx.Err() != nil {
			return Result{}, fmt.Errorf("consortium: propose: %w", ctx.Err())
		}
		select {
		case r := <-ch:
			return r.res, r.err
		case <-ctx.Done():
			return Result{}, fmt.Errorf("consortium: wait for commit: %w", ctx.Err())
		case <-n.ctx.Done():
			return Result{}, ErrClosed
		case <-retry.C:
		}
	}
}

// Transact submits an application transaction and waits until it commits.
func (n *Node) Transact(ctx context.Context, txn Txn) (Result, error) {
	ws, err := n.sealWrites(txn.Writes)
	if err != nil {
		return Result{}, err
	}
	txn.Writes = ws
	return n.submit(ctx, &entry{Txn: &txn})
}

// Govern submits a signed proposal, ballot or withdrawal and waits until it
// commits; the result carries the proposal's state after it.
func (n *Node) Govern(ctx context.Context, req *SignedRequest) (Result, error) {
	return n.submit(ctx, &entry{Gov: req})
}

// sync waits until this node has applied everything committed when it was
// called (raft's ReadIndex): a read after it is linearizable.
func (n *Node) sync(ctx context.Context) error {
	rctx := newReq()
	ch := make(chan uint64, 1)
	n.mu.Lock()
	n.reads[string(rctx)] = ch
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.reads, string(rctx))
		n.mu.Unlock()
	}()
	var idx uint64
	retry := time.NewTicker(time.Duration(n.cfg.ElectionTicks) * n.cfg.TickInterval)
	defer retry.Stop()
wait:
	for {
		if err := n.rn.ReadIndex(ctx, rctx); err != nil {
			return fmt.Errorf("consortium: read index: %w", err)
		}
		select {
		case idx = <-ch:
			break wait
		case <-retry.C:
		case <-ctx.Done():
			return fmt.Errorf("consortium: read index: %w", ctx.Err())
		case <-n.ctx.Done():
			return ErrClosed
		}
	}
	for {
		n.mu.Lock()
		stored, applied, ch := n.stored, n.applied, n.storedCh
		n.mu.Unlock()
		if stored >= idx {
			return nil
		}
		for want := n.wantStored.Load(); want < idx && !n.wantStored.CompareAndSwap(want, idx); want = n.wantStored.Load() {
		}
		if applied >= idx {
			select { // applied but not committed: commit now
			case n.commitNow <- struct{}{}:
			default:
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("consortium: wait for apply: %w", ctx.Err())
		case <-n.ctx.Done():
			return ErrClosed
		}
	}
}

// Get reads a key linearizably: its value and version (the sequence number of
// its last write). A missing key is ErrNotFound.
func (n *Node) Get(ctx context.Context, table string, key []byte) ([]byte, uint64, error) {
	name, err := readBucket(table)
	if err != nil {
		return nil, 0, err
	}
	if err := n.sync(ctx); err != nil {
		return nil, 0, err
	}
	if isPrivate(table) && n.secret.Load() == nil {
		return nil, 0, ErrNoSecret
	}
	var val []byte
	var ver uint64
	err = n.st.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(name)
		if b == nil {
			return ErrNotFound
		}
		v := b.Get(key)
		if v == nil {
			return ErrNotFound
		}
		if bytes.HasPrefix(name, []byte("t.")) {
			ver, val = u64(v[:8]), bytes.Clone(v[8:])
		} else {
			val = bytes.Clone(v)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if val, err = n.openValue(table, key, val); err != nil {
		return nil, 0, err
	}
	return val, ver, nil
}

// KV is one key of a Range.
type KV struct {
	Key, Value []byte
	Version    uint64
}

// Range reads keys in [from, to) of an application table linearizably (to nil
// = to the end), at most limit of them (0 = 1000).
func (n *Node) Range(ctx context.Context, table string, from, to []byte, limit int) ([]KV, error) {
	name, err := appBucket(table)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 1000
	}
	if isPrivate(table) && n.secret.Load() == nil {
		return nil, ErrNoSecret
	}
	if err := n.sync(ctx); err != nil {
		return nil, err
	}
	var out []KV
	err = n.st.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(name)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(from); k != nil && (to == nil || bytes.Compare(k, to) < 0) && len(out) < limit; k, v = c.Next() {
			val, err := n.openValue(table, k, v[8:])
			if err != nil {
				return err
			}
			out = append(out, KV{Key: bytes.Clone(k), Value: bytes.Clone(val), Version: u64(v[:8])})
		}
		return nil
	})
	return out, err
}

// Proposal reads a proposal linearizably.
func (n *Node) Proposal(ctx context.Context, id string) (*ProposalInfo, error) {
	if err := n.sync(ctx); err != nil {
		return nil, err
	}
	var p *ProposalInfo
	err := n.st.view(func(tx *bolt.Tx) error {
		var err error
		p, err = getProposal(tx, id)
		return err
	})
	return p, err
}

// Receipt returns the receipt of a committed record, signed by this node.
func (n *Node) Receipt(ctx context.Context, seqno uint64) (*Receipt, error) {
	r, err := n.st.receipt(seqno, n.cfg.ID, n.cfg.Key)
	if !errors.Is(err, ErrNotFound) {
		return r, err
	}
	// Not applied here yet: catch up with the leader's commit and look again.
	if err := n.sync(ctx); err != nil {
		return nil, err
	}
	return n.st.receipt(seqno, n.cfg.ID, n.cfg.Key)
}

// Members lists the current members' IDs (from this node's applied state).
func (n *Node) Members() []string {
	c := n.st.cons.Load()
	out := make([]string, 0, len(c.Members))
	for id := range c.Members {
		out = append(out, id)
	}
	return out
}

// Nodes lists the validating nodes (from this node's applied state).
func (n *Node) Nodes() []NodeInfo {
	c := n.st.cons.Load()
	var out []NodeInfo
	for _, id := range c.nodeIDs() {
		out = append(out, c.Nodes[id])
	}
	return out
}

// Voters lists raft's current voters as this node applied them.
func (n *Node) Voters() []uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]uint64(nil), n.conf.GetVoters()...)
}

// Err is the fatal error that stopped the node, if any.
func (n *Node) Err() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.err
}
