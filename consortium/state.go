package consortium

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	bolt "go.etcd.io/bbolt"
)

// Bucket names. Application tables live in "t." + name; governance tables are
// readable under their own names and written only by governance entries.
var (
	bMeta         = []byte("meta")
	bMerkle       = []byte("merkle")
	bRecords      = []byte("records")
	bMembers      = []byte(TableMembers)
	bParticipants = []byte(TableParticipants)
	bCAs          = []byte(TableCAs)
	bNodes        = []byte(TableNodes)
	bCode         = []byte(TableCode)
	bEnvs         = []byte(TableEnvs)
	bPolicy       = []byte(TablePolicy)
	bProposals    = []byte(TableProposals)
	bOpen         = []byte("gov.open")
	bRecovery     = []byte("gov.recovery")

	kApplied   = []byte("applied")
	kSeq       = []byte("seq")
	kFrontier  = []byte("frontier")
	kTime      = []byte("time")
	kGenesis   = []byte("genesis")
	kConfState = []byte("confstate")
)

// Governance tables, readable with Node.Get (keys: CertID for members,
// participants and CAs; the 8-byte big-endian ID for nodes; the hex hash for
// code; the environment for envs; "policy" for the policy; the proposal ID for
// proposals).
const (
	TableMembers      = "gov.members"
	TableParticipants = "gov.participants"
	TableCAs          = "gov.cas"
	TableNodes        = "gov.nodes"
	TableCode         = "gov.code"
	TableEnvs         = "gov.envs"
	TablePolicy       = "gov.policy"
	TableProposals    = "gov.proposals"
)

