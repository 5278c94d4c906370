package drive

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/coconet/coconet/internal/atomicfile"
)

// Bounds on what a store accepts. They bound what a peer can make a replica
// hold in memory for one block or one message.
const (
	// MaxBlock is the largest log block (an encoded Entry).
	MaxBlock = 256 << 10
	// MaxRefs is the most chunk references one entry may carry.
	MaxRefs = 4096
	// MaxChunk is the largest stored chunk (ciphertext).
	MaxChunk = ChunkMax + chunkOverhead
)

// StoreOptions tune OpenStore. The zero value accepts every writer and has
// no quota.
type StoreOptions struct {
	// AllowWriter says whether blocks of a writer may be stored (the
	// group's allow-list). Nil allows every writer.
	AllowWriter func(WriterID) bool
	// MaxBytes bounds the bytes of logs and chunks held; 0 is no bound.
	MaxBytes int64
	// Logf reports recoveries (a torn tail cut off). Nil discards.
	Logf func(format string, args ...any)

	noSync bool // tests: skip fsync
}

// Store holds the logs and chunks of one drive in a directory. It verifies
// everything it stores and holds no key: it is what a blind replicator
// runs, and what a member's Drive sits on. It is safe for concurrent use.
type Store struct {
	dir  string
	addr Address
	opts StoreOptions

	mu     sync.Mutex // guards all following fields
	logs   map[WriterID]*wlog
	forks  map[WriterID]ForkProof
	chunks map[Hash]int64 // held chunks and their sizes
	refs   map[Hash]bool  // every chunk referenced by a held block
	used   int64
	closed bool
}

// wlog is one writer's log: blocks in memory, records in a file.
type wlog struct {
	f      *os.File
	blocks [][]byte
	sigs   map[uint64][]byte // signature of the root at each signed size
	t      *tree
	head   SignedRoot
}

// Files inside a store directory.
const (
	logsDir   = "logs"   // <writer hex>.log: the records of each writer's log
	chunksDir = "chunks" // <2 hex>/<hex>: chunks by SHA-256 of their bytes
	forksDir  = "forks"  // <writer hex>.fork: the ForkProof of a writer, CBOR
	addrFile  = "drive"  // the drive's address, hex
)

// A log file is a sequence of records: a 4-byte big-endian body length, the
// CRC-32C of the body, and the body: a flag byte (1: a signature follows),
// the writer's 64-byte signature over the root after this block when
// flagged, and the block. Every record a writer appends is signed; a batch
// received from a peer has its last record signed. On open, the file is cut
// after the last complete record whose signature verifies: a crash mid-write
// loses only what was never acknowledged.
const recHeader = 8

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func appendRecord(dst, block, sig []byte) []byte {
	body := make([]byte, 0, 1+len(sig)+len(block))
	if sig != nil {
		body = append(body, 1)
		body = append(body, sig...)
	} else {
		body = append(body, 0)
	}
	body = append(body, block...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(body, crcTable))
	return append(dst, body...)
}

