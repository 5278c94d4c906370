package devapi_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/control/devapi"
	"github.com/coconet/coconet/devnet"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

// TestScriptStory is the developer's script, over real sockets, end to
// end: a developer network, its owner's delegation to the control plane
// and an API key; through REST an auth key; real nodes join with it
// (their own credentials, registered at the control plane); REST lists
// them with their tags; REST revokes one, and every other node cuts it off
// from the signed list the control plane pushes, and the control plane
// stops listing it.
func TestScriptStory(t *testing.T) {
	e := startEnv(t, devapi.Config{})
	d := newDevNet(t, ledger.NetKindDeveloper)
	e.delegate(t, d, ledger.ScopeAll)
	key := e.grantKey(t, d, "authkeys:write,nodes:write,usage:read")
	c := &devapi.Client{URL: e.url, Key: key.String()}
	ctx := context.Background()
	base := "/v1/networks/" + d.id().String()

	var ak devapi.NewAuthKey
	if err := c.Do(ctx, "POST", base+"/authkeys", devapi.CreateAuthKey{Reusable: true, Tags: []string{"chat"}}, &ak); err != nil {
		t.Fatalf("POST authkeys: %v", err)
	}
	k, err := devnet.ParseAuthKey(ak.Key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*node.Node
	for range 4 {
		nodes = append(nodes, startDevNode(t, e, k))
	}
	waitFor(t, "REST to list the 4 nodes", func() bool {
		list, err := c.Nodes(ctx, d.id())
		return err == nil && len(list) == 4
	})
	list, _ := c.Nodes(ctx, d.id())
	for _, n := range list {
		if !slices.Equal(n.Tags, []string{"chat"}) || !n.Online || len(n.Addrs) == 0 {
			t.Errorf("listed %+v, want tag chat, online, addresses", n)
		}
	}
	// The nodes talk to each other (the gate admits them by credential).
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			connect(t, a, b)
		}
	}
	x, rest := nodes[3], nodes[:3]
	waitFor(t, "the nodes to take each other for members", func() bool {
		for _, n := range rest {
			if !n.IsMember(x.ID()) {
				return false
			}
		}
		return true
	})

	var rv devapi.Revoked
	if err := c.Do(ctx, "DELETE", base+"/nodes/"+x.ID().String(), nil, &rv); err != nil {
		t.Fatalf("DELETE node: %v", err)
	}
	waitFor(t, "the revoked node cut off by every other node", func() bool {
		for _, n := range rest {
			if n.IsMember(x.ID()) || n.Host().Network().Connectedness(x.ID()) == network.Connected {
				return false
			}
		}
		return true
	})
	for _, n := range rest {
		if v, _ := n.Lists().Versions(); v != rv.Version {
			t.Errorf("a node holds revocation list version %d, want %d", v, rv.Version)
		}
	}
	list, err = c.Nodes(ctx, d.id())
	if err != nil || len(list) != 3 || slices.ContainsFunc(list, func(n devapi.Node) bool { return n.ID == x.ID().String() }) {
		t.Errorf("REST lists %+v after the revocation, want the 3 others", list)
	}
	if u, err := c.Usage(ctx, d.id()); err != nil || u.Nodes != 3 {
		t.Errorf("usage after the revocation: %+v, %v", u, err)
	}
}

// startDevNode starts a node that enrols with the auth key k and
// registers at e's control plane.
func startDevNode(t *testing.T, e *env, k *devnet.AuthKey) *node.Node {
	t.Helper()
	s, err := identity.NewSeed()
	if err != nil {
		t.Fatal(err)
	}
	g, err := k.GenesisOp()
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Init(t.TempDir(), g, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := node.Config{Seed: s, Log: l, ListenHost: "127.0.0.1", Dir: t.TempDir(), AuthKey: k}
	for _, a := range e.srv.Addrs() {
		cfg.Control = append(cfg.Control, a.String())
	}
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func connect(t *testing.T, a, b *node.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Host().Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Host().Addrs()}); err != nil {
		t.Fatalf("connect: %v", err)
	}
}

// waitFor polls cond until it holds or 30 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
