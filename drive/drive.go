package drive

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/restic/chunker"
)

var chunkBufs = sync.Pool{New: func() any { b := make([]byte, ChunkMax); return &b }}

// Options tune Open.
type Options struct {
	// Now dates the files written. Nil means time.Now.
	Now func() time.Time
	// Logf reports operations skipped because they do not open with the
	// drive key or do not make sense. Nil discards.
	Logf func(format string, args ...any)
}

// Drive is a member's view of a drive: a Store with the drive's keys and
// the member's writer key. Its tree is the deterministic merge of every
// writer's log held in the store. It is safe for concurrent use.
type Drive struct {
	store *Store
	key   ed25519.PrivateKey
	w     WriterID
	opts  Options

	mu      sync.Mutex         // guards all following fields
	keys    map[uint32][]*Keys // an epoch may have several secrets: members that rotated at once
	secrets map[[32]byte]bool
	cur     uint32 // the epoch new writes use: the latest held
	m       *merger
	applied map[WriterID]uint64 // blocks of each writer folded into m
}

// Open opens the drive held in store with the drive's secret and the
// member's writer key (identity.Seed.DriveSecret and DriveWriterKey).
func Open(store *Store, secret [32]byte, key ed25519.PrivateKey, opts Options) (*Drive, error) {
	keys, err := NewKeys(store.Address(), secret)
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	d := &Drive{store: store, keys: map[uint32][]*Keys{0: {keys}}, secrets: map[[32]byte]bool{secret: true}, key: key, w: WriterOf(key), opts: opts,
		m: newMerger(), applied: make(map[WriterID]uint64)}
	d.Refresh()
	return d, nil
}

// AddEpoch gives the drive the content secret of a later key epoch (from
// Group.OpenEpoch or EpochKeys.Open); new writes use the latest epoch
// held, and operations of that epoch skipped so far are read again. An
// epoch may have several secrets (two members rotated the key at once):
// entries and chunks open with whichever of them sealed them; new writes
// use the first one added.
func (d *Drive) AddEpoch(epoch uint32, secret [32]byte) error {
	k, err := newKeys(d.store.Address(), epoch, secret)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.secrets[secret] {
		return nil
	}
	d.secrets[secret] = true
	d.keys[epoch] = append(d.keys[epoch], k)
	d.cur = max(d.cur, epoch)
	d.m, d.applied = newMerger(), make(map[WriterID]uint64)
	d.refreshLocked()
	return nil
}

// Epoch returns the key epoch new writes use.
func (d *Drive) Epoch() uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cur
}

// Store returns the store under the drive.
func (d *Drive) Store() *Store { return d.store }

// Writer returns the member's writer ID in this drive.
func (d *Drive) Writer() WriterID { return d.w }

// Refresh folds the blocks that arrived in the store since the last call
// (after a sync) into the tree. List, Stat and History refresh by
// themselves.
func (d *Drive) Refresh() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refreshLocked()
}

func (d *Drive) refreshLocked() {
	for _, h := range d.store.Heads() {
		from := d.applied[h.Writer]
		if from >= h.Size {
			continue
		}
		for i, b := range d.store.Blocks(h.Writer, from, h.Size) {
			seq := from + uint64(i) + 1
			if op, err := d.openEntry(h.Writer, seq, b); err != nil {
				d.opts.Logf("drive: skipping block %d of %s: %v", seq-1, h.Writer.Short(), err)
			} else {
				d.m.apply(h.Writer, seq, op)
			}
		}
		d.applied[h.Writer] = h.Size
	}
}

