package node

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

// tuser is a person with a seed and a ledger replica in its own directory.
type tuser struct {
	name string
	seed identity.Seed
	dir  string
	log  *ledger.Log
}

func newTUser(t *testing.T, name string) *tuser {
	t.Helper()
	s, err := identity.NewSeed()
	if err != nil {
		t.Fatal(err)
	}
	return &tuser{name: name, seed: s, dir: filepath.Join(t.TempDir(), name)}
}

func (u *tuser) id() identity.UserID { return u.seed.UserID() }

func (u *tuser) nodeKey(net ledger.NetworkID) [32]byte {
	return pubOf(u.seed.NodeKey(net, DefaultApp))
}

// bulk is a network whose owner wrote many put ops: built once per test
// binary (signing 50k ops takes a while) and copied into each test's
// directories.
type bulk struct {
	owner *tuser
	ops   []*ledger.Op // canonical order: genesis, owner's node, then puts
}

var (
	bulkOnce sync.Once
	bulkNet  *bulk
	bulkErr  error
)

// bulkOps is the number of put ops in the bulk network.
const bulkOps = 50_000

func getBulk(t *testing.T) *bulk {
	t.Helper()
	bulkOnce.Do(func() {
		start := time.Now()
		s, err := identity.NewSeed()
		if err != nil {
			bulkErr = err
			return
		}
		dir, err := os.MkdirTemp("", "coconet-bulk-")
		if err != nil {
			bulkErr = err
			return
		}
		defer os.RemoveAll(dir)
		o := &tuser{name: "alice", seed: s}
		l, err := ledger.Create(filepath.Join(dir, "ledger"), s.UserKey(), "alice", "big", "user")
		if err != nil {
			bulkErr = err
			return
		}
		if _, err := l.Append(s.UserKey(), ledger.Op{Kind: ledger.KindAddNode, Subject: o.id(), Node: o.nodeKey(l.Network()), SubjectName: DefaultApp}); err != nil {
			bulkErr = err
			return
		}
		ops := l.Ops()
		key := s.UserKey()
		base := time.Now().Add(-2 * time.Minute).UnixMilli()
		prev := ops[len(ops)-1]
		for i := range bulkOps {
			op := &ledger.Op{
				V: ledger.Version, Net: l.Network(), Parents: []ledger.ID{prev.ID()},
				Author: o.id(), Time: base + int64(i)/500, Kind: ledger.KindPut,
				Table: ledger.TableZone, Key: fmt.Sprintf("zone-%d", i%64),
				Value: []byte(fmt.Sprintf(`{"name":"zone number %d of the bulk network"}`, i)),
			}
			op.Sign(key)
			ops = append(ops, op)
			prev = op
		}
		bulkNet = &bulk{owner: o, ops: ops}
		fmt.Fprintf(os.Stderr, "bulk network of %d ops built in %v\n", len(ops), time.Since(start))
	})
	if bulkErr != nil {
		t.Fatal(bulkErr)
	}
	return bulkNet
}

// writeLedger stores ops (genesis first) as a ledger directory and opens it,
// the way a node that has them would: one file per op.
func writeLedger(t testing.TB, dir string, ops []*ledger.Op) *ledger.Log {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "ops"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		if err := os.WriteFile(filepath.Join(dir, "ops", op.ID().String()+".op"), op.Marshal(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "network"), []byte(ledger.NetworkID(ops[0].ID()).String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := l.Warnings(); len(w) > 0 {
		t.Fatalf("ledger.Open: %v", w)
	}
	return l
}

func TestMeasureBulk(t *testing.T) {
	b := getBulk(t)
	start := time.Now()
	l := writeLedger(t, filepath.Join(t.TempDir(), "l"), b.ops)
	t.Logf("write+open %d ops: %v", len(l.Ops()), time.Since(start))
	start = time.Now()
	l2, err := ledger.Init(filepath.Join(t.TempDir(), "l2"), b.ops[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(b.ops); i += 1000 {
		l2.AddAll(b.ops[i:min(i+1000, len(b.ops))])
		if i%10000 == 1 {
			t.Logf("%d: %v", i, time.Since(start))
		}
	}
	t.Logf("AddAll %d ops: %v", len(l2.Ops()), time.Since(start))
	_ = ed25519.PublicKey(nil)
}
