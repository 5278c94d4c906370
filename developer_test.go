package coconet

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"flag"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/control/devapi"
	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/pubsub"
)

var devNodes = flag.Int("devnet.nodes", 24, "TestDeveloperNetworkStory: how many nodes enrol (the issue's figure is 1,000)")

// engineOf is a node's engine, found through the slot for attached
// services as an embedding app would.
type engineOf struct{ e *engine.Engine }

func (engineOf) Close() error { return nil }

// TestDeveloperNetworkStory is issue 13's "done means", from a script's
// point of view, in one process: a developer network whose owner delegates
// to the control plane's service key and makes an API key; the
// developer's service mints an auth key through REST; -devnet.nodes nodes
// start with it (the embeddable face, coconet.Node{AuthKey: …}) against
// three control-plane replicas sharing one etcd, one of which is stopped
// half-way; REST lists every node; a publish reaches every subscribed
// node over gossipsub; a node revoked through REST is cut off by every
// other node and leaves the listing.
func TestDeveloperNetworkStory(t *testing.T) {
	n := *devNodes
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	plans := &control.Plans{Default: "dev", Plans: map[string]control.Plan{"dev": {Networks: 10, Nodes: 100000, Bytes: 1 << 40}}}

	// Three replicas over one embedded etcd (replica 0 holds it).
	st0, err := control.OpenEtcd(ctx, control.EtcdConfig{Dir: filepath.Join(dir, "etcd")})
	if err != nil {
		t.Fatal(err)
	}
	var replicas []*control.Server
	var ctl []string
	for i := range 3 {
		st := control.Store(st0)
		if i > 0 {
			if st, err = control.OpenEtcd(ctx, control.EtcdConfig{Endpoints: st0.Endpoints()}); err != nil {
				t.Fatal(err)
			}
		}
		srv, err := control.New(control.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
			Dir: filepath.Join(dir, fmt.Sprint("cp", i)), Store: st, Plans: plans})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(ctx); err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, srv)
		ctl = append(ctl, srv.Addrs()[0].String())
	}
	stopped := map[int]bool{}
	t.Cleanup(func() {
		for i := len(replicas) - 1; i >= 0; i-- { // replica 0, holding etcd, last
			if !stopped[i] {
				replicas[i].Close()
			}
		}
	})
	_, svc, _ := ed25519.GenerateKey(rand.Reader)
	api, err := devapi.New(devapi.Config{Backend: replicas[0], Store: devapi.KVStore(replicas[0].KV(), nil), ServiceKey: svc, ControlAddrs: ctl})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.Listen("127.0.0.1:0", nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Close() })
	url := "http://" + api.Addr().String()

	// The developer: a developer network, the delegation, an API key.
	owner, err := identity.NewSeed()
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Create(filepath.Join(dir, "owner"), owner.UserKey(), "dev", "chat", ledger.NetKindDeveloper)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := l.Get(ledger.ID(l.Network()))
	net := l.Network()
	c := &devapi.Client{URL: url}
	key, err := devapi.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	scopes, err := devapi.ParseScopes("authkeys:write,nodes:write,usage:read")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAPIKey(ctx, net, g.Marshal(), devapi.NewGrant(owner.UserKey(), net, key, scopes, time.Now(), time.Hour)); err != nil {
		t.Fatalf("create the API key: %v", err)
	}
	del, err := l.Append(owner.UserKey(), ledger.Op{Kind: ledger.KindDelegateService,
		Subject: identity.UserIDOf(svc.Public().(ed25519.PublicKey)), SubjectName: "control", Scopes: ledger.ScopeAll,
		Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "PUT", "/v1/networks/"+net.String()+"/delegation", devapi.Delegate{Genesis: g.Marshal(), Delegation: del.Marshal()}, nil); err != nil {
		t.Fatalf("PUT delegation: %v", err)
	}
	c.Key = key.String()
	base := "/v1/networks/" + net.String()
	var ak devapi.NewAuthKey
	if err := c.Do(ctx, "POST", base+"/authkeys", devapi.CreateAuthKey{Reusable: true, Tags: []string{"chat"}}, &ak); err != nil {
		t.Fatalf("POST authkeys: %v", err)
	}

	// The nodes, with the auth key alone; replica 2 stops half-way.
	nodes := make([]*Node, n)
	engines := make([]*engine.Engine, n)
	t0 := time.Now()
	for i := range n {
		if i == n/2 {
			replicas[2].Close()
			stopped[2] = true
		}
		nd := &Node{Home: filepath.Join(dir, fmt.Sprint("n", i)), AuthKey: ak.Key, ListenHost: "127.0.0.1"}
		if err := nd.Start(ctx); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		t.Cleanup(func() { nd.Close() })
		ref, err := Attach(nd, func(e *engine.Engine) (*engineOf, error) { return &engineOf{e}, nil })
		if err != nil {
			t.Fatal(err)
		}
		nodes[i], engines[i] = nd, ref.e
	}
	t.Logf("%d nodes started in %v", n, time.Since(t0).Round(time.Millisecond))
	waitDev(t, fmt.Sprintf("REST to list the %d nodes", n), func() bool {
		list, err := c.Nodes(ctx, net)
		return err == nil && len(list) == n
	})
	t.Logf("listed through REST after %v", time.Since(t0).Round(time.Millisecond))

	// Every node subscribes; one publish (repeated until it lands, as
	// gossipsub's mesh forms) reaches all of them.
	var mu sync.Mutex
	got := map[int]bool{}
	for i, nd := range nodes[1:] {
		sub, err := nd.Subscribe(ctx, "news/#", pubsub.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for range sub.C() {
				mu.Lock()
				got[i+1] = true
				mu.Unlock()
			}
		}()
	}
	tp := time.Now()
	waitDev(t, "a publish to reach every node", func() bool {
		nodes[0].Publish(ctx, "news/today", []byte("hello, everyone"), pubsub.PublishOptions{})
		time.Sleep(200 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		return len(got) == n-1
	})
	t.Logf("a publish reached all %d subscribers %v after they subscribed", n-1, time.Since(tp).Round(time.Millisecond))
	if g := engines[1].PubSub().GossipPeers(); len(g) == 0 {
		t.Errorf("node 1 has no gossipsub peers; want the developer network's pub-sub over gossipsub")
	}

	// Revoke one node through REST: every other node cuts it off, REST
	// stops listing it.
	x := engines[n-1].Node().ID()
	var rv devapi.Revoked
	if err := c.Do(ctx, "DELETE", base+"/nodes/"+x.String(), nil, &rv); err != nil {
		t.Fatalf("DELETE node: %v", err)
	}
	tr := time.Now()
	waitDev(t, "the revoked node cut off by every other node", func() bool {
		for _, e := range engines[:n-1] {
			if e.Node().IsMember(x) || e.Connected(x) {
				return false
			}
		}
		return true
	})
	t.Logf("revocation reached all %d other nodes after %v", n-1, time.Since(tr).Round(time.Millisecond))
	waitDev(t, "REST to stop listing the revoked node", func() bool {
		list, err := c.Nodes(ctx, net)
		if err != nil {
			return false
		}
		for _, nd := range list {
			if nd.ID == x.String() {
				return false
			}
		}
		return len(list) == n-1
	})
}

// waitDev polls cond until it holds, for up to 3 minutes (a bound on a
// loaded machine, not a speed asserted).
func waitDev(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