var tableName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`)

func appBucket(table string) ([]byte, error) {
	if strings.HasPrefix(table, "gov.") || !tableName.MatchString(table) {
		return nil, fmt.Errorf("%w: table %q", ErrForbidden, table)
	}
	return []byte("t." + table), nil
}

func readBucket(table string) ([]byte, error) {
	if strings.HasPrefix(table, "gov.") {
		switch table {
		case TableMembers, TableParticipants, TableCAs, TableNodes, TableCode, TableEnvs, TablePolicy, TableProposals:
			return []byte(table), nil
		}
		return nil, fmt.Errorf("%w: table %q", ErrNotFound, table)
	}
	return appBucket(table)
}

var hasher = rfc6962.DefaultHasher

// store is the replicated state in bbolt. Only the node's apply loop writes;
// readers hold mu.RLock so a snapshot install can swap the file.
type store struct {
	path    string
	gid     [32]byte
	genesis *Genesis

	cons atomic.Pointer[constitution] // committed constitution, for Receive's checks

	mu  sync.RWMutex // guards db
	db  *bolt.DB
	rng *compact.Range // Merkle frontier; apply loop only
}

var rangeFactory = compact.RangeFactory{Hash: hasher.HashChildren}

func u64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func be(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func openStore(path string, g *Genesis) (*store, error) {
	s := &store{path: path, gid: g.ID(), genesis: g}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *store) open() error {
	// etcd's backend options: the freelist is rebuilt at open instead of
	// written by every commit (one page fewer per fsync), kept as a map.
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: 5 * time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType,
		InitialMmapSize: 1 << 30}) // address space only: no remap (which waits for every reader) as the file grows
	if err != nil {
		return fmt.Errorf("consortium: open state %s: %w", s.path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bMeta, bMerkle, bRecords, bMembers, bParticipants, bCAs, bNodes, bCode, bEnvs, bPolicy, bProposals, bOpen, bRecovery} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bMeta)
		if g := meta.Get(kGenesis); g != nil {
			if !bytes.Equal(g, s.gid[:]) {
				return fmt.Errorf("consortium: state belongs to consortium %x, not %x", g, s.gid)
			}
			return nil
		}
		c, err := fromGenesis(s.genesis)
		if err != nil {
			return err
		}
		if err := saveConstitution(tx, c); err != nil {
			return err
		}
		gb, err := encMode.Marshal(s.genesis)
		if err != nil {
			return err
		}
		if err := meta.Put(kGenesis, s.gid[:]); err != nil {
			return err
		}
		s.rng = rangeFactory.NewEmptyRange(0)
		if _, err := s.appendRecord(tx, record{Kind: "genesis", Entry: gb}); err != nil {
			return err
		}
		return s.saveFrontier(tx)
	})
	if err != nil {
		db.Close()
		return err
	}
	s.db = db
	return s.reload()
}

// reload reads the frontier and the constitution back from the database.
func (s *store) reload() error {
	return s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		var hashes [][]byte
		if err := decMode.Unmarshal(meta.Get(kFrontier), &hashes); err != nil {
			return fmt.Errorf("consortium: frontier: %w", err)
		}
		r, err := rangeFactory.NewRange(0, u64(meta.Get(kSeq)), hashes)
		if err != nil {
			return fmt.Errorf("consortium: frontier: %w", err)
		}
		s.rng = r
		c, err := loadConstitution(tx)
		if err != nil {
			return err
		}
		s.cons.Store(c)
		return nil
	})
}

func (s *store) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}

func (s *store) view(fn func(tx *bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return ErrClosed
	}
	return s.db.View(fn)
}

func (s *store) applied() (idx uint64, conf []byte) {
	s.view(func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		idx = u64(m.Get(kApplied))
		conf = bytes.Clone(m.Get(kConfState))
		return nil
	})
	return idx, conf
}

func (s *store) saveFrontier(tx *bolt.Tx) error {
	fb, err := encMode.Marshal(s.rng.Hashes())
	if err != nil {
		return err
	}
	meta := tx.Bucket(bMeta)
	if err := meta.Put(kFrontier, fb); err != nil {
		return err
	}
	return meta.Put(kSeq, be(s.rng.End()))
}

func nodeKey(id compact.NodeID) []byte {
	k := make([]byte, 9)
	k[0] = byte(id.Level)
	binary.BigEndian.PutUint64(k[1:], id.Index)
	return k
}

// appendRecord adds a Merkle leaf and returns its sequence number.
func (s *store) appendRecord(tx *bolt.Tx, r record) (uint64, error) {
	r.Seqno = s.rng.End()
	data, err := encMode.Marshal(r)
	if err != nil {
		return 0, err
	}
	if err := tx.Bucket(bRecords).Put(be(r.Seqno), data); err != nil {
		return 0, err
	}
	mb := tx.Bucket(bMerkle)
	var perr error
	err = s.rng.Append(hasher.HashLeaf(data), func(id compact.NodeID, h []byte) {
		if e := mb.Put(nodeKey(id), bytes.Clone(h)); e != nil && perr == nil {
			perr = e
		}
	})
	if err != nil {
		return 0, err
	}
	return r.Seqno, perr
}

func loadConstitution(tx *bolt.Tx) (*constitution, error) {
	c := newConstitution()
	tx.Bucket(bMembers).ForEach(func(k, v []byte) error { c.Members[string(k)] = bytes.Clone(v); return nil })
	tx.Bucket(bParticipants).ForEach(func(k, v []byte) error { c.Participants[string(k)] = bytes.Clone(v); return nil })
	tx.Bucket(bCAs).ForEach(func(k, v []byte) error { c.CAs[string(k)] = bytes.Clone(v); return nil })
	tx.Bucket(bCode).ForEach(func(k, v []byte) error { c.Code[string(k)] = true; return nil })
	tx.Bucket(bEnvs).ForEach(func(k, v []byte) error { c.Envs[string(k)] = true; return nil })
	err := tx.Bucket(bNodes).ForEach(func(k, v []byte) error {
		var n NodeInfo
		if err := decMode.Unmarshal(v, &n); err != nil {
			return err
		}
		c.Nodes[n.ID] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("consortium: load nodes: %w", err)
	}
	if p := tx.Bucket(bPolicy).Get([]byte("policy")); p != nil {
		if err := decMode.Unmarshal(p, &c.Policy); err != nil {
			return nil, fmt.Errorf("consortium: load policy: %w", err)
		}
	}
	if b := tx.Bucket(bRecovery); b != nil {
		if v := b.Get([]byte("recovery")); v != nil {
			if err := decMode.Unmarshal(v, &c.Recovery); err != nil {
				return nil, fmt.Errorf("consortium: load recovery: %w", err)
			}
		}
		if v := b.Get([]byte("epochs")); v != nil {
			if err := decMode.Unmarshal(v, &c.Epochs); err != nil {
				return nil, fmt.Errorf("consortium: load ledger secret epochs: %w", err)
			}
		}
	}
	return c, nil
}

func saveConstitution(tx *bolt.Tx, c *constitution) error {
	fill := func(name []byte, put func(b *bolt.Bucket) error) error {
		if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return err
		}
		b, err := tx.CreateBucket(name)
		if err != nil {
			return err
		}
		return put(b)
	}
	certs := func(m map[string][]byte) func(b *bolt.Bucket) error {
		return func(b *bolt.Bucket) error {
			for k, v := range m {
				if err := b.Put([]byte(k), v); err != nil {
					return err
				}
			}
			return nil
		}
	}
	set := func(m map[string]bool) func(b *bolt.Bucket) error {
		return func(b *bolt.Bucket) error {
			for k := range m {
				if err := b.Put([]byte(k), []byte{1}); err != nil {
					return err
				}
			}
			return nil
		}
	}
	steps := []error{
		fill(bMembers, certs(c.Members)),
		fill(bParticipants, certs(c.Participants)),
		fill(bCAs, certs(c.CAs)),
		fill(bCode, set(c.Code)),
		fill(bEnvs, set(c.Envs)),
		fill(bNodes, func(b *bolt.Bucket) error {
			for id, n := range c.Nodes {
				v, err := encMode.Marshal(n)
				if err != nil {
					return err
				}
				if err := b.Put(be(id), v); err != nil {
					return err
				}
			}
			return nil
		}),
		fill(bPolicy, func(b *bolt.Bucket) error {
			v, err := encMode.Marshal(c.Policy)
			if err != nil {
				return err
			}
			return b.Put([]byte("policy"), v)
		}),
		fill(bRecovery, func(b *bolt.Bucket) error {
			if c.Recovery == nil {
				return nil
			}
			r, err := encMode.Marshal(c.Recovery)
			if err != nil {
				return err
			}
			e, err := encMode.Marshal(c.Epochs)
			if err != nil {
				return err
			}
			return errors.Join(b.Put([]byte("recovery"), r), b.Put([]byte("epochs"), e))
		}),
	}
	return errors.Join(steps...)
}

// applyEntry applies one normal raft entry at index idx inside tx. uerr is the
// entry's own outcome (deterministic: the same on every node, and the entry
// then changes nothing); err is a storage failure.
func (s *store) applyEntry(tx *bolt.Tx, idx uint64, data []byte) (res Result, req []byte, uerr error, err error) {
	res.Index = idx
	var e entry
	if derr := decMode.Unmarshal(data, &e); derr != nil || e.V != 1 || (e.Txn == nil) == (e.Gov == nil) {
		return res, nil, fmt.Errorf("%w: entry at %d", ErrBadRequest, idx), nil
	}
	meta := tx.Bucket(bMeta)
	now := int64(u64(meta.Get(kTime)))
	if e.Time > now {
		now = e.Time
		if err := meta.Put(kTime, be(uint64(now))); err != nil {
			return res, e.Req, nil, err
		}
	}
	t := time.Unix(0, now)
	if e.Txn != nil {
		res.Seqno, uerr, err = s.applyTxn(tx, e.Txn, data)
		return res, e.Req, uerr, err
	}
	res.Proposal, res.Seqno, uerr, err = s.applyGov(tx, e.Gov, data, t)
	return res, e.Req, uerr, err
}

func (s *store) applyTxn(tx *bolt.Tx, txn *Txn, data []byte) (uint64, error, error) {
	if tx.Bucket(bMembers).Get([]byte(txn.Caller)) == nil && tx.Bucket(bParticipants).Get([]byte(txn.Caller)) == nil {
		return 0, fmt.Errorf("%w: caller %.16s is neither a member nor a participant", ErrForbidden, txn.Caller), nil
	}
	if len(txn.Writes) == 0 {
		return 0, fmt.Errorf("%w: empty write set", ErrBadRequest), nil
	}
	for _, r := range txn.Reads {
		name, err := readBucket(r.Table)
		if err != nil {
			return 0, err, nil
		}
		var cur uint64
		if b := tx.Bucket(name); b != nil {
			if v := b.Get(r.Key); v != nil {
				cur = u64(v[:8])
			}
		}
		if cur != r.Version {
			return 0, fmt.Errorf("%w: %s/%x at version %d, read %d", ErrConflict, r.Table, r.Key, cur, r.Version), nil
		}
	}
	for _, w := range txn.Writes {
		if _, err := appBucket(w.Table); err != nil {
			return 0, err, nil
		}
		if len(w.Key) == 0 || len(w.Key) > bolt.MaxKeySize {
			return 0, fmt.Errorf("%w: key of %d bytes", ErrBadRequest, len(w.Key)), nil
		}
	}
	seq, err := s.appendRecord(tx, record{Kind: "txn", Entry: data})
	if err != nil {
		return 0, nil, err
	}
	for _, w := range txn.Writes {
		name, _ := appBucket(w.Table)
		b, err := tx.CreateBucketIfNotExists(name)
		if err != nil {
			return 0, nil, err
		}
		if w.Delete {
			if err := b.Delete(w.Key); err != nil {
				return 0, nil, err
			}
			continue
		}
		v := make([]byte, 8+len(w.Value))
		binary.BigEndian.PutUint64(v, seq)
		copy(v[8:], w.Value)
		if err := b.Put(w.Key, v); err != nil {
			return 0, nil, err
		}
	}
	return seq, nil, nil
}

func getProposal(tx *bolt.Tx, id string) (*ProposalInfo, error) {
	v := tx.Bucket(bProposals).Get([]byte(id))
	if v == nil {
		return nil, ErrUnknownProposal
	}
	var p ProposalInfo
	if err := decMode.Unmarshal(v, &p); err != nil {
		return nil, fmt.Errorf("consortium: proposal %s: %w", id, err)
	}
	return &p, nil
}

func putProposal(tx *bolt.Tx, p *ProposalInfo) error {
	v, err := encMode.Marshal(p)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bProposals).Put([]byte(p.ID), v); err != nil {
		return err
	}
	if p.State == StateOpen {
		return tx.Bucket(bOpen).Put([]byte(p.ID), []byte{1})
	}
	return tx.Bucket(bOpen).Delete([]byte(p.ID))
}

// closeOpen marks every open proposal but keep as dropped, or only the
// expired ones when all is false.
func closeOpen(tx *bolt.Tx, c *constitution, t time.Time, keep string, all bool) error {
	var ids []string
	tx.Bucket(bOpen).ForEach(func(k, _ []byte) error { ids = append(ids, string(k)); return nil })
	for _, id := range ids {
		if id == keep {
			continue
		}
		p, err := getProposal(tx, id)
		if err != nil {
			return err
		}
		expired := c.Policy.TTL > 0 && t.UnixNano()-p.Created > c.Policy.TTL*int64(time.Second)
		if all || expired {
			p.State = StateDropped
			if err := putProposal(tx, p); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *store) applyGov(tx *bolt.Tx, req *SignedRequest, data []byte, t time.Time) (*ProposalInfo, uint64, error, error) {
	c, err := loadConstitution(tx)
	if err != nil {
		return nil, 0, nil, err
	}
	if err := closeOpen(tx, c, t, "", false); err != nil {
		return nil, 0, nil, err
	}
	body, signer, uerr := c.verify(req, s.gid, t)
	if uerr != nil {
		return nil, 0, uerr, nil
	}
	var p *ProposalInfo
	switch body.Op {
	case OpPropose:
		if len(body.Actions) == 0 {
			return nil, 0, fmt.Errorf("%w: proposal without actions", ErrBadRequest), nil
		}
		id := ProposalID(req)
		if tx.Bucket(bProposals).Get([]byte(id)) != nil {
			return nil, 0, ErrDuplicate, nil
		}
		p = &ProposalInfo{ID: id, Proposer: signer, Actions: body.Actions, State: StateOpen, Ballots: map[string]bool{}, Created: t.UnixNano()}
	case OpBallot, OpWithdraw:
		p, uerr = getProposal(tx, hex.EncodeToString(body.Proposal))
		if uerr != nil {
			return nil, 0, uerr, nil
		}
		if p.State != StateOpen {
			return p, 0, fmt.Errorf("%w: %s", ErrNotOpen, p.State), nil
		}
		if body.Op == OpWithdraw {
			if p.Proposer != signer {
				return p, 0, ErrNotProposer, nil
			}
			p.State = StateWithdrawn
			break
		}
		if _, ok := p.Ballots[signer]; ok {
			return p, 0, ErrAlreadyVoted, nil
		}
		p.Ballots[signer] = body.Approve
	default:
		return nil, 0, fmt.Errorf("%w: op %q", ErrBadRequest, body.Op), nil
	}
	if p.State == StateOpen {
		p.State = c.tally(p)
	}
	if p.State == StateAccepted {
		next, dropOthers, aerr := c.apply(p.Actions, t)
		switch {
		case aerr != nil:
			p.State, p.Failure = StateFailed, aerr.Error()
		default:
			if err := saveConstitution(tx, next); err != nil {
				return nil, 0, nil, err
			}
			if dropOthers {
				if err := closeOpen(tx, next, t, p.ID, true); err != nil {
					return nil, 0, nil, err
				}
			}
			c = next
		}
	}
	if err := putProposal(tx, p); err != nil {
		return nil, 0, nil, err
	}
	seq, err := s.appendRecord(tx, record{Kind: body.Op, Entry: data, Outcome: p.ID + " " + p.State})
	if err != nil {
		return nil, 0, nil, err
	}
	return p, seq, nil, nil
}

// Receipt proves that a committed record is in the consortium's Merkle tree,
// under a root a validating node signed.
type Receipt struct {
	Consortium []byte // the consortium's ID
	Seqno      uint64 // the record's sequence number (leaf index)
	Record     []byte // the record (the committed entry and its outcome)
	TreeSize   uint64
	Root       []byte
	Proof      [][]byte // RFC 6962 inclusion proof
	Node       uint64   // the signing node
	Sig        []byte   // Ed25519 over rootDomain || Consortium || TreeSize || Root
}

const rootDomain = "coconet/consortium/root/v1\x00"

func rootMessage(consortium []byte, size uint64, root []byte) []byte {
	m := append([]byte(rootDomain), consortium...)
	m = append(m, be(size)...)
	return append(m, root...)
}

func (s *store) receipt(seq uint64, node uint64, key ed25519.PrivateKey) (*Receipt, error) {
	r := &Receipt{Consortium: s.gid[:], Seqno: seq, Node: node}
	err := s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		r.TreeSize = u64(meta.Get(kSeq))
		if seq >= r.TreeSize {
			return ErrNotFound
		}
		var hashes [][]byte
		if err := decMode.Unmarshal(meta.Get(kFrontier), &hashes); err != nil {
			return err
		}
		rng, err := rangeFactory.NewRange(0, r.TreeSize, hashes)
		if err != nil {
			return err
		}
		if r.Root, err = rng.GetRootHash(nil); err != nil {
			return err
		}
		r.Record = bytes.Clone(tx.Bucket(bRecords).Get(be(seq)))
		nodes, err := proof.Inclusion(seq, r.TreeSize)
		if err != nil {
			return err
		}
		mb := tx.Bucket(bMerkle)
		hs := make([][]byte, len(nodes.IDs))
		for i, id := range nodes.IDs {
			if hs[i] = bytes.Clone(mb.Get(nodeKey(id))); hs[i] == nil {
				return fmt.Errorf("consortium: merkle node %d/%d missing", id.Level, id.Index)
			}
		}
		r.Proof, err = nodes.Rehash(hs, hasher.HashChildren)
		return err
	})
	if err != nil {
		return nil, err
	}
	r.Sig = ed25519.Sign(key, rootMessage(r.Consortium, r.TreeSize, r.Root))
	return r, nil
}

// VerifyReceipt checks a receipt offline against the signing node's public key
// (from the validating-node table the verifier trusts).
func VerifyReceipt(r *Receipt, nodeKey ed25519.PublicKey) error {
	if len(nodeKey) != ed25519.PublicKeySize || !ed25519.Verify(nodeKey, rootMessage(r.Consortium, r.TreeSize, r.Root), r.Sig) {
		return fmt.Errorf("%w: root signature", ErrBadReceipt)
	}
	if err := proof.VerifyInclusion(hasher, r.Seqno, r.TreeSize, hasher.HashLeaf(r.Record), r.Proof, r.Root); err != nil {
		return fmt.Errorf("%w: %v", ErrBadReceipt, err)
	}
	return nil
}

// dump writes the whole database for a raft snapshot.
func (s *store) dump() ([]byte, error) {
	var buf bytes.Buffer
	err := s.view(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(&buf)
		return err
	})
	return buf.Bytes(), err
}

// install replaces the database with a snapshot's.
func (s *store) install(data []byte) error {
	tmp := s.path + ".snap"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("consortium: write snapshot state: %w", err)
	}
	if f, err := os.Open(tmp); err == nil {
		f.Sync()
		f.Close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		s.db.Close()
		s.db = nil
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("consortium: install snapshot state: %w", err)
	}
	if err := s.open(); err != nil {
		return err
	}
	return nil
}
