package drive

import (
	"testing"
)

func TestVV(t *testing.T) {
	a, b, c := WriterID{1}, WriterID{2}, WriterID{3}
	x := VV{{a, 1}, {b, 2}}
	for _, tc := range []struct {
		o    VV
		want int
	}{
		{VV{{a, 1}, {b, 2}}, vvEqual},
		{VV{{a, 1}, {b, 3}}, vvBefore},
		{VV{{a, 1}}, vvAfter},
		{VV{{a, 2}, {b, 1}}, vvConcurrent},
		{VV{{a, 1}, {b, 2}, {c, 1}}, vvBefore},
		{nil, vvAfter},
	} {
		if got := x.compare(tc.o); got != tc.want {
			t.Errorf("%v.compare(%v) = %d, want %d", x, tc.o, got, tc.want)
		}
	}
	if m := x.merge(VV{{a, 3}, {c, 5}}.merge(nil)); !m.valid() || m.get(a) != 3 || m.get(b) != 2 || m.get(c) != 5 {
		t.Fatalf("merge = %v", m)
	}
}

// FuzzApplyOp feeds the merge operations a member with a modified client
// could seal (any bytes that decode): they are refused by check or folded
// without panic, and the tree stays well-formed.
func FuzzApplyOp(f *testing.F) {
	w := WriterID{7}
	for _, op := range []Op{
		{Kind: opPut, Path: "a/b.txt", VV: VV{{w, 1}}, Size: 3, Chunks: []Hash{{1}}},
		{Kind: opRename, Path: "c", From: "a/b.txt", VV: VV{{w, 1}}, FromVV: VV{{w, 1}}},
		{Kind: opDelete, Path: "x", VV: VV{{WriterID{1}, 9}, {w, 1}}},
	} {
		b, _ := encMode.Marshal(op)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, plain []byte) {
		var op Op
		if unmarshal(plain, &op) != nil || op.check(w, 1) != nil {
			return
		}
		m := newMerger()
		m.apply(WriterID{1}, 1, &Op{Kind: opPut, Path: op.Path, VV: VV{{WriterID{1}, 1}}})
		m.apply(w, 1, &op)
		seen := map[string]bool{}
		for _, fi := range m.tree() {
			if seen[fi.Path] {
				t.Fatalf("path %q twice in the tree", fi.Path)
			}
			seen[fi.Path] = true
		}
	})
}
