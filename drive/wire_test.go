package drive

import (
	"encoding/hex"
	"testing"
)

// TestWirePinned pins the encodings peers and disks exchange: a change
// here is a protocol or format change (Protocol's version, or a new
// optional field).
func TestWirePinned(t *testing.T) {
	w := WriterID{0xaa}
	root := SignedRoot{Drive: Address{1}, Writer: w, Size: 2, Root: Hash{0xbb}, Sig: []byte{1, 2}}
	for name, v := range map[string]any{
		"end":   &msg{T: tEnd},
		"hello": &msg{T: tHello, Hello: &hello{V: 1, Drive: Address{1}, Heads: []SignedRoot{root}}},
		"entry": Entry{Refs: []Hash{{0xcc}}, Sealed: []byte{9}, Epoch: 1},
		"op":    Op{Kind: opPut, Path: "a", VV: VV{{w, 1}}, MTime: 5, Size: 1, Chunks: []Hash{{0xcc}}},
	} {
		b, err := encMode.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(b); got != pinned[name] {
			t.Errorf("%s encodes as\n%s\nwant\n%s", name, got, pinned[name])
		}
	}
	if got := hex.EncodeToString(rootMessage(root.Drive, w, 2, root.Root)); got != pinned["root message"] {
		t.Errorf("root message = %s", got)
	}
}

var pinned = map[string]string{
	"end":          "a10104",
	"hello":        "a2010102a3010102582001000000000000000000000000000000000000000000000000000000000000000381a50158200100000000000000000000000000000000000000000000000000000000000000025820aa000000000000000000000000000000000000000000000000000000000000000302045820bb0000000000000000000000000000000000000000000000000000000000000005420102",
	"entry":        "a301815820cc000000000000000000000000000000000000000000000000000000000000000241090301",
	"op":           "a601010261610381a2015820aa0000000000000000000000000000000000000000000000000000000000000002010605070108815820cc00000000000000000000000000000000000000000000000000000000000000",
	"root message": "636f636f6e65742f76312f64726976652d726f6f74000100000000000000000000000000000000000000000000000000000000000000aa000000000000000000000000000000000000000000000000000000000000000000000000000002bb00000000000000000000000000000000000000000000000000000000000000",
}
