package consortium

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func secretCluster(t *testing.T, k int) *cluster {
	t.Helper()
	return newClusterWith(t, 3, 3, func(c *cluster) {
		s, err := NewLedgerSecret()
		if err != nil {
			t.Fatal(err)
		}
		c.secret = s
		if c.genesis.Recovery, err = SealRecovery(s, c.genesis.Members, k); err != nil {
			t.Fatal(err)
		}
	})
}

// containsOnDisk reports whether any file under dir holds needle.
func containsOnDisk(t *testing.T, dir string, needle []byte) bool {
	t.Helper()
	found := false
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		found = found || bytes.Contains(b, needle)
		return nil
	})
	return found
}

// TestPrivateTableSealed: a private table's values are ciphertext in the
// log, the WAL, snapshots and state.db, and plaintext through Get and Range.
func TestPrivateTableSealed(t *testing.T) {
	c := secretCluster(t, 2)
	c.snapN = 5 // snapshots too
	for id := range c.nodes {
		c.crash(id)
	}
	for id := uint64(1); id <= 3; id++ {
		c.start(id, false)
	}
	n := c.leader()
	secretVal := []byte("salary-of-alice-123456")
	publicVal := []byte("public-value-of-bob-654321")
	for i := 0; i < 8; i++ {
		txn := Txn{Caller: c.members[0].ID(), Writes: []Write{
			{Table: "private.salaries", Key: []byte("alice"), Value: secretVal},
			{Table: "accounts", Key: []byte("bob"), Value: publicVal},
		}}
		if _, err := n.Transact(ctxT(t), txn); err != nil {
			t.Fatal(err)
		}
	}
	for id, node := range c.nodes {
		v, _, err := node.Get(ctxT(t), "private.salaries", []byte("alice"))
		if err != nil || !bytes.Equal(v, secretVal) {
			c.dump()
			t.Fatalf("node %d Get(private) = %q, %v", id, v, err)
		}
		kvs, err := node.Range(ctxT(t), "private.salaries", nil, nil, 0)
		if err != nil || len(kvs) != 1 || !bytes.Equal(kvs[0].Value, secretVal) {
			t.Fatalf("node %d Range(private) = %v, %v", id, kvs, err)
		}
	}
	for id := range c.nodes {
		c.crash(id) // close files so everything is on disk
	}
	for id, dir := range c.dirs {
		if !containsOnDisk(t, dir, publicVal) {
			t.Fatalf("node %d: the public value is not on disk: the search is broken", id)
		}
		if containsOnDisk(t, dir, secretVal) {
			t.Fatalf("node %d: the private value is on disk in plaintext", id)
		}
	}
}

// TestRecoveryFromShares: nodes restarted without the ledger secret cannot
// read private tables; k members' shares recover it, k-1 do not.
func TestRecoveryFromShares(t *testing.T) {
	c := secretCluster(t, 2)
	n := c.leader()
	txn := Txn{Caller: c.members[0].ID(), Writes: []Write{{Table: "private.t", Key: []byte("k"), Value: []byte("v")}}}
	if _, err := n.Transact(ctxT(t), txn); err != nil {
		t.Fatal(err)
	}
	// Every node lost its secret (its memory); the ledger files remain.
	for id := range c.nodes {
		c.crash(id)
	}
	c.secret = nil
	for id := uint64(1); id <= 3; id++ {
		c.start(id, false)
	}
	n = c.leader()
	if _, _, err := n.Get(ctxT(t), "private.t", []byte("k")); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("Get(private) without the secret = %v, want ErrNoSecret", err)
	}
	if _, err := n.Transact(ctxT(t), txn); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("Transact(private) without the secret = %v, want ErrNoSecret", err)
	}
	if v, _, err := n.Get(ctxT(t), "accounts", []byte("x")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("public tables still work: Get = %q, %v", v, err)
	}
	r := c.genesis.Recovery
	var shares [][]byte
	for _, m := range c.members {
		s, err := m.OpenShare(r)
		if err != nil {
			t.Fatalf("member %s OpenShare = %v", m.ID()[:8], err)
		}
		shares = append(shares, s)
	}
	// A member cannot open another's share.
	other := *r
	other.Shares = map[string][]byte{c.members[0].ID(): r.Shares[c.members[1].ID()]}
	if _, err := c.members[0].OpenShare(&other); !errors.Is(err, ErrBadShares) {
		t.Fatalf("OpenShare(another member's share) = %v, want ErrBadShares", err)
	}
	if _, err := RecoverSecret(r, shares[:1]); !errors.Is(err, ErrBadShares) {
		t.Fatalf("RecoverSecret(k-1 shares) = %v, want ErrBadShares", err)
	}
	bad := append([]byte(nil), shares[1]...)
	bad[5] ^= 1
	if _, err := RecoverSecret(r, [][]byte{shares[0], bad}); !errors.Is(err, ErrBadShares) {
		t.Fatalf("RecoverSecret(a corrupted share) = %v, want ErrBadShares", err)
	}
	secret, err := RecoverSecret(r, [][]byte{shares[2], shares[0]})
	if err != nil {
		t.Fatalf("RecoverSecret(k shares) = %v", err)
	}
	for id := range c.nodes {
		c.crash(id)
	}
	c.secret = secret
	for id := uint64(1); id <= 3; id++ {
		c.start(id, false)
	}
	if v, _, err := c.leader().Get(ctxT(t), "private.t", []byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("Get(private) after recovery = %q, %v", v, err)
	}
	// A node refuses a secret that is not the genesis'.
	wrong, _ := NewLedgerSecret()
	cfg := Config{ID: 9, Dir: t.TempDir(), Genesis: c.genesis, Key: c.keys[1], Transport: c.net.Transport(9), LedgerSecret: wrong}
	if _, err := Start(cfg); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("Start(wrong secret) = %v, want ErrNoSecret", err)
	}
}

