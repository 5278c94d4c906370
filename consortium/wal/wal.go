package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/coconet/coconet/internal/atomicfile"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// ErrCorrupt reports a record or snapshot that fails its checksum or does not
// parse, somewhere a crash cannot explain.
var ErrCorrupt = errors.New("wal: corrupt")

// MaxRecord bounds one record's payload (a snapshot travels outside records).
const MaxRecord = 64 << 20

const (
	recEntry     byte = 1
	recHardState byte = 2
)

// segmentBytes is the size past which Save starts a new segment.
const segmentBytes = 64 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// State is what Open read back from disk.
type State struct {
	HardState *pb.HardState // nil when none was saved
	Snapshot  *pb.Snapshot  // nil when none was saved
	Entries   []*pb.Entry   // the entries after the snapshot, in order
}

// WAL appends to the newest segment of a directory. It is not safe for
// concurrent use.
type WAL struct {
	dir  string
	seq  uint64
	f    *os.File
	w    *bufio.Writer
	size int64
}

// Open reads the directory back (creating it when missing) and opens its newest
// segment for appending.
func Open(dir string) (*WAL, *State, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("wal: create %s: %w", dir, err)
	}
	st := &State{}
	snap, err := loadSnapshot(dir)
	if err != nil {
		return nil, nil, err
	}
	st.Snapshot = snap
	var first uint64 = 1
	if snap != nil {
		first = snap.GetMetadata().GetIndex() + 1
	}
	segs, err := segments(dir)
	if err != nil {
		return nil, nil, err
	}
	for i, seq := range segs {
		last := i == len(segs)-1
		if err := replay(dir, seq, last, first, st); err != nil {
			return nil, nil, err
		}
	}
	w := &WAL{dir: dir}
	if len(segs) == 0 {
		if err := w.create(0); err != nil {
			return nil, nil, err
		}
		return w, st, nil
	}
	w.seq = segs[len(segs)-1]
	f, err := os.OpenFile(segPath(dir, w.seq), os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: open segment: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("wal: stat segment: %w", err)
	}
	w.f, w.w, w.size = f, bufio.NewWriterSize(f, 1<<16), fi.Size()
	return w, st, nil
}

func segPath(dir string, seq uint64) string {
	return filepath.Join(dir, fmt.Sprintf("wal-%016x.log", seq))
}

func segments(dir string) ([]uint64, error) {
	names, err := filepath.Glob(filepath.Join(dir, "wal-*.log"))
	if err != nil {
		return nil, err
	}
	var segs []uint64
	for _, n := range names {
		var seq uint64
		if _, err := fmt.Sscanf(filepath.Base(n), "wal-%016x.log", &seq); err == nil {
			segs = append(segs, seq)
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i] < segs[j] })
	return segs, nil
}

// replay reads one segment into st, keeping entries with index >= first. A bad
// tail of the last segment is truncated away.
func replay(dir string, seq uint64, last bool, first uint64, st *State) error {
	path := segPath(dir, seq)
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("wal: read segment: %w", err)
	}
	off, err := Decode(data, func(typ byte, payload []byte) error {
		switch typ {
		case recEntry:
			e := &pb.Entry{}
			if err := proto.Unmarshal(payload, e); err != nil {
				return fmt.Errorf("%w: entry: %v", ErrCorrupt, err)
			}
			if e.GetIndex() < first {
				return nil
			}
			return appendEntry(st, e)
		case recHardState:
			hs := &pb.HardState{}
			if err := proto.Unmarshal(payload, hs); err != nil {
				return fmt.Errorf("%w: hard state: %v", ErrCorrupt, err)
			}
			st.HardState = hs
			return nil
		default:
			return fmt.Errorf("%w: record type %d", ErrCorrupt, typ)
		}
	})
	if err != nil && !errors.Is(err, errTorn) {
		return fmt.Errorf("wal: segment %d: %w", seq, err)
	}
	if errors.Is(err, errTorn) {
		if !last {
			return fmt.Errorf("wal: segment %d at %d: %w", seq, off, ErrCorrupt)
		}
		if err := os.Truncate(path, int64(off)); err != nil {
			return fmt.Errorf("wal: truncate torn tail: %w", err)
		}
	}
	return nil
}

// appendEntry adds e to st.Entries; an entry at an index already held replaces
// it and everything after it (a new leader overwrote an uncommitted suffix).
func appendEntry(st *State, e *pb.Entry) error {
	n := len(st.Entries)
	if n == 0 {
		st.Entries = append(st.Entries, e)
		return nil
	}
	firstIdx := st.Entries[0].GetIndex()
	lastIdx := st.Entries[n-1].GetIndex()
	switch {
	case e.GetIndex() == lastIdx+1:
		st.Entries = append(st.Entries, e)
	case e.GetIndex() >= firstIdx && e.GetIndex() <= lastIdx:
		st.Entries = append(st.Entries[:e.GetIndex()-firstIdx], e)
	case e.GetIndex() < firstIdx:
		st.Entries = append(st.Entries[:0], e)
	default:
		return fmt.Errorf("%w: entry %d after %d leaves a gap", ErrCorrupt, e.GetIndex(), lastIdx)
	}
	return nil
}

var errTorn = errors.New("torn record")

