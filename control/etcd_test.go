package control_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/internal/ctlsim"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/msg"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/rpc"
)

// bigPlans gives every owner room for the tests' simulated networks.
func bigPlans() *control.Plans {
	return &control.Plans{Default: "big", Plans: map[string]control.Plan{
		"big": {Networks: 100, Nodes: 100000, Bytes: 1 << 40}}}
}

func openEtcd(t *testing.T, cfg control.EtcdConfig) *control.EtcdStore {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := control.OpenEtcd(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func simClient(t *testing.T, srv ...*control.Server) host.Host {
	t.Helper()
	h, err := ctlsim.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	for _, s := range srv {
		connectTo(t, h, s)
	}
	return h
}

func register(t *testing.T, h host.Host, srv *control.Server, nd *ctlsim.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ctlsim.Register(ctx, h, srv.ID(), nd, time.Hour); err != nil {
		t.Fatalf("register %s at %s: %v", nd.ID.ShortString(), srv.ID().ShortString(), err)
	}
}

// simLookup looks up the network of nd at srv, as nd.
func simLookup(t *testing.T, nd *ctlsim.Node, srv *control.Server) ([]peer.AddrInfo, error) {
	t.Helper()
	h, err := nd.Host()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	connectTo(t, h, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return controlproto.Lookup(ctx, h, srv.ID(), nd.Proof)
}

func simUsage(t *testing.T, nd *ctlsim.Node, srv *control.Server) controlproto.Usage {
	t.Helper()
	h, err := nd.Host()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	connectTo(t, h, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	u, err := controlproto.GetUsage(ctx, h, srv.ID(), nd.Proof)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestEtcdReplicasShareState: two control planes over one etcd (the first
// one's embedded etcd, shared through its unix socket) answer lookups with
// the registrations made at either, count usage together, and after both
// restart on the same state directory the registrations and counters are
// still there.
func TestEtcdReplicasShareState(t *testing.T) {
	dir := t.TempDir()
	st1 := openEtcd(t, control.EtcdConfig{Dir: filepath.Join(dir, "a")})
	st2 := openEtcd(t, control.EtcdConfig{Endpoints: st1.Endpoints()})
	a := startServer(t, control.Config{Dir: filepath.Join(dir, "a"), Store: st1, Plans: bigPlans()})
	b := startServer(t, control.Config{Dir: filepath.Join(dir, "b"), Store: st2, Plans: bigPlans()})
	net := ctlsim.NewNetwork()
	var nodes []*ctlsim.Node
	h := simClient(t, a, b)
	for i := range 20 {
		nd := net.Node(time.Hour)
		nodes = append(nodes, nd)
		register(t, h, []*control.Server{a, b}[i%2], nd)
	}
	for _, s := range []*control.Server{a, b} {
		waitFor(t, "every registration at every replica", func() bool { return s.Registrations() == 20 })
		infos, err := simLookup(t, nodes[0], s)
		if err != nil {
			t.Fatal(err)
		}
		if len(infos) != 19 {
			t.Fatalf("lookup at %s: %d records, want 19", s.ID().ShortString(), len(infos))
		}
	}
	// Usage: 20 registrations and 2 lookups, counted on two replicas,
	// reported the same by both once saved.
	// What a service attached to the control plane reads (devapi).
	if u, ok := b.Usage(net.Key()); !ok || u.Nodes != 20 {
		t.Fatalf("Usage at the other replica = %+v, %v; want 20 nodes", u, ok)
	}
	if regs := b.Registered(net.Key()); len(regs) != 20 {
		t.Fatalf("Registered at the other replica lists %d, want 20", len(regs))
	}
	queries := 0 // usage queries answered
	waitFor(t, "usage summed over replicas", func() bool {
		ua, ub := simUsage(t, nodes[1], a), simUsage(t, nodes[1], b)
		queries += 2
		return ua.ControlMessages >= 22 && ub.ControlMessages >= 22
	})

	// Restart both on the same directories.
	b.Close()
	a.Close()
	st1 = openEtcd(t, control.EtcdConfig{Dir: filepath.Join(dir, "a")})
	a = startServer(t, control.Config{Dir: filepath.Join(dir, "a"), Store: st1, Plans: bigPlans()})
	if n := a.Registrations(); n != 20 {
		t.Fatalf("after a restart the control plane holds %d registrations, want 20", n)
	}
	// Clean stops saved every count and gave back unused claims: the
	// count is exact (a usage query counts after its answer).
	if got, want := simUsage(t, nodes[1], a).ControlMessages, int64(20+2+queries); got != want {
		t.Fatalf("after a restart usage is %d messages, want %d", got, want)
	}
}

// TestEtcdRevocationReachesReplicas: a revocation sent to one replica
// drops the revoked node's registration at the other, which then refuses
// the node.
func TestEtcdRevocationReachesReplicas(t *testing.T) {
	users := newNet(t, "owner", "bob", "guest")
	owner, bob := users[0], users[1]
	dir := t.TempDir()
	st1 := openEtcd(t, control.EtcdConfig{Dir: filepath.Join(dir, "a")})
	st2 := openEtcd(t, control.EtcdConfig{Endpoints: st1.Endpoints()})
	a := startServer(t, control.Config{Dir: filepath.Join(dir, "a"), Store: st1})
	b := startServer(t, control.Config{Dir: filepath.Join(dir, "b"), Store: st2})
	on := startNode(t, owner, a, nil)
	bob.giveProof(t, owner)
	bn := startNode(t, bob, b, nil)
	waitFor(t, "both nodes registered at both replicas", func() bool {
		return a.Registrations() == 2 && b.Registrations() == 2
	})
	proof := bn.Proof(context.Background())
	if proof == nil {
		t.Fatal("bob has no proof")
	}
	if _, err := owner.log.Append(owner.seed.UserKey(), ledger.Op{Kind: ledger.KindRemoveUser, Subject: bob.id()}); err != nil {
		t.Fatal(err)
	}
	_ = on // delivers the revocation to a only
	waitFor(t, "bob's registration gone at the other replica", func() bool { return b.Registrations() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	connectTo(t, bn.Host(), b)
	_, err := controlproto.Lookup(ctx, bn.Host(), b.ID(), proof.Marshal())
	if !errors.Is(err, controlproto.ErrUnauthorized) {
		t.Fatalf("lookup by the revoked node at the other replica: %v; want refused", err)
	}
}

// TestNodeFailsOver: a node knows three control-plane replicas over one
// etcd; with the first one gone, a node that starts afterwards registers
// at the others and finds the members registered before through them.
func TestNodeFailsOver(t *testing.T) {
	dir := t.TempDir()
	etcd := openEtcd(t, control.EtcdConfig{Dir: filepath.Join(dir, "etcd")})
	t.Cleanup(func() { etcd.Close() })
	var srvs []*control.Server
	for i := range 3 {
		st := openEtcd(t, control.EtcdConfig{Endpoints: etcd.Endpoints()})
		srvs = append(srvs, startServer(t, control.Config{Dir: filepath.Join(dir, fmt.Sprint(i)), Store: st, Plans: bigPlans()}))
	}
	us := newNet(t, "alice", "bob", "guest", "carol", "guest")
	alice, bob, carol := us[0], us[1], us[2]
	bob.giveProof(t, alice)
	carol.giveProof(t, alice)
	var addrs []string
	for _, s := range srvs {
		addrs = append(addrs, s.Addrs()[0].String())
	}
	an := startNodeAt(t, alice, addrs)
	bn := startNodeAt(t, bob, addrs)
	waitFor(t, "alice and bob connected", func() bool { return pathTo(bn, an.ID()) != "" })
	srvs[0].Close()
	cn := startNodeAt(t, carol, addrs)
	waitFor(t, "carol registered at the two replicas left", func() bool {
		st := cn.ControlStatus()
		return !st[0].Registered && st[1].Registered && st[2].Registered
	})
	waitFor(t, "carol connected to alice and bob", func() bool {
		return pathTo(cn, an.ID()) != "" && pathTo(cn, bn.ID()) != ""
	})
	if err := sendRecv(t, cn, an, "through the replicas left"); err != nil {
		t.Fatal(err)
	}
}

// startNodeAt starts u's node with these control planes.
func startNodeAt(t *testing.T, u *tuser, addrs []string) *node.Node {
	t.Helper()
	cfg := node.Config{Seed: u.seed, UserName: u.name, Log: u.log, Dir: filepath.Join(u.dir, "node"),
		ListenHost: "127.0.0.1", Logf: prefixed(t, u.name)}
	cfg.Control = addrs
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	r, err := rpc.New(n, rpc.Options{Logf: cfg.Logf})
	if err != nil {
		t.Fatal(err)
	}
	m, err := msg.New(r, msg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	msgsMu.Lock()
	msgs[n] = m
	msgsMu.Unlock()
	t.Cleanup(func() {
		msgsMu.Lock()
		delete(msgs, n)
		msgsMu.Unlock()
		m.Close()
		r.Close()
	})
	return n
}