// TestRecoverySharesSubmitted: every node lost the ledger secret; members
// submit their opened shares to a node, which rebuilds the secret from k of
// them (CCF's disaster recovery). Attacks: k-1 shares leave the private
// tables closed; a share with one byte changed, or a member's share
// submitted under another member's name, is refused on submission; a
// stranger (not a member) is refused, over the REST API too.
func TestRecoverySharesSubmitted(t *testing.T) {
	c := secretCluster(t, 2)
	n := c.leader()
	txn := Txn{Caller: c.members[0].ID(), Writes: []Write{{Table: "private.t", Key: []byte("k"), Value: []byte("v")}}}
	if _, err := n.Transact(ctxT(t), txn); err != nil {
		t.Fatal(err)
	}
	for id := range c.nodes {
		c.crash(id)
	}
	c.secret = nil
	for id := uint64(1); id <= 3; id++ {
		c.start(id, false)
	}
	n = c.leader()
	r := n.Recovery()
	var shares [][]byte
	for _, m := range c.members {
		s, err := m.OpenShare(r)
		if err != nil {
			t.Fatal(err)
		}
		shares = append(shares, s)
	}
	stranger := issue(t, newCA(t, "elsewhere"), "mallory", true)
	if _, err := n.SubmitShare(stranger.ID(), shares[0]); !errors.Is(err, ErrNotMember) {
		t.Fatalf("a stranger's share = %v, want ErrNotMember", err)
	}
	bad := bytes.Clone(shares[1])
	bad[len(bad)-1] ^= 1
	if _, err := n.SubmitShare(c.members[1].ID(), bad); !errors.Is(err, ErrBadShares) {
		t.Fatalf("a tampered share = %v, want ErrBadShares", err)
	}
	if _, err := n.SubmitShare(c.members[1].ID(), shares[2]); !errors.Is(err, ErrBadShares) {
		t.Fatalf("member 2's share under member 1's name = %v, want ErrBadShares", err)
	}
	st, err := n.SubmitShare(c.members[0].ID(), shares[0])
	if err != nil || st.Open || len(st.Submitted) != 1 || st.Threshold != 2 {
		t.Fatalf("after one share (k-1): %+v, %v; want closed with one share", st, err)
	}
	if _, _, err := n.Get(ctxT(t), "private.t", []byte("k")); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("Get(private) with k-1 shares = %v, want ErrNoSecret", err)
	}

	// The second share comes over the REST API, as the member's own call.
	base := newAPI(t, c, n)
	nodeKey := c.keys[n.ID()].Public().(ed25519.PublicKey)
	if code, body, _ := client(t, base, stranger, nodeKey).do("POST", "/gov/recovery/shares", shares[1]); code != 403 {
		t.Fatalf("a stranger's REST submission = %d %s, want 403", code, body)
	}
	code, body, _ := client(t, base, c.members[1], nodeKey).do("POST", "/gov/recovery/shares", shares[1])
	if code != 200 {
		t.Fatalf("member's REST submission = %d %s", code, body)
	}
	if !n.HasSecret() || !n.RecoveryStatus().Open {
		t.Fatal("k shares did not open the node")
	}
	if v, _, err := n.Get(ctxT(t), "private.t", []byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("Get(private) after recovery = %q, %v", v, err)
	}
	if len(n.RecoveryStatus().Submitted) != 0 {
		t.Fatal("the node kept the shares after rebuilding the secret")
	}
}

