package consortium

import (
	"crypto/ed25519"
	"crypto/rand"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// FuzzApplyEntry feeds arbitrary log entries to the state machine: a leader
// may order any bytes, and every node must reach the same verdict without
// panicking.
func FuzzApplyEntry(f *testing.F) {
	ca := newCA(f, "org")
	m := issue(f, ca, "m", false)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	g := &Genesis{Name: "fuzz", Members: [][]byte{m.Cert}, CAs: [][]byte{ca.der}, Code: [][]byte{testCode[:]}, Envs: []string{EnvSoftware}, Nodes: []NodeInfo{nodeInfo(1, key)}}
	st, err := openStore(filepath.Join(f.TempDir(), "state.db"), g)
	if err != nil {
		f.Fatal(err)
	}
	st.db.NoSync = true // speed: durability is not what this fuzzes
	f.Cleanup(func() { st.close() })
	txn := put("t", "k", "v")
	txn.Caller = m.ID()
	e1, _ := encMode.Marshal(&entry{V: 1, Req: []byte("r1"), Time: 5, Txn: &txn})
	prop, _ := m.Propose(g.ID(), Action{Kind: ActAllowEnv, Env: "x"}, Action{Kind: ActAddNode, Node: ptr(nodeInfo(2, key))})
	e2, _ := encMode.Marshal(&entry{V: 1, Req: []byte("r2"), Time: 6, Gov: prop})
	ballot, _ := m.Ballot(g.ID(), ProposalID(prop), true)
	e3, _ := encMode.Marshal(&entry{V: 1, Req: []byte("r3"), Time: 7, Gov: ballot})
	for _, s := range [][]byte{e1, e2, e3, {0xa0}, nil} {
		f.Add(s)
	}
	var idx uint64
	f.Fuzz(func(t *testing.T, data []byte) {
		idx++
		err := st.db.Update(func(tx *bolt.Tx) error {
			_, _, _, err := st.applyEntry(tx, idx, data)
			return err
		})
		if err != nil {
			t.Fatalf("applyEntry storage error: %v", err)
		}
	})
}

// FuzzOpenSealed feeds arbitrary bytes where the log carries sealed secrets
// and values (a rekey's node copies and previous secret, private values):
// opening them must fail cleanly, never panic.
func FuzzOpenSealed(f *testing.F) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	s, _ := NewLedgerSecret()
	next, _ := NewLedgerSecret()
	var gid [32]byte
	k := &keyring{cur: s, first: s, byID: map[string]*LedgerSecret{s.id(): s}}
	sealed, _ := sealTo(key.Public(), s[:])
	f.Add(sealed)
	f.Add(s.seal(gid, "private.t", []byte("k"), []byte("v")))
	f.Add(next.sealPrev(gid, s))
	f.Add([]byte{1})
	f.Add([]byte{2, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		openSealed(key, b)
		k.open(gid, "private.t", []byte("k"), b)
		next.openPrev(gid, b)
	})
}
