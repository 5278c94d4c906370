package control_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/devnet"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

// devNet is a developer network: the owner's ledger, and a control service
// key with every scope.
type devNet struct {
	log     *ledger.Log
	genesis *ledger.Op
	ctrl    ed25519.PrivateKey
	ctrlOp  *ledger.Op
}

func newDevNet(t *testing.T) *devNet {
	t.Helper()
	owner, _ := identity.NewSeed()
	l, err := ledger.Create(t.TempDir(), owner.UserKey(), "dev", "chat", ledger.NetKindDeveloper)
	if err != nil {
		t.Fatal(err)
	}
	d := &devNet{log: l}
	d.genesis, _ = l.Get(ledger.ID(l.Network()))
	_, d.ctrl, _ = ed25519.GenerateKey(rand.Reader)
	d.ctrlOp, err = l.Append(owner.UserKey(), ledger.Op{Kind: ledger.KindDelegateService, Subject: identity.UserID(d.ctrl.Public().(ed25519.PublicKey)),
		Scopes: ledger.ScopeAll, Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// authKey mints an auth key naming the control plane srv.
func (d *devNet) authKey(t *testing.T, srv *control.Server, o devnet.AuthKeyOptions) *devnet.AuthKey {
	t.Helper()
	for _, a := range srv.Addrs() {
		o.Control = append(o.Control, a.String())
	}
	k, err := devnet.NewAuthKey(d.ctrl, d.ctrlOp, d.genesis, o, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Through its string form, as a node gets it.
	k, err = devnet.ParseAuthKey(k.String(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// startDevNode starts a node that enrols with k alone: its ledger from the
// key's genesis, its control planes from the key.
func startDevNode(t *testing.T, name string, k *devnet.AuthKey) *node.Node {
	t.Helper()
	seed, _ := identity.NewSeed()
	g, err := k.GenesisOp()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), name)
	l, err := ledger.Init(filepath.Join(dir, "ledger"), g, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "node"), 0o700); err != nil {
		t.Fatal(err)
	}
	n, err := node.New(node.Config{Seed: seed, Log: l, Dir: filepath.Join(dir, "node"), ListenHost: "127.0.0.1",
		Logf: prefixed(t, name), AuthKey: k, Control: k.Control})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func registered(n *node.Node) bool {
	for _, cs := range n.ControlStatus() {
		if cs.Registered {
			return true
		}
	}
	return false
}

// Nodes enrolled with one auth key register at the control plane with
// their credentials, find each other there and connect; a revocation list
// handed to the control plane (as the REST API does) drops the revoked
// node's registration and reaches every node, which cut it off.
func TestDevNodesThroughControlPlane(t *testing.T) {
	srv := startServer(t, control.Config{})
	d := newDevNet(t)
	k := d.authKey(t, srv, devnet.AuthKeyOptions{Reusable: true, Ephemeral: true, Tags: []string{"client"}})
	a := startDevNode(t, "a", k)
	b := startDevNode(t, "b", k)
	x := startDevNode(t, "x", k)
	all := []*node.Node{a, b, x}
	waitFor(t, "the nodes meeting through the control plane", func() bool {
		for _, n := range all {
			for _, m := range all {
				if n != m && !n.IsMember(m.ID()) {
					return false
				}
			}
		}
		return true
	})
	if m, ok := srv.DevMember(d.log.Network(), x.NodeKey()); !ok || !m.Ephemeral || len(m.Tags) != 1 {
		t.Errorf("DevMember(x) = %+v, %v; want an ephemeral client", m, ok)
	}

	rev := &devnet.Revocations{Net: d.log.Network(), Version: 1, Issued: time.Now().Unix(), Nodes: [][32]byte{x.NodeKey()}}
	rev.Sign(d.ctrl, d.ctrlOp)
	if err := srv.OfferNetList(d.genesis, rev, nil); err != nil {
		t.Fatalf("OfferNetList = %v", err)
	}
	waitFor(t, "the revoked node cut off by every node", func() bool {
		for _, n := range []*node.Node{a, b} {
			if n.Host().Network().Connectedness(x.ID()) == network.Connected || n.IsMember(x.ID()) {
				return false
			}
		}
		return true
	})
	if v, _ := b.Lists().Versions(); v != 1 {
		t.Errorf("node b holds revocation list version %d, want 1", v)
	}
	waitFor(t, "the revoked node refused by the control plane", func() bool {
		for _, cs := range x.ControlStatus() {
			if strings.Contains(cs.Error, "revoked") {
				return true
			}
		}
		return false
	})
	// An older list is refused at the control plane too.
	old := &devnet.Revocations{Net: d.log.Network(), Version: 1, Issued: time.Now().Unix()}
	old.Sign(d.ctrl, d.ctrlOp)
	if err := srv.OfferNetList(d.genesis, old, nil); !errors.Is(err, devnet.ErrStale) {
		t.Errorf("OfferNetList(same version) = %v, want ErrStale", err)
	}
}

// A one-off auth key registers its first node only: the control plane
// remembers the first use (Config.Claims).
func TestDevOneOffAuthKey(t *testing.T) {
	srv := startServer(t, control.Config{})
	d := newDevNet(t)
	k := d.authKey(t, srv, devnet.AuthKeyOptions{})
	a := startDevNode(t, "a", k)
	waitFor(t, "the first node registered", func() bool { return registered(a) })
	b := startDevNode(t, "b", k)
	waitFor(t, "the second node refused", func() bool {
		for _, cs := range b.ControlStatus() {
			if strings.Contains(cs.Error, "already used") {
				return true
			}
		}
		return false
	})
	if registered(b) {
		t.Error("a second node registered with a one-off auth key")
	}
}
