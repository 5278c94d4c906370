package main

import (
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/consortium"
	"github.com/coconet/coconet/consortium/consnode"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

// TestConsortiumCLI: alice makes a consortium network, writes a genesis
// from her identity file, starts it, puts with a receipt that verifies
// offline (and not with a byte changed), and adds a member by proposal and
// vote.
func TestConsortiumCLI(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "alice")
	mustCoco(t, "--home", a, "init", "--name", "alice")
	mustCoco(t, "--home", a, "net", "create", "bank", "--kind", "consortium")
	startDaemon(t, a)
	idFile, gFile, rFile, certFile := filepath.Join(dir, "alice.json"), filepath.Join(dir, "genesis.json"), filepath.Join(dir, "r.json"), filepath.Join(dir, "bob.pem")
	write := func(path, s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(idFile, mustCoco(t, "--home", a, "consortium", "identity", "bank", "--json"))
	write(gFile, mustCoco(t, "consortium", "genesis", "bank", idFile))
	mustCoco(t, "--home", a, "consortium", "start", "bank", gFile)
	mustCoco(t, "--home", a, "consortium", "put", "bank", "acct-1", "100", "--receipt", rFile)
	if out := mustCoco(t, "--home", a, "consortium", "get", "bank", "acct-1"); out != "100\n" {
		t.Fatalf("get = %q", out)
	}
	mustCoco(t, "consortium", "verify-receipt", rFile, "--genesis", gFile)
	var r map[string]any
	b, _ := os.ReadFile(rFile)
	json.Unmarshal(b, &r)
	r["seqno"] = r["seqno"].(float64) + 1
	b, _ = json.Marshal(r)
	write(rFile, string(b))
	if _, _, code := coco(t, "", "consortium", "verify-receipt", rFile, "--genesis", gFile); code == 0 {
		t.Fatal("a changed receipt verified")
	}

	seed, _ := identity.NewSeed()
	m, err := consnode.Member(&identity.Identity{Seed: seed, Name: "bob"}, ledger.NetworkID{})
	if err != nil {
		t.Fatal(err)
	}
	write(certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: m.Cert})))
	id := jsonField(t, mustCoco(t, "--home", a, "consortium", "propose", "bank", "add_member", certFile, "--json"), "id")
	if st := jsonField(t, mustCoco(t, "--home", a, "consortium", "vote", "bank", id, "yes", "--json"), "state"); st != "accepted" {
		t.Fatalf("after alice's yes the proposal is %q", st)
	}
	if out := mustCoco(t, "--home", a, "consortium", "proposals", "bank"); !strings.Contains(out, "accepted") {
		t.Fatalf("proposals:\n%s", out)
	}
	var st struct{ Members []string }
	json.Unmarshal([]byte(mustCoco(t, "--home", a, "consortium", "status", "bank", "--json")), &st)
	if len(st.Members) != 2 {
		t.Fatalf("members after the vote: %v", st.Members)
	}
}

