package consortium

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"path/filepath"
	"testing"
	"time"
)

// testCode is the code hash every test node reports.
var testCode = sha256.Sum256([]byte("coconet consortium test binary"))

type testCA struct {
	cert *x509.Certificate
	der  []byte
	key  crypto.Signer
}

func newCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name, Organization: []string{name}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert, der, key}
}

// issue makes a member key and certificate signed by ca (self-signed when
// ca is nil), ECDSA P-256 or Ed25519.
func issue(t testing.TB, ca *testCA, name string, ed bool) *Member {
	t.Helper()
	var key crypto.Signer
	if ed {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		key = k
	} else {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		key = k
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	return &Member{Cert: der, Key: key}
}

type cluster struct {
	t       testing.TB
	net     *MemNetwork
	genesis *Genesis
	dirs    map[uint64]string
	keys    map[uint64]ed25519.PrivateKey
	nodes   map[uint64]*Node
	members []*Member
	ca      *testCA
	tick    time.Duration
	snapN   uint64
	commit  time.Duration // CommitInterval; 0: the default
	secret  *LedgerSecret
}

func nodeInfo(id uint64, key ed25519.PrivateKey) NodeInfo {
	return NodeInfo{ID: id, PubKey: key.Public().(ed25519.PublicKey), CodeHash: testCode[:], Env: EnvSoftware}
}

// newCluster starts n genesis nodes on a MemNetwork with members members
// (ECDSA certificates from one org CA).
func newCluster(t testing.TB, n, members int) *cluster {
	t.Helper()
	return newClusterWith(t, n, members, nil)
}

// newClusterWith lets setup change the genesis and the cluster before the
// nodes start.
func newClusterWith(t testing.TB, n, members int, setup func(c *cluster)) *cluster {
	t.Helper()
	c := &cluster{t: t, net: NewMemNetwork(), dirs: map[uint64]string{}, keys: map[uint64]ed25519.PrivateKey{},
		nodes: map[uint64]*Node{}, tick: 10 * time.Millisecond, snapN: 10000}
	ca := newCA(t, "org")
	g := &Genesis{Name: "bank", CAs: [][]byte{ca.der}, Code: [][]byte{testCode[:]}, Envs: []string{EnvSoftware}, Nonce: []byte(t.Name())}
	for i := 0; i < members; i++ {
		m := issue(t, ca, fmt.Sprintf("member%d", i), i%2 == 1)
		c.members = append(c.members, m)
		g.Members = append(g.Members, m.Cert)
	}
	for id := uint64(1); id <= uint64(n); id++ {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		c.keys[id] = k
		c.dirs[id] = filepath.Join(t.TempDir(), fmt.Sprint(id))
		g.Nodes = append(g.Nodes, nodeInfo(id, k))
	}
	c.genesis = g
	c.ca = ca
	if setup != nil {
		setup(c)
	}
	t.Cleanup(c.close)
	for id := uint64(1); id <= uint64(n); id++ {
		c.start(id, false)
	}
	return c
}

func (c *cluster) start(id uint64, join bool) *Node {
	c.t.Helper()
	if _, ok := c.keys[id]; !ok {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		c.keys[id] = k
		c.dirs[id] = filepath.Join(c.t.TempDir(), fmt.Sprint(id))
	}
	n, err := Start(Config{ID: id, Dir: c.dirs[id], Genesis: c.genesis, Key: c.keys[id], Transport: c.net.Transport(id),
		Join: join, LedgerSecret: c.secret, TickInterval: c.tick, SnapshotEvery: c.snapN, CommitInterval: c.commit, Logf: func(f string, a ...any) { c.t.Logf("node %d: "+f, append([]any{id}, a...)...) }})
	if err != nil {
		c.t.Fatalf("Start(%d) = %v", id, err)
	}
	c.nodes[id] = n
	c.net.Attach(id, n.Receive)
	return n
}

// crash stops a node abruptly (as far as one process allows: its goroutines
// stop and its files close; nothing is flushed that was not already).
func (c *cluster) crash(id uint64) {
	c.net.Down(id)
	c.nodes[id].Close()
	delete(c.nodes, id)
}

func (c *cluster) close() {
	for id := range c.nodes {
		c.nodes[id].Close()
	}
	c.net.Close()
}

func (c *cluster) gid() [32]byte { return c.genesis.ID() }

// leader waits for a leader that every running node agrees on.
func (c *cluster) leader() *Node {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var lead uint64
		agree := true
		for _, n := range c.nodes {
			l := n.Leader()
			if l == 0 || (lead != 0 && l != lead) {
				agree = false
				break
			}
			lead = l
		}
		if agree && lead != 0 && c.nodes[lead] != nil {
			return c.nodes[lead]
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatal("no leader")
	return nil
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func put(table, key, val string) Txn {
	return Txn{Writes: []Write{{Table: table, Key: []byte(key), Value: []byte(val)}}}
}

func (c *cluster) put(n *Node, key, val string) Result {
	c.t.Helper()
	txn := put("accounts", key, val)
	txn.Caller = c.members[0].ID()
	r, err := n.Transact(ctxT(c.t), txn)
	if err != nil {
		c.t.Fatalf("Transact(put %s) on node %d = %v", key, n.ID(), err)
	}
	return r
}

// waitFor polls cond until it holds (no timing assertion: a deadline only
// turns a hang into a failure).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newNodeKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, k
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// dump logs every node's view of raft, for a failure message.
func (c *cluster) dump() {
	c.t.Helper()
	for i, nn := range c.nodes {
		st := nn.rn.Status()
		c.t.Logf("node %d: lead %d applied %d raft %s term %d commit %d raft-applied %d err %v voters %v", i, nn.Leader(), nn.Applied(), st.RaftState, st.GetTerm(), st.GetCommit(), st.Applied, nn.Err(), nn.Voters())
	}
}