// Decode calls fn for each whole record of data in order and returns the
// offset after the last good one. A record cut short or with a bad checksum
// stops it with an error wrapping errTorn; an error of fn stops it too.
func Decode(data []byte, fn func(typ byte, payload []byte) error) (int, error) {
	off := 0
	for off < len(data) {
		if len(data)-off < 9 {
			return off, errTorn
		}
		n := binary.LittleEndian.Uint32(data[off:])
		sum := binary.LittleEndian.Uint32(data[off+4:])
		if n == 0 || n > MaxRecord+1 || uint64(len(data)-off-8) < uint64(n) {
			return off, errTorn
		}
		body := data[off+8 : off+8+int(n)]
		if crc32.Checksum(body, crcTable) != sum {
			return off, errTorn
		}
		if err := fn(body[0], body[1:]); err != nil {
			return off, err
		}
		off += 8 + int(n)
	}
	return off, nil
}

func (w *WAL) create(seq uint64) error {
	f, err := os.OpenFile(segPath(w.dir, seq), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("wal: create segment: %w", err)
	}
	if err := atomicfile.SyncDir(w.dir); err != nil {
		f.Close()
		return fmt.Errorf("wal: sync dir: %w", err)
	}
	if w.f != nil {
		w.f.Close()
	}
	w.seq, w.f, w.w, w.size = seq, f, bufio.NewWriterSize(f, 1<<16), 0
	return nil
}

func (w *WAL) record(typ byte, m proto.Message) error {
	payload, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("wal: marshal: %w", err)
	}
	if len(payload) > MaxRecord {
		return fmt.Errorf("wal: record of %d bytes over %d", len(payload), MaxRecord)
	}
	var hdr [9]byte
	binary.LittleEndian.PutUint32(hdr[0:], uint32(len(payload)+1))
	hdr[8] = typ
	c := crc32.Update(0, crcTable, hdr[8:9])
	c = crc32.Update(c, crcTable, payload)
	binary.LittleEndian.PutUint32(hdr[4:], c)
	if _, err := w.w.Write(hdr[:]); err != nil {
		return fmt.Errorf("wal: write: %w", err)
	}
	if _, err := w.w.Write(payload); err != nil {
		return fmt.Errorf("wal: write: %w", err)
	}
	w.size += int64(len(hdr) + len(payload))
	return nil
}

// Save appends entries and the hard state (either may be empty) and, when sync
// is set, flushes them to stable storage before returning.
func (w *WAL) Save(hs *pb.HardState, ents []*pb.Entry, sync bool) error {
	for _, e := range ents {
		if err := w.record(recEntry, e); err != nil {
			return err
		}
	}
	if hs != nil && (hs.GetTerm() != 0 || hs.GetVote() != 0 || hs.GetCommit() != 0) {
		if err := w.record(recHardState, hs); err != nil {
			return err
		}
	}
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("wal: flush: %w", err)
	}
	if sync {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("wal: sync: %w", err)
		}
	}
	if w.size > segmentBytes {
		return w.create(w.seq + 1)
	}
	return nil
}

// SaveSnapshot writes snap to disk, then starts a new segment holding hs and
// the entries after the snapshot (retained), then deletes older segments and
// snapshots. A crash at any point leaves a directory Open reads correctly.
func (w *WAL) SaveSnapshot(snap *pb.Snapshot, hs *pb.HardState, retained []*pb.Entry) error {
	data, err := proto.Marshal(snap)
	if err != nil {
		return fmt.Errorf("wal: marshal snapshot: %w", err)
	}
	buf := make([]byte, 4+len(data))
	binary.LittleEndian.PutUint32(buf, crc32.Checksum(data, crcTable))
	copy(buf[4:], data)
	md := snap.GetMetadata()
	name := fmt.Sprintf("snap-%016x-%016x.snap", md.GetTerm(), md.GetIndex())
	if err := atomicfile.Write(filepath.Join(w.dir, name), buf, 0o600); err != nil {
		return fmt.Errorf("wal: write snapshot: %w", err)
	}
	old := w.seq
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("wal: flush: %w", err)
	}
	if err := w.create(old + 1); err != nil {
		return err
	}
	if err := w.Save(hs, retained, true); err != nil {
		return err
	}
	segs, err := segments(w.dir)
	if err != nil {
		return err
	}
	for _, s := range segs {
		if s <= old {
			os.Remove(segPath(w.dir, s))
		}
	}
	snaps, _ := filepath.Glob(filepath.Join(w.dir, "snap-*.snap"))
	for _, s := range snaps {
		if filepath.Base(s) != name {
			os.Remove(s)
		}
	}
	return atomicfile.SyncDir(w.dir)
}

func loadSnapshot(dir string) (*pb.Snapshot, error) {
	names, err := filepath.Glob(filepath.Join(dir, "snap-*.snap"))
	if err != nil {
		return nil, err
	}
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	for _, n := range names {
		if strings.Contains(filepath.Base(n), ".tmp") {
			continue
		}
		snap, err := readSnapshot(n)
		if err != nil {
			// An older snapshot is only there when the newer one's segments are
			// too; a bad newest snapshot is corruption.
			return nil, err
		}
		return snap, nil
	}
	return nil, nil
}

func readSnapshot(path string) (*pb.Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("wal: open snapshot: %w", err)
	}
	defer f.Close()
	buf, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("wal: read snapshot: %w", err)
	}
	if len(buf) < 4 || crc32.Checksum(buf[4:], crcTable) != binary.LittleEndian.Uint32(buf) {
		return nil, fmt.Errorf("wal: snapshot %s: %w", filepath.Base(path), ErrCorrupt)
	}
	snap := &pb.Snapshot{}
	if err := proto.Unmarshal(buf[4:], snap); err != nil {
		return nil, fmt.Errorf("wal: snapshot %s: %w: %v", filepath.Base(path), ErrCorrupt, err)
	}
	return snap, nil
}

// Close flushes and closes the open segment.
func (w *WAL) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.w.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	return err
}
