package consortium

import (
	"encoding/hex"
	"testing"
)

// TestWirePinned pins the bytes members sign and the log carries: a change
// of field names, order or encoding options breaks every signature and log
// already written, so it must be a new version, not an accident.
func TestWirePinned(t *testing.T) {
	cases := []struct {
		name string
		v    any
		want string
	}{
		{"GovBody ballot", GovBody{Consortium: []byte{1, 2}, Op: OpBallot, Proposal: []byte{3}, Approve: true}, "a4624f706662616c6c6f7467417070726f7665f56850726f706f73616c41036a436f6e736f727469756d420102"},
		{"GovBody proposal", GovBody{Consortium: []byte{1}, Op: OpPropose, Nonce: []byte{9}, Actions: []Action{{Kind: ActAllowEnv, Env: "x"}, {Kind: ActRemoveNode, NodeID: 7}}}, "a4624f706770726f706f7365654e6f6e6365410967416374696f6e7382a263456e766178644b696e6469616c6c6f775f656e76a2644b696e646b72656d6f76655f6e6f6465664e6f64654944076a436f6e736f727469756d4101"},
		{"entry txn", entry{V: 1, Req: []byte{1}, Time: 2, Txn: &Txn{Caller: "c", Reads: []Read{{Table: "t", Key: []byte("k"), Version: 3}}, Writes: []Write{{Table: "t", Key: []byte("k"), Value: []byte("v")}}}}, "a46156016352657141016354786ea365526561647381a3634b6579416b655461626c6561746756657273696f6e036643616c6c657261636657726974657381a4634b6579416b655461626c6561746556616c756541766644656c657465f46454696d6502"},
		{"record", record{Seqno: 1, Kind: "txn", Entry: []byte{0xa0}, Outcome: "x"}, "a4644b696e646374786e65456e74727941a0655365716e6f01674f7574636f6d656178"},
	}
	for _, c := range cases {
		b, err := encMode.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(b); got != c.want {
			t.Errorf("%s encodes as\n%s\nwant\n%s", c.name, got, c.want)
		}
	}
}
