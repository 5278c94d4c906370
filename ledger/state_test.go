package ledger

import (
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// dagBuilder makes ops with explicit parents for fold tests.
type dagBuilder struct {
	g   *Op
	net NetworkID
	ms  int64
}

func newDAG() *dagBuilder {
	g := testGenesis(alice, "alice")
	return &dagBuilder{g: g, net: NetworkID(g.ID()), ms: t0.UnixMilli()}
}

func (b *dagBuilder) op(key ed25519.PrivateKey, parents []*Op, o Op) *Op {
	b.ms += 1000
	return build(b.net, key, b.ms, parents, o)
}

// before re-signs a (changing its time by a few ms) until its ID sorts
// before b's, to pin the canonical order of two concurrent ops.
func before(key ed25519.PrivateKey, a, b *Op) *Op {
	for compareID(a.ID(), b.ID()) >= 0 {
		a.Time++
		a.Sign(key)
	}
	return a
}

// foldAll folds ops in several orders and checks they agree.
func foldAll(t *testing.T, ops ...*Op) *State {
	t.Helper()
	s := Fold(ops)
	r := rand.New(rand.NewPCG(1, 2))
	for range 10 {
		sh := append([]*Op(nil), ops...)
		r.Shuffle(len(sh), func(i, j int) { sh[i], sh[j] = sh[j], sh[i] })
		if !Fold(sh).Equal(s) {
			t.Fatal("Fold depends on the order of its input")
		}
	}
	return s
}

func wantVoided(t *testing.T, s *State, o *Op, reason string) {
	t.Helper()
	r, ok := rejectedFor(s, o.ID())
	if !ok {
		t.Fatalf("op %q was not rejected", o.Describe())
	}
	if r.Reason != reason || !errors.Is(&r, ErrUnauthorized) {
		t.Errorf("rejection of %q = %q (%v), want %q", o.Describe(), r.Reason, r.Err, reason)
	}
}

func TestMutualAdminRemoval(t *testing.T) {
	b := newDAG()
	ab := b.op(alice, []*Op{b.g}, Op{Kind: KindAddUser, Subject: uid(bob), SubjectName: "bob", Role: RoleAdmin})
	ac := b.op(alice, []*Op{ab}, Op{Kind: KindAddUser, Subject: uid(carol), SubjectName: "carol", Role: RoleAdmin})
	rb := b.op(carol, []*Op{ac}, Op{Kind: KindRemoveUser, Subject: uid(bob)})
	rc := b.op(bob, []*Op{ac}, Op{Kind: KindRemoveUser, Subject: uid(carol)})
	cn := b.op(carol, []*Op{ac}, Op{Kind: KindAddNode, Subject: uid(carol), Node: nodeKey("c")})
	// Whichever comes first in canonical order, bob (added first) wins.
	for _, first := range []string{"bob", "carol"} {
		if first == "bob" {
			rc = before(bob, rc, rb)
		} else {
			rb = before(carol, rb, rc)
		}
		s := foldAll(t, b.g, ab, ac, rb, rc, cn)
		if s.Role(uid(bob)) != RoleAdmin || s.Role(uid(carol)) != RoleNone || s.Removed[uid(carol)] != rc.ID() {
			t.Fatalf("%s first: bob %s, carol %s; want bob admin, carol removed", first, s.Role(uid(bob)), s.Role(uid(carol)))
		}
		wantVoided(t, s, rb, "voided: carol was removed by bob concurrently")
		wantVoided(t, s, cn, "voided: carol was removed by bob concurrently")
	}
}

func TestOwnerAdminMutualRemoval(t *testing.T) {
	b := newDAG()
	ab := b.op(alice, []*Op{b.g}, Op{Kind: KindAddUser, Subject: uid(bob), SubjectName: "bob", Role: RoleAdmin})
	ra := b.op(bob, []*Op{ab}, Op{Kind: KindRemoveUser, Subject: uid(alice)})
	rb := b.op(alice, []*Op{ab}, Op{Kind: KindRemoveUser, Subject: uid(bob)})
	s := foldAll(t, b.g, ab, ra, rb)
	if s.Role(uid(alice)) != RoleOwner || s.Role(uid(bob)) != RoleNone {
		t.Fatalf("alice %s, bob %s; want owner, none", s.Role(uid(alice)), s.Role(uid(bob)))
	}
	wantVoided(t, s, ra, "voided: bob was removed by alice concurrently")
}

func TestConcurrentAddByRemovedAdmin(t *testing.T) {
	b := newDAG()
	gina := testKey("gina")
	ab := b.op(alice, []*Op{b.g}, Op{Kind: KindAddUser, Subject: uid(bob), SubjectName: "bob", Role: RoleAdmin})
	rm := b.op(alice, []*Op{ab}, Op{Kind: KindRemoveUser, Subject: uid(bob)})
	add := b.op(bob, []*Op{ab}, Op{Kind: KindAddUser, Subject: uid(gina), SubjectName: "gina", Role: RoleGuest})
	node := b.op(gina, []*Op{add}, Op{Kind: KindAddNode, Subject: uid(gina), Node: nodeKey("g")})
	// bob's own earlier node stands until his removal takes it away.
	s := foldAll(t, b.g, ab, rm, add, node)
	if s.Role(uid(gina)) != RoleNone || s.IsMemberNode(nodeKey("g")) || s.Applied != 3 {
		t.Fatalf("gina %s, node %v, applied %d; want none, false, 3", s.Role(uid(gina)), s.IsMemberNode(nodeKey("g")), s.Applied)
	}
	wantVoided(t, s, add, "voided: bob was removed by alice concurrently")
	wantVoided(t, s, node, "gina is not a member")

	// Each op was valid at its causal point, so a log accepts all of them.
	c := &clock{t: t0.Add(time.Hour)}
	l, err := Init(t.TempDir(), b.g, &Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if n, errs := l.AddAll([]*Op{node, add, rm, ab}); n != 4 {
		t.Fatalf("AddAll = %d, %v; want 4 added", n, errs)
	}
	if !l.State().Equal(s) {
		t.Error("log state differs from Fold")
	}
}

// A removal whose author's membership was voided must void nothing: the fold
// repeats without it (step 4 of the rule).
func TestVoidedRemoverVoidsNothing(t *testing.T) {
	b := newDAG()
	ab := b.op(alice, []*Op{b.g}, Op{Kind: KindAddUser, Subject: uid(bob), SubjectName: "bob", Role: RoleAdmin})
	inv := b.op(alice, []*Op{ab}, Op{Kind: KindInvite, InviteKey: nodeKey("i"), Role: RoleAdmin, Uses: 1, Expires: t0.Unix() + 86400})
	// bob redeems the invite for dave while alice, concurrently, adds erin
	// and removes bob. dave is added before erin in canonical order.
	ad := b.op(bob, []*Op{inv}, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleAdmin, Ref: inv.ID()})
	ae := b.op(alice, []*Op{inv}, Op{Kind: KindAddUser, Subject: uid(erin), SubjectName: "erin", Role: RoleAdmin})
	ad = before(bob, ad, ae)
	rb := b.op(alice, []*Op{ae}, Op{Kind: KindRemoveUser, Subject: uid(bob)})
	// dave and erin, both admins at their causal points, remove each other;
	// erin also adds a node.
	rde := b.op(dave, []*Op{ad, ae}, Op{Kind: KindRemoveUser, Subject: uid(erin)})
	red := b.op(erin, []*Op{ad, ae}, Op{Kind: KindRemoveUser, Subject: uid(dave)})
	en := b.op(erin, []*Op{ad, ae}, Op{Kind: KindAddNode, Subject: uid(erin), Node: nodeKey("e")})
	s := foldAll(t, b.g, ab, inv, ad, ae, rb, rde, red, en)
	if s.Role(uid(dave)) != RoleNone || s.Role(uid(erin)) != RoleAdmin || !s.IsMemberNode(nodeKey("e")) {
		t.Fatalf("dave %s, erin %s, erin's node %v; want none, admin, true", s.Role(uid(dave)), s.Role(uid(erin)), s.IsMemberNode(nodeKey("e")))
	}
	wantVoided(t, s, ad, "voided: bob was removed by alice concurrently")
	wantVoided(t, s, rde, "dave is not a member")
	wantVoided(t, s, red, "dave is not a member")
}

func TestReaddedUserActsAgain(t *testing.T) {
	b := newDAG()
	ab := b.op(alice, []*Op{b.g}, Op{Kind: KindAddUser, Subject: uid(bob), SubjectName: "bob", Role: RoleAdmin})
	bn := b.op(bob, []*Op{ab}, Op{Kind: KindAddNode, Subject: uid(bob), Node: nodeKey("b1")})
	rm := b.op(alice, []*Op{bn}, Op{Kind: KindRemoveUser, Subject: uid(bob)})
	stale := b.op(bob, []*Op{bn}, Op{Kind: KindAddNode, Subject: uid(bob), Node: nodeKey("b2")})
	re := b.op(alice, []*Op{rm}, Op{Kind: KindAddUser, Subject: uid(bob), SubjectName: "bob", Role: RoleGuest})
	after := b.op(bob, []*Op{re, stale}, Op{Kind: KindAddNode, Subject: uid(bob), Node: nodeKey("b3")})
	s := foldAll(t, b.g, ab, bn, rm, stale, re, after)
	if s.Role(uid(bob)) != RoleGuest || s.IsMemberNode(nodeKey("b1")) || s.IsMemberNode(nodeKey("b2")) || !s.IsMemberNode(nodeKey("b3")) {
		t.Fatalf("bob %s, nodes b1 %v b2 %v b3 %v; want guest, false, false, true", s.Role(uid(bob)),
			s.IsMemberNode(nodeKey("b1")), s.IsMemberNode(nodeKey("b2")), s.IsMemberNode(nodeKey("b3")))
	}
	wantVoided(t, s, stale, "voided: bob was removed by alice concurrently")
}

func TestFoldMissingParents(t *testing.T) {
	b := newDAG()
	ab := b.op(alice, []*Op{b.g}, Op{Kind: KindAddUser, Subject: uid(bob), SubjectName: "bob", Role: RoleAdmin})
	bn := b.op(bob, []*Op{ab}, Op{Kind: KindAddNode, Subject: uid(bob), Node: nodeKey("b")})
	s := foldAll(t, b.g, bn, bn)
	r, ok := rejectedFor(s, bn.ID())
	if !ok || r.Reason != "missing parents" || !errors.Is(&r, ErrMissingParents) || s.Applied != 1 {
		t.Errorf("Fold(genesis, orphan) rejected %+v (applied %d), want the orphan for missing parents", r, s.Applied)
	}
	if s := Fold(nil); s.Applied != 0 || !s.Network.IsZero() {
		t.Errorf("Fold(nil) = %+v, want empty", s)
	}
}