func (d *Drive) openEntry(w WriterID, seq uint64, block []byte) (*Op, error) {
	e, err := decodeEntry(block)
	if err != nil {
		return nil, err
	}
	ks := d.keys[e.Epoch]
	if ks == nil {
		return nil, fmt.Errorf("%w: sealed in key epoch %d", ErrNoKey, e.Epoch)
	}
	var plain []byte
	for _, k := range ks {
		if plain, err = k.openOp(w, e.Sealed); err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	var op Op
	if err := unmarshal(plain, &op); err != nil {
		return nil, err
	}
	if err := op.check(w, seq); err != nil {
		return nil, err
	}
	if !slices.Equal(dedupe(op.Chunks), e.Refs) {
		return nil, fmt.Errorf("%w: entry refs do not match the op's chunks", ErrMalformed)
	}
	return &op, nil
}

func dedupe(hs []Hash) []Hash {
	out := slices.Clone(hs)
	slices.SortFunc(out, func(a, b Hash) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(out)
}

// sealLocked seals op into a log block of the current epoch.
func (d *Drive) sealLocked(op *Op) ([]byte, error) {
	plain, err := encMode.Marshal(op)
	if err != nil {
		return nil, fmt.Errorf("drive: encode op: %w", err)
	}
	e := Entry{Refs: dedupe(op.Chunks), Sealed: d.keys[d.cur][0].sealOp(d.w, plain), Epoch: d.cur}
	if len(e.Refs) == 0 {
		e.Refs = nil
	}
	blk := encodeEntry(e)
	if len(blk) > MaxBlock {
		return nil, fmt.Errorf("%w: a file of %d chunks is more than one entry holds", ErrMalformed, len(op.Chunks))
	}
	return blk, nil
}

// appendLocked seals op, appends it to the member's log and folds it in.
func (d *Drive) appendLocked(op *Op) error {
	blk, err := d.sealLocked(op)
	if err != nil {
		return err
	}
	h, err := d.store.Append(d.key, blk)
	if err != nil {
		return err
	}
	d.m.apply(d.w, h.Size, op)
	d.applied[d.w] = h.Size
	return nil
}

// nextSeqLocked is the position the member's next op will take.
func (d *Drive) nextSeqLocked() uint64 {
	d.refreshLocked()
	return d.store.Head(d.w).Size + 1
}

// Put stores the content of r as path: it is cut into content-defined
// chunks, each sealed and stored once, and a put op is appended to the
// member's log.
func (d *Drive) Put(p string, r io.Reader) (FileInfo, error) {
	p, err := CleanPath(p)
	if err != nil {
		return FileInfo{}, err
	}
	var chunks []Hash
	var size int64
	d.mu.Lock()
	keys := d.keys[d.cur][0]
	d.mu.Unlock()
	c := chunker.NewWithBoundaries(r, keys.pol, ChunkMin, ChunkMax)
	buf := chunkBufs.Get().(*[]byte)
	defer chunkBufs.Put(buf)
	for {
		ch, err := c.Next(*buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return FileInfo{}, fmt.Errorf("drive: put %s: %w", p, err)
		}
		h, err := d.store.PutChunk(keys.sealChunk(ch.Data))
		if err != nil {
			return FileInfo{}, fmt.Errorf("drive: put %s: %w", p, err)
		}
		chunks = append(chunks, h)
		size += int64(ch.Length)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	seq := d.nextSeqLocked()
	op := &Op{Kind: opPut, Path: p, VV: d.m.clock(p).with(d.w, seq), MTime: d.opts.Now().UnixNano(), Size: size, Chunks: chunks, ChunkEpoch: keys.epoch}
	if err := d.appendLocked(op); err != nil {
		return FileInfo{}, err
	}
	return d.statLocked(p)
}

// Mark appends an entry that changes nothing, sealed in the current
// epoch: it lets a member that receives the epoch's secret check it
// (CheckSecret). Call it on creating a drive and on starting an epoch.
func (d *Drive) Mark() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	seq := d.nextSeqLocked()
	return d.appendLocked(&Op{Kind: opMark, VV: VV{{d.w, seq}}})
}

// WriteFile is Put of a byte slice.
func (d *Drive) WriteFile(p string, data []byte) (FileInfo, error) {
	return d.Put(p, bytes.NewReader(data))
}

// Remove deletes path. Removing a conflict copy resolves the conflict in
// favour of the file it lost to: the member re-asserts that file, which
// every replica then sees as newer than all the concurrent versions (so
// every conflict copy of that path goes).
func (d *Drive) Remove(p string) error {
	p, err := CleanPath(p)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refreshLocked()
	fi, err := d.statLocked(p)
	if err != nil {
		return err
	}
	if fi.ConflictOf != "" {
		return d.resolveLocked(fi.ConflictOf)
	}
	seq := d.nextSeqLocked()
	return d.appendLocked(&Op{Kind: opDelete, Path: p, VV: d.m.clock(p).with(d.w, seq), MTime: d.opts.Now().UnixNano()})
}

// Rename moves from to to (replacing what to held).
func (d *Drive) Rename(from, to string) error {
	from, err := CleanPath(from)
	if err != nil {
		return err
	}
	if to, err = CleanPath(to); err != nil {
		return err
	}
	if from == to {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refreshLocked()
	fi, err := d.statLocked(from)
	if err != nil {
		return err
	}
	if fi.ConflictOf != "" {
		// Keep the losing version under a name of one's own, and resolve.
		seq := d.nextSeqLocked()
		op := &Op{Kind: opPut, Path: to, VV: d.m.clock(to).with(d.w, seq), MTime: fi.MTime.UnixNano(), Size: fi.Size, Chunks: fi.chunks, ChunkEpoch: fi.epoch}
		if err := d.appendLocked(op); err != nil {
			return err
		}
		return d.resolveLocked(fi.ConflictOf)
	}
	seq := d.nextSeqLocked()
	return d.appendLocked(&Op{Kind: opRename, Path: to, From: from,
		VV: d.m.clock(to).with(d.w, seq), FromVV: d.m.clock(from).with(d.w, seq),
		MTime: d.opts.Now().UnixNano(), Size: fi.Size, Chunks: fi.chunks, ChunkEpoch: fi.epoch})
}

func (d *Drive) resolveLocked(p string) error {
	win, err := d.statLocked(p)
	if err != nil {
		return err
	}
	seq := d.nextSeqLocked()
	return d.appendLocked(&Op{Kind: opPut, Path: p, VV: d.m.clock(p).with(d.w, seq), MTime: win.MTime.UnixNano(), Size: win.Size, Chunks: win.chunks, ChunkEpoch: win.epoch})
}

// List returns every file, conflict copies included, sorted by path.
func (d *Drive) List() []FileInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refreshLocked()
	return d.m.tree()
}

// Conflicts returns the conflict copies.
func (d *Drive) Conflicts() []FileInfo {
	var out []FileInfo
	for _, f := range d.List() {
		if f.ConflictOf != "" {
			out = append(out, f)
		}
	}
	return out
}

// History returns every version of path the drive has seen (deletes
// included), oldest writer position first per writer.
func (d *Drive) History(p string) []FileInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refreshLocked()
	var out []FileInfo
	for _, v := range d.m.history[p] {
		out = append(out, v.info(p))
	}
	slices.SortFunc(out, func(a, b FileInfo) int {
		if c := a.MTime.Compare(b.MTime); c != 0 {
			return c
		}
		return bytes.Compare(a.Writer[:], b.Writer[:])
	})
	return out
}

// Stat describes path (a file or a conflict copy).
func (d *Drive) Stat(p string) (FileInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refreshLocked()
	return d.statLocked(p)
}

func (d *Drive) statLocked(p string) (FileInfo, error) {
	// A file always holds its own name; only a conflict copy needs the
	// whole tree.
	if fi, ok := d.m.file(p); ok {
		return fi, nil
	}
	for _, f := range d.m.tree() {
		if f.Path == p {
			return f, nil
		}
	}
	return FileInfo{}, fmt.Errorf("%w: %s", ErrNotFound, p)
}

// Missing returns the chunks path needs that the store does not hold yet
// (fetch them with FetchChunks).
func (d *Drive) Missing(p string) ([]Hash, error) {
	fi, err := d.Stat(p)
	if err != nil {
		return nil, err
	}
	var out []Hash
	for _, h := range dedupe(fi.chunks) {
		if !d.store.HasChunk(h) {
			out = append(out, h)
		}
	}
	return out, nil
}

// ReadFile returns the content of path, decrypted and checked.
func (d *Drive) ReadFile(p string) ([]byte, error) {
	var buf bytes.Buffer
	if err := d.Get(p, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Get writes the content of path to w, chunk by chunk.
func (d *Drive) Get(p string, w io.Writer) error {
	fi, err := d.Stat(p)
	if err != nil {
		return err
	}
	d.mu.Lock()
	keys := d.keys[fi.epoch]
	d.mu.Unlock()
	if len(keys) == 0 {
		return fmt.Errorf("drive: get %s: %w: chunks of key epoch %d", p, ErrNoKey, fi.epoch)
	}
	for _, h := range fi.chunks {
		sealed, err := d.store.Chunk(h)
		if err != nil {
			return fmt.Errorf("drive: get %s: %w", p, err)
		}
		var plain []byte
		for _, k := range keys {
			if plain, err = k.openChunk(sealed); err == nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("drive: get %s: %w", p, err)
		}
		if _, err := w.Write(plain); err != nil {
			return err
		}
	}
	return nil
}