// OpenStore opens (creating if needed) the store of drive addr in dir.
func OpenStore(dir string, addr Address, opts StoreOptions) (*Store, error) {
	for _, d := range []string{logsDir, chunksDir, forksDir} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("drive: open store: %w", err)
		}
	}
	s := &Store{dir: dir, addr: addr, opts: opts,
		logs: make(map[WriterID]*wlog), forks: make(map[WriterID]ForkProof),
		chunks: make(map[Hash]int64), refs: make(map[Hash]bool)}
	if s.opts.Logf == nil {
		s.opts.Logf = func(string, ...any) {}
	}
	af := filepath.Join(dir, addrFile)
	if b, err := os.ReadFile(af); err == nil {
		if string(bytes.TrimSpace(b)) != addr.String() {
			return nil, fmt.Errorf("%w: %s holds drive %s", ErrWrongDrive, dir, bytes.TrimSpace(b))
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		if err := s.writeFile(af, []byte(addr.String()+"\n")); err != nil {
			return nil, fmt.Errorf("drive: open store: %w", err)
		}
	} else {
		return nil, fmt.Errorf("drive: open store: %w", err)
	}
	if err := s.load(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) load() error {
	ents, err := os.ReadDir(filepath.Join(s.dir, logsDir))
	if err != nil {
		return fmt.Errorf("drive: open store: %w", err)
	}
	for _, e := range ents {
		var w WriterID
		name, ok := cutSuffix(e.Name(), ".log")
		if !ok || decodeHex(w[:], name) != nil {
			continue
		}
		l, err := s.openLog(w)
		if err != nil {
			return err
		}
		s.logs[w] = l
	}
	ents, err = os.ReadDir(filepath.Join(s.dir, forksDir))
	if err != nil {
		return fmt.Errorf("drive: open store: %w", err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(s.dir, forksDir, e.Name()))
		if err != nil {
			return fmt.Errorf("drive: open store: %w", err)
		}
		var p ForkProof
		if err := unmarshal(b, &p); err != nil || p.Verify(s.addr) != nil {
			s.opts.Logf("drive: ignoring unreadable fork proof %s", e.Name())
			continue
		}
		s.forks[p.A.Writer] = p
	}
	return filepath.WalkDir(filepath.Join(s.dir, chunksDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		var h Hash
		if decodeHex(h[:], d.Name()) != nil {
			os.Remove(p) // a temporary file of an interrupted write
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		s.chunks[h] = fi.Size()
		s.used += fi.Size()
		return nil
	})
}

func (s *Store) logPath(w WriterID) string {
	return filepath.Join(s.dir, logsDir, w.String()+".log")
}

// openLog reads a log file, cuts a torn or unverifiable tail, and leaves
// the file open for appending.
func (s *Store) openLog(w WriterID) (*wlog, error) {
	path := s.logPath(w)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("drive: open log %s: %w", w.Short(), err)
	}
	l := &wlog{t: newTree(), sigs: make(map[uint64][]byte)}
	type signed struct {
		size uint64
		end  int64
		sig  []byte
	}
	var sigs []signed
	off := 0
	for off+recHeader <= len(data) {
		n := int(binary.BigEndian.Uint32(data[off:]))
		sum := binary.BigEndian.Uint32(data[off+4:])
		if n < 1 || n > 1+ed25519.SignatureSize+MaxBlock || off+recHeader+n > len(data) {
			break
		}
		body := data[off+recHeader : off+recHeader+n]
		if crc32.Checksum(body, crcTable) != sum {
			break
		}
		var sig []byte
		block := body[1:]
		if body[0] == 1 {
			if len(block) < ed25519.SignatureSize {
				break
			}
			sig, block = block[:ed25519.SignatureSize], block[ed25519.SignatureSize:]
		}
		l.blocks = append(l.blocks, block)
		l.t.appendLeaf(leafHash(block))
		off += recHeader + n
		if sig != nil {
			sigs = append(sigs, signed{uint64(len(l.blocks)), int64(off), sig})
		}
	}
	// Keep everything up to the last signature that verifies.
	var keep int64
	var size uint64
	for i := len(sigs) - 1; i >= 0; i-- {
		r := SignedRoot{Drive: s.addr, Writer: w, Size: sigs[i].size, Root: l.t.root(sigs[i].size), Sig: sigs[i].sig}
		if r.Verify(s.addr) == nil {
			l.head, keep, size = r, sigs[i].end, sigs[i].size
			for _, sg := range sigs[:i+1] {
				l.sigs[sg.size] = sg.sig
			}
			break
		}
	}
	if keep != int64(len(data)) {
		s.opts.Logf("drive: log %s: cut %d bytes of torn or unsigned tail after block %d", w.Short(), int64(len(data))-keep, size)
		if err := os.Truncate(path, keep); err != nil {
			return nil, fmt.Errorf("drive: open log %s: %w", w.Short(), err)
		}
		l.blocks = l.blocks[:size]
		l.t.truncate(size)
	}
	if size == 0 {
		l.head = SignedRoot{Drive: s.addr, Writer: w, Root: l.t.root(0)}
	}
	for _, b := range l.blocks {
		e, err := decodeEntry(b)
		if err != nil {
			return nil, fmt.Errorf("drive: open log %s: %w", w.Short(), err)
		}
		for _, r := range e.Refs {
			s.refs[r] = true
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("drive: open log %s: %w", w.Short(), err)
	}
	l.f = f
	s.used += keep
	return l, nil
}

// Close closes the log files. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var first error
	for _, l := range s.logs {
		if err := l.f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Address returns the drive the store holds.
func (s *Store) Address() Address { return s.addr }

// Heads returns the latest signed root of every writer held, ordered by
// writer.
func (s *Store) Heads() []SignedRoot {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SignedRoot, 0, len(s.logs))
	for _, l := range s.logs {
		if l.head.Size > 0 {
			out = append(out, l.head)
		}
	}
	slices.SortFunc(out, func(a, b SignedRoot) int { return bytes.Compare(a.Writer[:], b.Writer[:]) })
	return out
}

// Head returns the latest signed root of w (Size 0 if none is held).
func (s *Store) Head(w WriterID) SignedRoot {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.logs[w]; l != nil {
		return l.head
	}
	return SignedRoot{Drive: s.addr, Writer: w, Root: rootOfRange(nil, 0)}
}

// Blocks returns blocks [from, to) of w's log (to is clipped to its size).
func (s *Store) Blocks(w WriterID, from, to uint64) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.logs[w]
	if l == nil || from >= l.head.Size {
		return nil
	}
	to = min(to, l.head.Size)
	return slices.Clone(l.blocks[from:to])
}

// Inclusion returns w's head and the proof that block i is in it.
func (s *Store) Inclusion(w WriterID, i uint64) (SignedRoot, []byte, [][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.logs[w]
	if l == nil || i >= l.head.Size {
		return SignedRoot{}, nil, nil, fmt.Errorf("%w: block %d of %s", ErrNotFound, i, w.Short())
	}
	p, err := l.t.inclusion(i, l.head.Size)
	return l.head, l.blocks[i], p, err
}

// Consistency returns the proof that w's log at size n is a prefix of its
// head.
func (s *Store) Consistency(w WriterID, n uint64) (SignedRoot, [][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.logs[w]
	if l == nil || n > l.head.Size {
		return SignedRoot{}, nil, fmt.Errorf("%w: size %d of %s", ErrNotFound, n, w.Short())
	}
	p, err := l.t.consistency(n, l.head.Size)
	return l.head, p, err
}

// Forks returns the fork proofs held, one per forked writer.
func (s *Store) Forks() []ForkProof {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ForkProof, 0, len(s.forks))
	for _, p := range s.forks {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b ForkProof) int { return bytes.Compare(a.A.Writer[:], b.A.Writer[:]) })
	return out
}

// AddFork verifies and keeps a fork proof received from a peer.
func (s *Store) AddFork(p ForkProof) error {
	if err := p.Verify(s.addr); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addForkLocked(p)
}

func (s *Store) addForkLocked(p ForkProof) error {
	if _, ok := s.forks[p.A.Writer]; ok {
		return nil
	}
	b, err := encMode.Marshal(p)
	if err != nil {
		return err
	}
	if err := s.writeFile(filepath.Join(s.dir, forksDir, p.A.Writer.String()+".fork"), b); err != nil {
		return fmt.Errorf("drive: keep fork proof: %w", err)
	}
	s.forks[p.A.Writer] = p
	return nil
}

func (s *Store) writeFile(path string, b []byte) error {
	if s.opts.noSync {
		return os.WriteFile(path, b, 0o600)
	}
	return atomicfile.Write(path, b, 0o600)
}

// Forked reports whether w is known to have forked its log.
func (s *Store) Forked(w WriterID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.forks[w]
	return ok
}

func (s *Store) logLocked(w WriterID) (*wlog, error) {
	if s.closed {
		return nil, ErrClosed
	}
	// Checked on every write, not only the first: a member removed
	// from the allow-list keeps what it wrote before and nothing after.
	if s.opts.AllowWriter != nil && !s.opts.AllowWriter(w) {
		return nil, fmt.Errorf("%w: writer %s", ErrNotAllowed, w.Short())
	}
	if l := s.logs[w]; l != nil {
		return l, nil
	}
	f, err := os.OpenFile(s.logPath(w), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("drive: create log %s: %w", w.Short(), err)
	}
	if !s.opts.noSync {
		if err := atomicfile.SyncDir(filepath.Join(s.dir, logsDir)); err != nil {
			f.Close()
			return nil, fmt.Errorf("drive: create log %s: %w", w.Short(), err)
		}
	}
	l := &wlog{f: f, t: newTree(), sigs: make(map[uint64][]byte), head: SignedRoot{Drive: s.addr, Writer: w, Root: rootOfRange(nil, 0)}}
	s.logs[w] = l
	return l, nil
}

// writeLocked appends records to l's file durably, or leaves l as it was.
func (s *Store) writeLocked(l *wlog, recs []byte, blocks [][]byte, head SignedRoot) error {
	if s.opts.MaxBytes > 0 && s.used+int64(len(recs)) > s.opts.MaxBytes {
		return fmt.Errorf("%w: %d of %d bytes used", ErrQuota, s.used, s.opts.MaxBytes)
	}
	fi, err := l.f.Stat()
	if err != nil {
		return fmt.Errorf("drive: append: %w", err)
	}
	_, err = l.f.Write(recs)
	if err == nil && !s.opts.noSync {
		err = l.f.Sync()
	}
	if err != nil {
		l.f.Truncate(fi.Size())
		l.t.truncate(l.head.Size)
		return fmt.Errorf("drive: append to log %s: %w", head.Writer.Short(), err)
	}
	s.used += int64(len(recs))
	l.blocks = append(l.blocks, blocks...)
	l.head = head
	l.sigs[head.Size] = head.Sig
	for _, b := range blocks {
		e, _ := decodeEntry(b)
		for _, r := range e.Refs {
			s.refs[r] = true
		}
	}
	return nil
}

// Append adds one block to the log of key's writer, signs the new root and
// returns it once the block is on disk.
func (s *Store) Append(key ed25519.PrivateKey, block []byte) (SignedRoot, error) {
	if _, err := decodeEntry(block); err != nil {
		return SignedRoot{}, err
	}
	w := WriterOf(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.forks[w]; ok {
		return SignedRoot{}, fmt.Errorf("%w: %s", ErrForked, w.Short())
	}
	l, err := s.logLocked(w)
	if err != nil {
		return SignedRoot{}, err
	}
	l.t.appendLeaf(leafHash(block))
	head := signRoot(key, s.addr, l.head.Size+1, l.t.root(l.head.Size+1))
	if err := s.writeLocked(l, appendRecord(nil, block, head.Sig), [][]byte{block}, head); err != nil {
		return SignedRoot{}, err
	}
	return head, nil
}

// AppendBatch adds blocks to the log of key's writer, each record signed,
// all written at once and made durable with one fsync (a group commit),
// and returns the new head once they are on disk. Nothing of them is
// acknowledged before; a crash loses them all or keeps a signed prefix.
func (s *Store) AppendBatch(key ed25519.PrivateKey, blocks [][]byte) (SignedRoot, error) {
	for _, b := range blocks {
		if _, err := decodeEntry(b); err != nil {
			return SignedRoot{}, err
		}
	}
	w := WriterOf(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.forks[w]; ok {
		return SignedRoot{}, fmt.Errorf("%w: %s", ErrForked, w.Short())
	}
	l, err := s.logLocked(w)
	if err != nil {
		return SignedRoot{}, err
	}
	if len(blocks) == 0 {
		return l.head, nil
	}
	var recs []byte
	var head SignedRoot
	sigs := make(map[uint64][]byte, len(blocks))
	for i, b := range blocks {
		n := l.head.Size + uint64(i) + 1
		l.t.appendLeaf(leafHash(b))
		head = signRoot(key, s.addr, n, l.t.root(n))
		sigs[n] = head.Sig
		recs = appendRecord(recs, b, head.Sig)
	}
	if err := s.writeLocked(l, recs, blocks, head); err != nil {
		return SignedRoot{}, err
	}
	for n, sig := range sigs {
		l.sigs[n] = sig
	}
	return head, nil
}

// Batch is a run of blocks of one writer's log with what verifies them: the
// writer's signed root after the last block, and the hashes of the perfect
// subtrees covering the blocks before From (at most 64), so that a replica
// holding From blocks checks both that the blocks hash to the root and that
// its own blocks are their prefix.
type Batch struct {
	Root   SignedRoot `cbor:"1,keyasint"`
	From   uint64     `cbor:"2,keyasint"`
	Prefix [][]byte   `cbor:"3,keyasint"`
	Blocks [][]byte   `cbor:"4,keyasint"`
}

// BatchFrom returns the blocks of w's log after from, at most max of them
// and about maxBytes, with the proof a receiver needs. ok is false when
// there is nothing after from.
func (s *Store) BatchFrom(w WriterID, from uint64, max int, maxBytes int) (Batch, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.logs[w]
	if l == nil || from >= l.head.Size {
		return Batch{}, false
	}
	// End at the furthest signed size within the bounds, or at the first
	// signed size past from if even that is over them.
	to, n := uint64(0), 0
	for i := from; i < l.head.Size; i++ {
		n += len(l.blocks[i])
		if _, ok := l.sigs[i+1]; ok {
			if to != 0 && (int(i+1-from) > max || n > maxBytes) {
				break
			}
			to = i + 1
		}
	}
	root := SignedRoot{Drive: s.addr, Writer: w, Size: to, Root: l.t.root(to), Sig: l.sigs[to]}
	return Batch{Root: root, From: from, Prefix: l.t.rangeHashes(0, from), Blocks: slices.Clone(l.blocks[from:to])}, true
}

// AddBatch verifies a batch and appends the blocks this store lacks. A
// batch whose blocks do not hash to its signed root is refused with
// ErrTampered; one that shows the writer rewrote what this store holds
// records a ForkProof and returns ErrForked.
func (s *Store) AddBatch(b Batch) error {
	w := b.Root.Writer
	if err := b.Root.Verify(s.addr); err != nil {
		return err
	}
	if uint64(len(b.Blocks)) != b.Root.Size-b.From || b.From > b.Root.Size {
		return fmt.Errorf("%w: batch of %d blocks from %d to a root of size %d", ErrMalformed, len(b.Blocks), b.From, b.Root.Size)
	}
	leaves := make([][]byte, len(b.Blocks))
	for i, blk := range b.Blocks {
		if _, err := decodeEntry(blk); err != nil {
			return fmt.Errorf("block %d of %s: %w", b.From+uint64(i), w.Short(), err)
		}
		leaves[i] = leafHash(blk)
	}
	for _, h := range b.Prefix {
		if len(h) != HashSize {
			return fmt.Errorf("%w: prefix hash of %d bytes", ErrMalformed, len(h))
		}
	}
	root, _, err := extendRoot(b.Prefix, b.From, leaves)
	if err != nil {
		return fmt.Errorf("%w: batch prefix: %v", ErrMalformed, err)
	}
	if root != b.Root.Root {
		return fmt.Errorf("%w: blocks %d..%d of %s hash to %x, the signed root is %x", ErrTampered, b.From, b.Root.Size, w.Short(), root[:6], b.Root.Root[:6])
	}
	// The blocks are the writer's. Now: are they a continuation of ours?
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.forks[w]; ok {
		return fmt.Errorf("%w: %s", ErrForked, w.Short())
	}
	l, err := s.logLocked(w)
	if err != nil {
		return err
	}
	have := l.head.Size
	if b.From > have {
		return fmt.Errorf("%w: blocks of %s from %d, %d held", ErrGap, w.Short(), b.From, have)
	}
	// The batch's tree over [0, min(have, size)).
	n := min(have, b.Root.Size)
	rng, err := rangeFactory.NewRange(0, b.From, slices.Clone(b.Prefix))
	if err != nil {
		return fmt.Errorf("%w: batch prefix: %v", ErrMalformed, err)
	}
	for _, lf := range leaves[:n-b.From] {
		rng.Append(lf, nil)
	}
	var theirs Hash
	if n == 0 {
		theirs = rootOfRange(nil, 0)
	} else {
		r, _ := rng.GetRootHash(nil)
		theirs = Hash(r)
	}
	if theirs != l.t.root(n) {
		var p ForkProof
		if have <= b.Root.Size {
			rest := rangeFactory.NewEmptyRange(have)
			for _, lf := range leaves[have-b.From:] {
				rest.Append(lf, nil)
			}
			p = ForkProof{A: l.head, B: b.Root, Prefix: rng.Hashes(), Rest: rest.Hashes()}
			if have == b.Root.Size {
				p.Prefix, p.Rest = nil, nil
			}
		} else {
			p = ForkProof{A: b.Root, B: l.head, Prefix: l.t.rangeHashes(0, n), Rest: l.t.rangeHashes(n, have)}
		}
		if err := p.Verify(s.addr); err != nil {
			return fmt.Errorf("drive: fork proof of %s does not verify: %w", w.Short(), err)
		}
		if err := s.addForkLocked(p); err != nil {
			return err
		}
		return fmt.Errorf("%w: %s signed roots %d and %d that disagree", ErrForked, w.Short(), p.A.Size, p.B.Size)
	}
	if b.Root.Size <= have {
		return nil // nothing new
	}
	newBlocks := b.Blocks[have-b.From:]
	var recs []byte
	for i, blk := range newBlocks {
		var sig []byte
		if i == len(newBlocks)-1 {
			sig = b.Root.Sig
		}
		recs = appendRecord(recs, blk, sig)
		l.t.appendLeaf(leaves[int(have-b.From)+i])
	}
	return s.writeLocked(l, recs, newBlocks, b.Root)
}

// CheckRoot compares a root a peer announced with the log held here: a
// root of the same size with another hash, or a shorter one that is not a
// prefix of ours, is a fork, kept and returned as ErrForked. A longer root
// tells nothing until its blocks arrive.
func (s *Store) CheckRoot(r SignedRoot) error {
	if err := r.Verify(s.addr); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.logs[r.Writer]
	if l == nil || r.Size > l.head.Size || l.t.root(r.Size) == r.Root {
		return nil
	}
	var p ForkProof
	if r.Size == l.head.Size {
		p = ForkProof{A: l.head, B: r}
	} else {
		p = ForkProof{A: r, B: l.head, Prefix: l.t.rangeHashes(0, r.Size), Rest: l.t.rangeHashes(r.Size, l.head.Size)}
	}
	if err := s.addForkLocked(p); err != nil {
		return err
	}
	return fmt.Errorf("%w: %s signed roots %d and %d that disagree", ErrForked, r.Writer.Short(), p.A.Size, p.B.Size)
}

func (s *Store) chunkPath(h Hash) string {
	x := fmt.Sprintf("%x", h[:])
	return filepath.Join(s.dir, chunksDir, x[:2], x)
}

// PutChunk stores data under its SHA-256 and returns that address, on
// disk durably before it returns (a log entry acknowledged after it may
// need it).
func (s *Store) PutChunk(data []byte) (Hash, error) { return s.putChunk(data, true) }

// putChunk writes a chunk; not durable, it skips the fsyncs: a chunk
// received from a peer that a crash loses or tears is found on read (it
// no longer hashes to its address), dropped, and fetched again.
func (s *Store) putChunk(data []byte, durable bool) (Hash, error) {
	h, _, err := s.putChunkAs(data, durable)
	return h, err
}

// putChunkFresh writes a chunk without fsync and reports whether it was
// new (not held before).
func (s *Store) putChunkFresh(data []byte) (Hash, bool, error) { return s.putChunkAs(data, false) }

func (s *Store) putChunkAs(data []byte, durable bool) (h Hash, fresh bool, err error) {
	h = Hash(sha256.Sum256(data))
	if len(data) > MaxChunk {
		return h, false, fmt.Errorf("%w: chunk of %d bytes", ErrMalformed, len(data))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return h, false, ErrClosed
	}
	if _, ok := s.chunks[h]; ok {
		return h, false, nil
	}
	if s.opts.MaxBytes > 0 && s.used+int64(len(data)) > s.opts.MaxBytes {
		return h, false, fmt.Errorf("%w: %d of %d bytes used", ErrQuota, s.used, s.opts.MaxBytes)
	}
	p := s.chunkPath(h)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return h, false, fmt.Errorf("drive: put chunk: %w", err)
	}
	write := s.writeFile
	if !durable {
		write = writeQuick
	}
	if err := write(p, data); err != nil {
		return h, false, fmt.Errorf("drive: put chunk: %w", err)
	}
	s.chunks[h] = int64(len(data))
	s.used += int64(len(data))
	return h, true, nil
}

// syncEach fsyncs each file of paths and each of their directories.
func syncEach(paths []string) error {
	dirs := map[string]bool{}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return err
		}
		dirs[filepath.Dir(p)] = true
	}
	for d := range dirs {
		if err := atomicfile.SyncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// putChunks stores chunks written by this member for a batch (Drive's
// Batch): each is written without fsync, then all are made durable
// together, before the log entries that need them are appended.
func (s *Store) putChunks(chunks [][]byte) ([]Hash, error) {
	hs := make([]Hash, len(chunks))
	var paths []string
	for i, c := range chunks {
		h, fresh, err := s.putChunkFresh(c)
		if err != nil {
			return nil, err
		}
		hs[i] = h
		if fresh {
			paths = append(paths, s.chunkPath(h))
		}
	}
	if len(paths) == 0 || s.opts.noSync {
		return hs, nil
	}
	if err := s.syncChunks(paths); err != nil {
		return nil, fmt.Errorf("drive: put chunks: %w", err)
	}
	return hs, nil
}

// AddChunk stores a chunk received for address h, refusing bytes that do
// not hash to it.
func (s *Store) AddChunk(h Hash, data []byte) error {
	if Hash(sha256.Sum256(data)) != h {
		return fmt.Errorf("%w: chunk %x does not hash to its address", ErrTampered, h[:6])
	}
	_, err := s.putChunk(data, false)
	return err
}

// writeQuick replaces path with data by a rename, without fsync.
func writeQuick(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// Chunk returns the chunk at h, checked against its address: a chunk
// damaged on disk is not served.
func (s *Store) Chunk(h Hash) ([]byte, error) {
	s.mu.Lock()
	_, ok := s.chunks[h]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: chunk %x", ErrNotFound, h[:6])
	}
	b, err := os.ReadFile(s.chunkPath(h))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("drive: read chunk %x: %w", h[:6], err)
	}
	if err != nil || Hash(sha256.Sum256(b)) != h {
		// Lost or damaged (a crash after a quick write, or rot): forget
		// it, so that it counts as missing and is fetched again.
		s.mu.Lock()
		if n, ok := s.chunks[h]; ok {
			delete(s.chunks, h)
			s.used -= n
			os.Remove(s.chunkPath(h))
		}
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: chunk %x damaged on disk", ErrTampered, h[:6])
	}
	return b, nil
}

// HasChunk reports whether the chunk at h is held.
func (s *Store) HasChunk(h Hash) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.chunks[h]
	return ok
}

// MissingChunks returns the chunks referenced by held blocks and not held,
// sorted.
func (s *Store) MissingChunks() []Hash {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Hash
	for h := range s.refs {
		if _, ok := s.chunks[h]; !ok {
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(a, b Hash) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// Used returns the bytes of logs and chunks held.
func (s *Store) Used() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}
