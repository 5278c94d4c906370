package wal

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func ent(term, index uint64, data string) *pb.Entry {
	return &pb.Entry{Term: proto.Uint64(term), Index: proto.Uint64(index), Type: pb.EntryNormal.Enum(), Data: []byte(data)}
}

func hs(term, vote, commit uint64) *pb.HardState {
	return &pb.HardState{Term: proto.Uint64(term), Vote: proto.Uint64(vote), Commit: proto.Uint64(commit)}
}

func indexes(es []*pb.Entry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.GetIndex())
	}
	return out
}

func reopen(t *testing.T, dir string) (*WAL, *State) {
	t.Helper()
	w, st, err := Open(dir)
	if err != nil {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
	t.Cleanup(func() { w.Close() })
	return w, st
}

func TestSaveReopen(t *testing.T) {
	dir := t.TempDir()
	w, _ := reopen(t, dir)
	if err := w.Save(hs(1, 1, 0), []*pb.Entry{ent(1, 1, "a"), ent(1, 2, "b"), ent(1, 3, "c")}, true); err != nil {
		t.Fatal(err)
	}
	// A new leader in term 2 overwrites index 3 onwards.
	if err := w.Save(hs(2, 2, 2), []*pb.Entry{ent(2, 3, "x"), ent(2, 4, "y")}, true); err != nil {
		t.Fatal(err)
	}
	w.Close()
	_, st := reopen(t, dir)
	if got := indexes(st.Entries); len(got) != 4 || got[3] != 4 {
		t.Fatalf("entries = %v, want 1..4", got)
	}
	if string(st.Entries[2].GetData()) != "x" || st.HardState.GetCommit() != 2 || st.HardState.GetTerm() != 2 {
		t.Fatalf("entry 3 = %q, hard state %v; want x, term 2 commit 2", st.Entries[2].GetData(), st.HardState)
	}
}

func TestTornTailTruncated(t *testing.T) {
	dir := t.TempDir()
	w, _ := reopen(t, dir)
	if err := w.Save(hs(1, 1, 1), []*pb.Entry{ent(1, 1, "a"), ent(1, 2, "b")}, true); err != nil {
		t.Fatal(err)
	}
	w.Close()
	seg := segPath(dir, 0)
	fi, _ := os.Stat(seg)
	// Cut the last record (the hard state) in half, as a crash mid-write does.
	if err := os.Truncate(seg, fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	w2, st := reopen(t, dir)
	if got := indexes(st.Entries); len(got) != 2 {
		t.Fatalf("entries after torn tail = %v, want [1 2]", got)
	}
	if st.HardState != nil {
		t.Fatalf("hard state = %v, want none (its record was torn)", st.HardState)
	}
	// Appending after the truncation gives a readable log.
	if err := w2.Save(hs(1, 1, 2), []*pb.Entry{ent(1, 3, "c")}, true); err != nil {
		t.Fatal(err)
	}
	w2.Close()
	_, st = reopen(t, dir)
	if got := indexes(st.Entries); len(got) != 3 || st.HardState.GetCommit() != 2 {
		t.Fatalf("entries = %v hs = %v, want 3 entries and commit 2", got, st.HardState)
	}
}

func TestCorruptMiddleSegment(t *testing.T) {
	dir := t.TempDir()
	w, _ := reopen(t, dir)
	if err := w.Save(nil, []*pb.Entry{ent(1, 1, "aaaa"), ent(1, 2, "bbbb")}, true); err != nil {
		t.Fatal(err)
	}
	if err := w.create(1); err != nil {
		t.Fatal(err)
	}
	if err := w.Save(nil, []*pb.Entry{ent(1, 3, "c")}, true); err != nil {
		t.Fatal(err)
	}
	w.Close()
	b, _ := os.ReadFile(segPath(dir, 0))
	b[12] ^= 0xff
	os.WriteFile(segPath(dir, 0), b, 0o600)
	if _, _, err := Open(dir); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open(corrupt first segment) = %v, want ErrCorrupt", err)
	}
}

func TestSnapshotCompacts(t *testing.T) {
	dir := t.TempDir()
	w, _ := reopen(t, dir)
	var es []*pb.Entry
	for i := uint64(1); i <= 10; i++ {
		es = append(es, ent(1, i, "e"))
	}
	if err := w.Save(hs(1, 1, 10), es, true); err != nil {
		t.Fatal(err)
	}
	snap := &pb.Snapshot{Data: []byte("state@7"), Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(7), Term: proto.Uint64(1), ConfState: &pb.ConfState{Voters: []uint64{1}}}}
	if err := w.SaveSnapshot(snap, hs(1, 1, 10), es[7:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Save(nil, []*pb.Entry{ent(1, 11, "f")}, true); err != nil {
		t.Fatal(err)
	}
	w.Close()
	segs, _ := segments(dir)
	if len(segs) != 1 {
		t.Fatalf("segments after snapshot = %v, want one", segs)
	}
	_, st := reopen(t, dir)
	if st.Snapshot.GetMetadata().GetIndex() != 7 || string(st.Snapshot.GetData()) != "state@7" {
		t.Fatalf("snapshot = %v", st.Snapshot)
	}
	if got := indexes(st.Entries); len(got) != 4 || got[0] != 8 || got[3] != 11 {
		t.Fatalf("entries = %v, want 8..11", got)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*.snap"))
	if len(names) != 1 {
		t.Fatalf("snapshots on disk = %v, want one", names)
	}
}

func FuzzDecode(f *testing.F) {
	dir := f.TempDir()
	w, _, err := Open(dir)
	if err != nil {
		f.Fatal(err)
	}
	w.Save(hs(3, 1, 2), []*pb.Entry{ent(1, 1, "a"), ent(2, 2, "hello")}, true)
	w.Close()
	seed, _ := os.ReadFile(segPath(dir, 0))
	f.Add(seed)
	f.Add(seed[:len(seed)-2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		st := &State{}
		off, err := Decode(data, func(typ byte, payload []byte) error {
			if typ == recEntry {
				e := &pb.Entry{}
				if err := proto.Unmarshal(payload, e); err != nil {
					return err
				}
				return appendEntry(st, e)
			}
			return nil
		})
		if off > len(data) || (err == nil && off != len(data)) {
			t.Fatalf("Decode = %d, %v over %d bytes", off, err, len(data))
		}
	})
}