// TestConsortiumCLIStoreGovernRecover: delete, range with a prefix and a
// continuation, a withdrawn proposal (and bob, not its proposer, cannot
// withdraw it); a genesis with --recovery keeps the ledger secret nowhere:
// the node's private tables stay closed until k members' shares are
// submitted (a tampered one refused), and close again at a restart.
func TestConsortiumCLIStoreGovernRecover(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "alice")
	mustCoco(t, "--home", a, "init", "--name", "alice")
	mustCoco(t, "--home", a, "net", "create", "bank", "--kind", "consortium")
	d := startDaemon(t, a)
	write := func(path, s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	aliceFile, bobFile, gFile := filepath.Join(dir, "alice.json"), filepath.Join(dir, "bob.json"), filepath.Join(dir, "genesis.json")
	aliceJSON := mustCoco(t, "--home", a, "consortium", "identity", "bank", "--json")
	write(aliceFile, aliceJSON)
	// Bob is a second member whose identity names alice's node: one
	// validating node, two members, recovery 2 of 2.
	seed, _ := identity.NewSeed()
	bob, err := consnode.Member(&identity.Identity{Seed: seed, Name: "bob"}, ledger.NetworkID{})
	if err != nil {
		t.Fatal(err)
	}
	var id api.ConsortiumIdentity
	json.Unmarshal([]byte(aliceJSON), &id)
	id.Member, id.Cert = bob.ID(), bob.Cert
	b, _ := json.Marshal(id)
	write(bobFile, string(b))
	write(gFile, mustCoco(t, "consortium", "genesis", "bank", aliceFile, bobFile, "--recovery", "2"))
	mustCoco(t, "--home", a, "consortium", "start", "bank", gFile)

	for _, k := range []string{"acct-1", "acct-2", "acct-3", "other"} {
		mustCoco(t, "--home", a, "consortium", "put", "bank", k, "v-"+k)
	}
	mustCoco(t, "--home", a, "consortium", "delete", "bank", "acct-2")
	if _, _, code := coco(t, "", "--home", a, "consortium", "get", "bank", "acct-2"); code == 0 {
		t.Fatal("a deleted key reads")
	}
	var page struct {
		Items []struct{ Key string }
		Next  string
	}
	json.Unmarshal([]byte(mustCoco(t, "--home", a, "consortium", "range", "bank", "acct-", "--limit", "1", "--json")), &page)
	if len(page.Items) != 1 || page.Items[0].Key != "acct-1" || page.Next != "acct-3" {
		t.Fatalf("first page = %+v", page)
	}
	page.Next = ""
	json.Unmarshal([]byte(mustCoco(t, "--home", a, "consortium", "range", "bank", "acct-", "--from", "acct-3", "--limit", "1", "--json")), &page)
	if len(page.Items) != 1 || page.Items[0].Key != "acct-3" || page.Next != "" {
		t.Fatalf("second page = %+v", page)
	}

	pid := jsonField(t, mustCoco(t, "--home", a, "consortium", "propose", "bank", "allow_env", "sgx", "--json"), "id")
	if st := jsonField(t, mustCoco(t, "--home", a, "consortium", "withdraw", "bank", pid, "--json"), "state"); st != "withdrawn" {
		t.Fatalf("withdrawn proposal is %q", st)
	}
	if _, _, code := coco(t, "", "--home", a, "consortium", "vote", "bank", pid, "yes"); code == 0 {
		t.Fatal("a vote on a withdrawn proposal passed")
	}

	// Recovery: closed until 2 shares are in.
	if _, _, code := coco(t, "", "--home", a, "consortium", "put", "bank", "k", "v", "--table", "private.t"); code == 0 {
		t.Fatal("a private write without the ledger secret passed")
	}
	aliceShare, bobShare, badShare := filepath.Join(dir, "a.share"), filepath.Join(dir, "b.share"), filepath.Join(dir, "bad.share")
	mustCoco(t, "--home", a, "consortium", "recovery", "share", "bank", "--out", aliceShare)
	var g struct{ Recovery *consortium.Recovery }
	gb, _ := os.ReadFile(gFile)
	json.Unmarshal(gb, &g)
	bs, err := bob.OpenShare(g.Recovery)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(map[string]any{"member": bob.ID(), "share": bs})
	write(bobShare, string(b))
	bs[len(bs)-1] ^= 1
	b, _ = json.Marshal(map[string]any{"member": bob.ID(), "share": bs})
	write(badShare, string(b))
	if out := mustCoco(t, "--home", a, "consortium", "recovery", "submit", "bank", aliceShare, "--json"); jsonBool(t, out, "open") {
		t.Fatalf("one share of two opened the node: %s", out)
	}
	if _, _, code := coco(t, "", "--home", a, "consortium", "recovery", "submit", "bank", badShare); code == 0 {
		t.Fatal("a tampered share was taken")
	}
	if out := mustCoco(t, "--home", a, "consortium", "recovery", "submit", "bank", bobShare, "--json"); !jsonBool(t, out, "open") {
		t.Fatalf("two shares did not open the node: %s", out)
	}
	mustCoco(t, "--home", a, "consortium", "put", "bank", "k", "secret-v", "--table", "private.t")
	if out := mustCoco(t, "--home", a, "consortium", "get", "bank", "k", "--table", "private.t"); out != "secret-v\n" {
		t.Fatalf("private get = %q", out)
	}
	// A rekey is a proposal: open until bob votes too (2 of 2 members).
	rk := mustCoco(t, "--home", a, "consortium", "rekey", "bank", "--json")
	var rp api.ConsortiumProposal
	json.Unmarshal([]byte(rk), &rp)
	if rp.State != "open" || len(rp.Actions) != 1 || rp.Actions[0].Kind != "rekey" {
		t.Fatalf("rekey proposal = %s", rk)
	}
	d.Close()
	startDaemon(t, a)
	if out := mustCoco(t, "--home", a, "consortium", "recovery", "status", "bank", "--json"); jsonBool(t, out, "open") {
		t.Fatalf("the restarted node kept the ledger secret: %s", out)
	}
	if _, _, code := coco(t, "", "--home", a, "consortium", "rekey", "bank"); code == 0 {
		t.Fatal("a node without the ledger secret proposed a rekey")
	}
}

// TestKeySplitCombine: a paper key split 3-of-5 comes back from any 3
// shares through `coco key combine`, not from 2, and not with a share
// whose words were changed.
func TestKeySplitCombine(t *testing.T) {
	a := filepath.Join(t.TempDir(), "alice")
	mustCoco(t, "--home", a, "init", "--name", "alice")
	var exp struct{ User, Words string }
	json.Unmarshal([]byte(mustCoco(t, "--home", a, "key", "export", "--json")), &exp)
	var sp struct {
		User   string
		Shares []string
	}
	json.Unmarshal([]byte(mustCoco(t, "--home", a, "key", "split", "--shares", "5", "--threshold", "3", "--json")), &sp)
	if len(sp.Shares) != 5 || sp.User != exp.User {
		t.Fatalf("split = %+v", sp)
	}
	out, errOut, code := coco(t, strings.Join([]string{sp.Shares[4], sp.Shares[0], sp.Shares[2]}, "\n"), "key", "combine", "--json")
	if code != 0 || jsonField(t, out, "words") != exp.Words {
		t.Fatalf("combine of 3 = %s %s", out, errOut)
	}
	if _, _, code := coco(t, sp.Shares[0]+"\n"+sp.Shares[1], "key", "combine"); code == 0 {
		t.Fatal("2 shares of 3 combined")
	}
	seed, _ := identity.NewSeed()
	f := strings.Fields(sp.Shares[1])
	copy(f[4:], strings.Fields(seed.Mnemonic())) // other valid words, same header
	if _, _, code := coco(t, strings.Join([]string{sp.Shares[0], strings.Join(f, " "), sp.Shares[2]}, "\n"), "key", "combine"); code == 0 {
		t.Fatal("a changed share combined")
	}
}

func jsonBool(t *testing.T, out, field string) bool {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("bad JSON %q: %v", out, err)
	}
	v, _ := m[field].(bool)
	return v
}
