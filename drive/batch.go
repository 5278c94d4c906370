package drive

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/restic/chunker"
)

// PutBatch is a group of puts committed together: their chunks are made
// durable with one flush and their log entries with one fsync, instead of
// three syncs per file. Nothing of a batch is acknowledged before Commit
// returns; a crash before then loses the whole batch or a signed prefix
// of its entries, never an entry whose chunks are not on disk. A PutBatch is
// not safe for concurrent use; the drive stays usable while it fills.
type PutBatch struct {
	d    *Drive
	puts []batchPut
	raw  [][]byte // sealed chunks not written yet
	size int
}

type batchPut struct {
	path   string
	size   int64
	chunks []Hash
	epoch  uint32
}

// batchMemory is how many bytes of sealed chunks a batch holds in memory
// before it writes them (still without fsync) to the store.
const batchMemory = 32 << 20

// PutBatch starts a group of puts.
func (d *Drive) PutBatch() *PutBatch { return &PutBatch{d: d} }

// Put cuts r into chunks, seals and keeps them, and queues a put of path.
func (b *PutBatch) Put(p string, r io.Reader) error {
	p, err := CleanPath(p)
	if err != nil {
		return err
	}
	b.d.mu.Lock()
	keys := b.d.keys[b.d.cur][0]
	b.d.mu.Unlock()
	c := chunker.NewWithBoundaries(r, keys.pol, ChunkMin, ChunkMax)
	buf := chunkBufs.Get().(*[]byte)
	defer chunkBufs.Put(buf)
	bp := batchPut{path: p, epoch: keys.epoch}
	for {
		ch, err := c.Next(*buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("drive: put %s: %w", p, err)
		}
		sealed := keys.sealChunk(ch.Data)
		bp.chunks = append(bp.chunks, Hash(sha256.Sum256(sealed)))
		bp.size += int64(ch.Length)
		b.raw = append(b.raw, sealed)
		b.size += len(sealed)
	}
	b.puts = append(b.puts, bp)
	if b.size > batchMemory {
		return b.flushChunks()
	}
	return nil
}

// flushChunks writes the chunks held so far, durably.
func (b *PutBatch) flushChunks() error {
	if len(b.raw) == 0 {
		return nil
	}
	if _, err := b.d.store.putChunks(b.raw); err != nil {
		return err
	}
	b.raw, b.size = nil, 0
	return nil
}

// Len is the number of puts queued.
func (b *PutBatch) Len() int { return len(b.puts) }

// Commit makes the chunks durable, appends one entry per put with one
// fsync, and returns the files written. The batch is empty afterwards.
func (b *PutBatch) Commit() ([]FileInfo, error) {
	if err := b.flushChunks(); err != nil {
		return nil, err
	}
	d := b.d
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refreshLocked()
	next := d.store.Head(d.w).Size + 1
	blocks := make([][]byte, 0, len(b.puts))
	ops := make([]*Op, 0, len(b.puts))
	for i, bp := range b.puts {
		seq := next + uint64(i)
		op := &Op{Kind: opPut, Path: bp.path, VV: d.m.clock(bp.path).with(d.w, seq), MTime: d.opts.Now().UnixNano(), Size: bp.size, Chunks: bp.chunks, ChunkEpoch: bp.epoch}
		blk, err := d.sealLocked(op)
		if err != nil {
			d.m, d.applied = newMerger(), make(map[WriterID]uint64)
			d.refreshLocked()
			return nil, err
		}
		// Folded now so the next put of the same path sees it.
		d.m.apply(d.w, seq, op)
		blocks, ops = append(blocks, blk), append(ops, op)
	}
	if _, err := d.store.AppendBatch(d.key, blocks); err != nil {
		// Refold from the store: the ops applied above are not in it.
		d.m, d.applied = newMerger(), make(map[WriterID]uint64)
		d.refreshLocked()
		return nil, err
	}
	d.applied[d.w] = next - 1 + uint64(len(blocks))
	b.puts = nil
	byPath := make(map[string]FileInfo)
	for _, fi := range d.m.tree() {
		byPath[fi.Path] = fi
	}
	out := make([]FileInfo, 0, len(ops))
	for _, op := range ops {
		if fi, ok := byPath[op.Path]; ok {
			out = append(out, fi)
		}
	}
	return out, nil
}
