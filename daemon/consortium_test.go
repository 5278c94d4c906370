package daemon

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/consortium"
	"github.com/coconet/coconet/consortium/consnode"
	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

// TestConsortiumThroughAPI: alice creates a consortium network, writes a
// genesis from her identity, starts her validating node through the API
// socket, puts a key with a receipt that verifies, reads it back, passes a
// proposal to add a member by her vote, and finds it all again after the
// daemon restarts from the saved genesis. A user network refuses a
// consortium.
func TestConsortiumThroughAPI(t *testing.T) {
	home := filepath.Join(t.TempDir(), "alice")
	if _, err := homedir.Init(home, "alice"); err != nil {
		t.Fatal(err)
	}
	start := func() (*Daemon, *api.Client) {
		d := &Daemon{Home: home, ListenHost: "127.0.0.1", Logf: t.Logf}
		if err := d.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		c, err := api.Dial(SocketPath(home))
		if err != nil {
			t.Fatal(err)
		}
		return d, c
	}
	d, c := start()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.CreateNetwork(ctx, api.CreateNetworkRequest{Name: "bank", Kind: "consortium"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateNetwork(ctx, api.CreateNetworkRequest{Name: "home"}); err != nil {
		t.Fatal(err)
	}
	id, err := c.ConsortiumIdentity(ctx, "bank")
	if err != nil {
		t.Fatal(err)
	}
	n := id.Node
	g := consortium.Genesis{Name: "bank", Members: [][]byte{id.Cert}, Envs: []string{consortium.EnvSoftware},
		Nodes: []consortium.NodeInfo{{ID: n.ID, PubKey: n.PubKey, CodeHash: n.CodeHash, Env: n.Env, Addr: n.Addr}},
		Code:  [][]byte{n.CodeHash}, Nonce: make([]byte, 16)}
	rand.Read(g.Nonce)
	gj, _ := json.Marshal(g)
	if _, err := c.ConsortiumStart(ctx, "home", api.ConsortiumStartRequest{Genesis: gj}); err == nil {
		t.Fatal("a user network started a consortium")
	}
	st, err := c.ConsortiumStart(ctx, "bank", api.ConsortiumStartRequest{Genesis: gj})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if st.Self != id.Member || len(st.Members) != 1 || st.Members[0] != id.Member {
		t.Fatalf("status = %+v; want alice the one member", st)
	}

	put, err := c.ConsortiumPut(ctx, "bank", "accounts", "acct-1", api.ConsortiumPutRequest{Value: []byte("100"), Receipt: true})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	r := put.Receipt
	if r == nil {
		t.Fatal("no receipt")
	}
	rc := &consortium.Receipt{Consortium: r.Consortium, Seqno: r.Seqno, Record: r.Record, TreeSize: r.TreeSize, Root: r.Root, Proof: r.Proof, Node: r.Node, Sig: r.Sig}
	if err := consortium.VerifyReceipt(rc, n.PubKey); err != nil {
		t.Fatalf("receipt: %v", err)
	}
	v, err := c.ConsortiumGet(ctx, "bank", "accounts", "acct-1")
	if err != nil || string(v.Value) != "100" || v.Version != put.Seqno {
		t.Fatalf("get = %+v, %v", v, err)
	}

	seed, _ := identity.NewSeed()
	m, err := consnode.Member(&identity.Identity{Seed: seed, Name: "bob"}, ledger.NetworkID{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.ConsortiumPropose(ctx, "bank", api.ConsortiumProposeRequest{Actions: []api.ConsortiumAction{{Kind: consortium.ActAddMember, Cert: m.Cert}}})
	if err != nil || p.State != consortium.StateOpen {
		t.Fatalf("propose = %+v, %v", p, err)
	}
	if p, err = c.ConsortiumVote(ctx, "bank", p.ID, api.ConsortiumVoteRequest{Approve: true}); err != nil || p.State != consortium.StateAccepted {
		t.Fatalf("vote = %+v, %v", p, err)
	}
	ps, err := c.ConsortiumProposals(ctx, "bank")
	if err != nil || len(ps) != 1 || ps[0].State != consortium.StateAccepted {
		t.Fatalf("proposals = %+v, %v", ps, err)
	}
	c.Close()
	d.Close()

	d, c = start()
	defer d.Close()
	defer c.Close()
	st, err = c.ConsortiumStatus(ctx, "bank")
	if err != nil || len(st.Members) != 2 {
		t.Fatalf("status after restart = %+v, %v; want two members", st, err)
	}
	if v, err := c.ConsortiumGet(ctx, "bank", "accounts", "acct-1"); err != nil || string(v.Value) != "100" {
		t.Fatalf("get after restart = %+v, %v", v, err)
	}
}
