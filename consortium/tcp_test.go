package consortium

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestLoopbackCluster runs 3 and 5 nodes over real TCP connections on
// loopback: puts through every node, reads back from every node, and a
// restart of one node from disk.
func TestLoopbackCluster(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			ca := newCA(t, "org")
			m := issue(t, ca, "m", false)
			g := &Genesis{Name: "tcp", Members: [][]byte{m.Cert}, Code: [][]byte{testCode[:]}, Envs: []string{EnvSoftware}}
			keys := map[uint64]ed25519.PrivateKey{}
			trs := map[uint64]*TCPTransport{}
			for id := uint64(1); id <= uint64(size); id++ {
				_, k, _ := ed25519.GenerateKey(rand.Reader)
				keys[id] = k
				g.Nodes = append(g.Nodes, nodeInfo(id, k))
				tr, err := ListenTCP(id, "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				trs[id] = tr
				t.Cleanup(func() { tr.Close() })
			}
			for _, tr := range trs {
				for id, other := range trs {
					tr.SetPeer(id, other.Addr())
				}
			}
			dir := t.TempDir()
			nodes := map[uint64]*Node{}
			start := func(id uint64) {
				n, err := Start(Config{ID: id, Dir: filepath.Join(dir, fmt.Sprint(id)), Genesis: g, Key: keys[id], Transport: trs[id], TickInterval: 10 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				trs[id].Handle(n.Receive)
				nodes[id] = n
			}
			for id := range trs {
				start(id)
			}
			t.Cleanup(func() {
				for _, n := range nodes {
					n.Close()
				}
			})
			for i := 0; i < 3*size; i++ {
				n := nodes[uint64(i%size+1)]
				txn := put("t", fmt.Sprint("k", i), fmt.Sprint(i))
				txn.Caller = m.ID()
				if _, err := n.Transact(ctxT(t), txn); err != nil {
					t.Fatalf("Transact via node %d = %v", n.ID(), err)
				}
			}
			nodes[2].Close()
			start(2)
			for id, n := range nodes {
				kvs, err := n.Range(ctxT(t), "t", nil, nil, 0)
				if err != nil || len(kvs) != 3*size {
					t.Fatalf("node %d Range = %d keys, %v; want %d", id, len(kvs), err, 3*size)
				}
			}
		})
	}
}