// TestRekey: a rekey proposal, accepted by the members, rotates the ledger
// secret: every node opens its sealed copy, new private writes use the new
// secret, values written before still read; the old shares no longer
// recover the secret (refused on submission) and the new ones do, after
// which a node that lost its key opens the whole chain (old values too).
// Attacks: a rekey that leaves a member without a share fails; a rekey by
// a stranger is refused.
func TestRekey(t *testing.T) {
	c := secretCluster(t, 2)
	n := c.leader()
	write := func(n *Node, k, v string) {
		t.Helper()
		txn := Txn{Caller: c.members[0].ID(), Writes: []Write{{Table: "private.t", Key: []byte(k), Value: []byte(v)}}}
		if _, err := n.Transact(ctxT(t), txn); err != nil {
			t.Fatalf("private write %s: %v", k, err)
		}
	}
	read := func(n *Node, k string) (string, error) {
		v, _, err := n.Get(ctxT(t), "private.t", []byte(k))
		return string(v), err
	}
	write(n, "old", "v-old")
	oldID := n.secret.Load().cur.id()
	oldRecovery := n.Recovery()

	// A rekey that drops a member's share fails when accepted.
	bad, err := n.RekeyAction()
	if err != nil {
		t.Fatal(err)
	}
	delete(bad.Rekey.Recovery.Shares, c.members[2].ID())
	p := c.propose(n, c.members[0], bad)
	if p = c.vote(n, c.members[1], p.ID, true); p.State != StateAccepted {
		p = c.vote(n, c.members[0], p.ID, true)
	}
	if p.State != StateFailed {
		t.Fatalf("a rekey without a member's share is %s, want failed", p.State)
	}
	stranger := issue(t, newCA(t, "elsewhere"), "mallory", true)
	act, err := n.RekeyAction()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := stranger.Propose(c.gid(), act)
	if _, err := n.Govern(ctxT(t), req); !errors.Is(err, ErrNotMember) {
		t.Fatalf("a stranger's rekey = %v, want ErrNotMember", err)
	}

	p = c.propose(n, c.members[0], act)
	for _, m := range c.members[1:] {
		if p.State == StateOpen {
			p = c.vote(n, m, p.ID, true)
		}
	}
	if p.State != StateAccepted {
		t.Fatalf("rekey is %s (%s)", p.State, p.Failure)
	}
	for id, nn := range c.nodes {
		waitFor(t, fmt.Sprintf("node %d to take the new secret", id), func() bool {
			k := nn.secret.Load()
			return k != nil && k.cur.id() != oldID
		})
	}
	write(n, "new", "v-new")
	for _, nn := range c.nodes {
		if v, err := read(nn, "old"); err != nil || v != "v-old" {
			t.Fatalf("old value after the rekey = %q, %v", v, err)
		}
		if v, err := read(nn, "new"); err != nil || v != "v-new" {
			t.Fatalf("new value after the rekey = %q, %v", v, err)
		}
	}

	// Node 1 loses its key (a new one cannot open its sealed copy): closed.
	c.crash(1)
	c.secret = nil
	_, c.keys[1], _ = ed25519.GenerateKey(nil)
	n1 := c.start(1, false)
	waitFor(t, "node 1 to catch up", func() bool { return n1.Applied() >= n.Applied() })
	if _, err := read(n1, "old"); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("node 1 without its key reads %v, want ErrNoSecret", err)
	}
	oldShare, err := c.members[0].OpenShare(oldRecovery)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n1.SubmitShare(c.members[0].ID(), oldShare); !errors.Is(err, ErrBadShares) {
		t.Fatalf("an old share after the rekey = %v, want ErrBadShares", err)
	}
	for _, m := range c.members[:2] {
		s, err := m.OpenShare(n1.Recovery())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n1.SubmitShare(m.ID(), s); err != nil {
			t.Fatalf("new share: %v", err)
		}
	}
	if v, err := read(n1, "old"); err != nil || v != "v-old" {
		t.Fatalf("node 1 after recovery reads old = %q, %v (the chain of secrets did not open)", v, err)
	}
	if v, err := read(n1, "new"); err != nil || v != "v-new" {
		t.Fatalf("node 1 after recovery reads new = %q, %v", v, err)
	}
}
