package main

import (
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
