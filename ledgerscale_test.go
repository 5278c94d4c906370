package coconet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

// TestAdminFloodRefusedOverQuota: bob, an admin, runs a modified client
// that signs more operations in one hour than his quota allows, stores them
// in his ledger directory past his own ledger's refusal, and offers them to
// alice in sync. Alice's node stores those within the quota and refuses the
// rest. The quota is lowered for the test (the real one, 10,000 an hour,
// would cost as many durable writes); the mechanism is the same.
func TestAdminFloodRefusedOverQuota(t *testing.T) {
	const quota = 20
	old := ledger.QuotaOpsPerHour[ledger.RoleAdmin]
	ledger.QuotaOpsPerHour[ledger.RoleAdmin] = quota
	t.Cleanup(func() { ledger.QuotaOpsPerHour[ledger.RoleAdmin] = old })

	alice, bob := newUser(t, "alice"), newUser(t, "bob")
	if _, err := CreateNetwork(alice.home, "home", "user", ""); err != nil {
		t.Fatal(err)
	}
	an := alice.start(t, "home")
	peers := bob.join(t, makeInvite(t, an, ledger.RoleAdmin, 1))

	// Bob's modified client, his node stopped.
	id, err := homedir.LoadIdentity(bob.home)
	if err != nil {
		t.Fatal(err)
	}
	l, err := homedir.OpenNetwork(bob.home, "home")
	if err != nil {
		t.Fatal(err)
	}
	l.AddAll(an.Ledger().Ops())
	parents, now := l.Heads(), time.Now().UnixMilli()
	hour := func(ms int64) int64 { return ms / int64(time.Hour/time.Millisecond) }
	within := quota // how many more of bob's ops the quota leaves this hour
	for _, o := range l.Ops() {
		if o.Author == id.Seed.UserID() && hour(o.Time) == hour(now) {
			within-- // his join (an invite's redeem is signed by the joiner)
		}
	}
	var ops []*ledger.Op
	for i := range quota + 5 {
		o := &ledger.Op{V: ledger.Version, Net: l.Network(), Parents: parents, Time: now,
			Kind: ledger.KindPut, Table: ledger.TableGrant, Key: fmt.Sprint("flood ", i), Value: []byte{1}}
		o.Sign(id.Seed.UserKey())
		ops = append(ops, o)
		parents = []ledger.ID{o.ID()}
	}
	added, errs := l.AddAll(ops)
	if added != within || !errors.Is(errs[within], ledger.ErrQuota) {
		t.Fatalf("bob's own ledger took %d of his %d ops (the one past the quota: %v), want %d and ErrQuota", added, len(ops), errs[within], within)
	}
	dir := filepath.Join(homedir.NetworkDir(bob.home, l.Network()), "ledger", "ops")
	for _, o := range ops[within:] {
		if err := os.WriteFile(filepath.Join(dir, o.ID().String()+".op"), o.Marshal(), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	bn := bob.start(t, "home")
	if !bn.Ledger().Has(ops[within].ID()) {
		t.Fatal("bob's node does not hold the ops past the quota (the attack did not happen)")
	}
	bn.engine().Node().AddPeerAddrs(peers)
	waitConnected(t, bn, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := syncWith(ctx, bn, an); err != nil {
		t.Fatalf("bob syncs with alice: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); !an.Ledger().Has(ops[within-1].ID()); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("alice never got bob's ops within the quota")
		}
	}
	for i, o := range ops[within:] {
		if an.Ledger().Has(o.ID()) {
			t.Errorf("alice stored bob's op %d, past his quota of %d an hour", within+i+1, quota)
		}
	}
	st := an.Ledger().State()
	last, next := fmt.Sprint("flood ", within-1), fmt.Sprint("flood ", within)
	if st.Record(ledger.TableGrant, last) == nil || st.Record(ledger.TableGrant, next) != nil {
		t.Errorf("alice's grants: %q = %v, %q = %v; want the first only", last, st.Record(ledger.TableGrant, last), next, st.Record(ledger.TableGrant, next))
	}
}

// syncWith runs one ledger exchange from n with m, again while one of the
// exchanges the nodes start by themselves (on connecting) is running.
func syncWith(ctx context.Context, n, m *Node) error {
	for {
		err := n.engine().Node().SyncWith(ctx, m.PeerID())
		if !errors.Is(err, node.ErrBusy) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}
