package control_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"

	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/member"
)

// secondNet makes another network owned by u's user key, with u's replica
// of it (a network minted with the same owner key).
func secondNet(t *testing.T, u *tuser, name string) *tuser {
	t.Helper()
	l, err := ledger.Create(filepath.Join(t.TempDir(), name), u.seed.UserKey(), u.name, name, "user")
	if err != nil {
		t.Fatal(err)
	}
	return &tuser{name: u.name, seed: u.seed, log: l, dir: filepath.Join(t.TempDir(), name+"-node")}
}

func reserve(t *testing.T, n *rawNode) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := client.Reserve(ctx, n.h, peer.AddrInfo{ID: n.srv.ID()})
	return err
}

// TestLookupMakesNoHolder: a stranger who mints networks of its own (a
// genesis and self-signed certificates) and only looks them up or asks for
// their usage gets no relay slot, and no network over its owner's plan is
// created through a lookup, a usage query or a revocation.
func TestLookupMakesNoHolder(t *testing.T) {
	srv := startServer(t, control.Config{})
	m := newNet(t, "mallory")[0]
	n := newRawNode(t, srv)
	p := n.proof(m, m.id(), ledger.RoleOwner, m.seed.UserKey(), nil, time.Now())
	if _, err := n.lookup(t, p); err != nil {
		t.Fatalf("Lookup(own minted network) = %v, want ok (no records)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if u, err := controlproto.GetUsage(ctx, n.h, srv.ID(), p); err != nil || u.Networks != 0 || u.Bytes != 0 {
		t.Fatalf("GetUsage(unregistered network) = %+v, %v; want no networks and no bytes", u, err)
	}
	if err := reserve(t, n); err == nil {
		t.Fatal("Reserve after a lookup only succeeded, want refused (a lookup makes nobody a holder)")
	}
	// Mallory's plan (tier1) allows one network: register the first, then
	// a second network of the same owner is refused on every path.
	if err := n.register(t, p); err != nil {
		t.Fatalf("Register(first network) = %v", err)
	}
	if err := reserve(t, n); err != nil {
		t.Fatalf("Reserve by a registered node = %v, want ok", err)
	}
	m2 := secondNet(t, m, "second")
	n2 := newRawNode(t, srv)
	p2 := n2.proof(m2, m2.id(), ledger.RoleOwner, m2.seed.UserKey(), nil, time.Now())
	if err := n2.register(t, p2); !errors.Is(err, controlproto.ErrLimit) {
		t.Fatalf("Register(second network) = %v, want ErrLimit (networks)", err)
	}
	rv := member.Revoke(m2.seed.UserKey(), nil, m2.log.Network(), member.RevokeNode, [32]byte{1}, time.Now())
	if err := n2.revoke(t, p2, rv); !errors.Is(err, controlproto.ErrLimit) {
		t.Fatalf("SendRevocation(second network) = %v, want ErrLimit (no network made through a revocation)", err)
	}
	if _, err := n2.lookup(t, p2); err != nil {
		t.Fatalf("Lookup(second network) = %v, want ok", err)
	}
	if err := reserve(t, n2); err == nil {
		t.Fatal("Reserve for a network over the owner's plan succeeded, want refused")
	}
}

// TestReservationsPerNetwork: a network holds at most its plan's nodes in
// relay slots, even when registrations expire and other nodes register.
func TestReservationsPerNetwork(t *testing.T) {
	plans := control.DefaultPlans()
	plans.Plans["tiny"] = control.Plan{Networks: 1, Nodes: 1, Bytes: 1 << 30}
	plans.Default = "tiny"
	srv := startServer(t, control.Config{Plans: plans})
	m := newNet(t, "mallory")[0]
	a, b := newRawNode(t, srv), newRawNode(t, srv)
	pa := a.proof(m, m.id(), ledger.RoleOwner, m.seed.UserKey(), nil, time.Now())
	pb := b.proof(m, m.id(), ledger.RoleOwner, m.seed.UserKey(), nil, time.Now())
	// A registration of one second: it lapses, the node stays a holder.
	rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.registerTTL(rctx, pa, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := reserve(t, a); err != nil {
		t.Fatalf("Reserve(a) = %v, want ok", err)
	}
	waitFor(t, "a's registration to lapse", func() bool { return srv.Registrations() == 0 })
	if err := b.register(t, pb); err != nil {
		t.Fatalf("Register(b) after a's lapsed = %v, want ok", err)
	}
	if err := reserve(t, b); err == nil {
		t.Fatal("Reserve(b) while a holds the plan's only slot succeeded, want refused")
	}
}

// TestOwnersAllowList: with --owners, a control plane serves only the
// listed owners' networks; everyone else is refused with a sentence that
// names the operator's list.
func TestOwnersAllowList(t *testing.T) {
	alice := newNet(t, "alice")[0]
	mallory := newNet(t, "mallory")[0]
	list := filepath.Join(t.TempDir(), "owners")
	if err := os.WriteFile(list, []byte("# friends\n\n"+alice.id().String()+"  # alice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	owners, err := control.LoadOwners(list)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, control.Config{Owners: owners})
	an, mn := newRawNode(t, srv), newRawNode(t, srv)
	if err := an.register(t, an.proof(alice, alice.id(), ledger.RoleOwner, alice.seed.UserKey(), nil, time.Now())); err != nil {
		t.Fatalf("Register(listed owner) = %v, want ok", err)
	}
	mp := mn.proof(mallory, mallory.id(), ledger.RoleOwner, mallory.seed.UserKey(), nil, time.Now())
	if err := mn.register(t, mp); !errors.Is(err, controlproto.ErrUnauthorized) || !strings.Contains(err.Error(), "operator") {
		t.Fatalf("Register(unlisted owner) = %v, want ErrUnauthorized naming the operator's list", err)
	}
	if _, err := mn.lookup(t, mp); !errors.Is(err, controlproto.ErrUnauthorized) {
		t.Fatalf("Lookup(unlisted owner) = %v, want ErrUnauthorized", err)
	}
	if err := reserve(t, mn); err == nil {
		t.Fatal("Reserve by an unlisted owner's node succeeded, want refused")
	}
}

func TestLoadOwners(t *testing.T) {
	var u identity.UserID
	u[0] = 7
	tests := []struct {
		name, text, err string
		n               int
	}{
		{"one with comments", "# list\n" + u.String() + " # me\n\n", "", 1},
		{"duplicates", u.String() + "\n" + u.String() + "\n", "", 1},
		{"empty", "# nobody\n", "lists no owner", 0},
		{"not an ID", "alice\n", "line 1", 0},
		{"two on a line", u.String() + " " + u.String() + "\n", "one per line", 0},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "owners")
		os.WriteFile(path, []byte(tt.text), 0o600)
		got, err := control.LoadOwners(path)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: LoadOwners = %v, %v; want an error saying %q", tt.name, got, err, tt.err)
			}
			continue
		}
		if err != nil || len(got) != tt.n {
			t.Errorf("%s: LoadOwners = %v, %v; want %d owners", tt.name, got, err, tt.n)
		}
	}
	if _, err := control.LoadOwners(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("LoadOwners(missing file) = nil error")
	}
}

// TestNetworksPerOwner: an owner's plan bounds its networks on the control
// plane; another owner's networks do not count against it.
func TestNetworksPerOwner(t *testing.T) {
	plans := control.DefaultPlans()
	plans.Plans["two"] = control.Plan{Networks: 2, Nodes: 10, Bytes: 1 << 30}
	plans.Default = "two"
	srv := startServer(t, control.Config{Plans: plans})
	m := newNet(t, "mallory")[0]
	nets := []*tuser{m}
	for _, name := range []string{"second", "third"} {
		l, err := ledger.Create(filepath.Join(t.TempDir(), name), m.seed.UserKey(), "mallory", name, "user")
		if err != nil {
			t.Fatal(err)
		}
		nets = append(nets, &tuser{name: m.name, seed: m.seed, log: l})
	}
	for i, n := range nets {
		node := newRawNode(t, srv)
		err := node.register(t, node.proof(n, m.id(), ledger.RoleOwner, m.seed.UserKey(), nil, time.Now()))
		var le *controlproto.LimitError
		switch {
		case i < 2 && err != nil:
			t.Fatalf("Register in network %d of 2 = %v, want ok", i+1, err)
		case i == 2 && (!errors.As(err, &le) || le.Limit != controlproto.LimitNetworks):
			t.Fatalf("Register in a third network = %v, want the networks limit", err)
		}
	}
	other := newNet(t, "olivia")[0]
	node := newRawNode(t, srv)
	if err := node.register(t, node.proof(other, other.id(), ledger.RoleOwner, other.seed.UserKey(), nil, time.Now())); err != nil {
		t.Fatalf("Register in another owner's network = %v, want ok", err)
	}
}
