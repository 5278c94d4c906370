package daemon

import (
	"reflect"
	"testing"

	"github.com/coconet/coconet/consortium"
)

// TestWireConsortium: an action (with its node) survives the API's types
// both ways. set_policy's Policy is not in the API yet.
func TestWireConsortium(t *testing.T) {
	a := consortium.Action{Kind: consortium.ActAddNode, Cert: []byte{1}, ID: "m", NodeID: 7, Hash: []byte{2}, Env: "e",
		Node: &consortium.NodeInfo{ID: 9, PubKey: []byte{3}, CodeHash: []byte{4}, Env: "software", Addr: "12D3"}}
	if got := unwireConsAction(wireConsAction(a)); !reflect.DeepEqual(got, a) {
		t.Fatalf("action through the API = %+v, want %+v", got, a)
	}
	r := &consortium.Receipt{Consortium: []byte{1}, Seqno: 2, Record: []byte{3}, TreeSize: 4, Root: []byte{5}, Proof: [][]byte{{6}}, Node: 7, Sig: []byte{8}}
	w := wireReceipt(r)
	back := &consortium.Receipt{Consortium: w.Consortium, Seqno: w.Seqno, Record: w.Record, TreeSize: w.TreeSize, Root: w.Root, Proof: w.Proof, Node: w.Node, Sig: w.Sig}
	if !reflect.DeepEqual(back, r) {
		t.Fatalf("receipt through the API = %+v, want %+v", back, r)
	}
}
