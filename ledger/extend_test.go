package ledger

import (
	"fmt"
	"testing"
	"time"
)

// TestExtendMatchesFold adds the ops of random scenarios one by one in
// canonical order (so that many take the extension path) and checks after
// every op that the log's state is the full fold of its ops.
func TestExtendMatchesFold(t *testing.T) {
	fastWrites(t)
	for seed := uint64(1); seed <= 40; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			all := newSim(seed).run()
			d, _ := buildDAG(all, nil)
			c := &clock{t: t0.Add(24 * time.Hour)}
			l, err := Init(t.TempDir(), d.ops[0], &Options{Now: c.Now})
			if err != nil {
				t.Fatal(err)
			}
			extended := 0
			for _, o := range d.ops[1:] {
				l.mu.Lock()
				fast := l.extendable(o)
				l.mu.Unlock()
				if err := l.Add(o); err != nil {
					continue // refused at its causal point: in neither state
				}
				if fast {
					extended++
				}
				if got, want := l.State(), Fold(l.Ops()); !got.Equal(want) {
					t.Fatalf("after %s (extended: %v): state differs from Fold: %s", o.Describe(), fast, stateDiff(got, want))
				}
			}
			if extended == 0 {
				t.Logf("seed %d: no op took the extension path", seed)
			}
		})
	}
}

// TestAppendExtends checks that Append's states equal the full fold, for a
// long linear history with records, invites and removals.
func TestAppendExtends(t *testing.T) {
	fastWrites(t)
	alice, bob := testKey("alice"), testKey("bob")
	l := newLog(t, &clock{t0})
	for i := range 60 {
		switch i % 4 {
		case 0:
			mustAppend(t, l, alice, Op{Kind: KindAddUser, Subject: uid(bob), SubjectName: "bob", Role: RoleAdmin})
		case 1:
			mustAppend(t, l, bob, Op{Kind: KindPut, Table: TableGrant, Key: fmt.Sprint("g", i%7), Value: []byte{byte(i)}})
		case 2:
			mustAppend(t, l, alice, Op{Kind: KindInvite, InviteKey: nodeKey(fmt.Sprint("inv", i)), Role: RoleGuest, Uses: 1, Expires: t0.Add(time.Hour).Unix()})
		case 3:
			mustAppend(t, l, alice, Op{Kind: KindRemoveUser, Subject: uid(bob)})
		}
		if got, want := l.State(), Fold(l.Ops()); !got.Equal(want) {
			t.Fatalf("after op %d: state differs from Fold: %s", i, stateDiff(got, want))
		}
	}
}
