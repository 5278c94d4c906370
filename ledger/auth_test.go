package ledger

import (
	"crypto/ed25519"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// Attacks by members on the proofs of ops (issue 10, items 1 and 2). Each
// is tried on every member's real ledger: the owner's log, where the
// attacker's op arrives by Add, and an admin's replica synced by AddAll.

// members returns the family's log and a replica of it (bob's copy).
func (f *family) members(t *testing.T) []*Log {
	t.Helper()
	r := replica(t, f.l, f.c)
	if _, errs := r.AddAll(f.l.Ops()); errors.Join(errs...) != nil {
		t.Fatalf("sync replica: %v", errs)
	}
	return []*Log{f.l, r}
}

// refusedEverywhere checks that every log refuses o with a *Rejection
// wrapping want whose reason contains reason, and that the fold of the logs'
// ops plus o gives o no effect for the same reason.
func refusedEverywhere(t *testing.T, logs []*Log, o *Op, want error, reason string) {
	t.Helper()
	for i, l := range logs {
		before := l.IDs()
		wantRejection(t, "Add on member "+string(rune('0'+i)), l.Add(o), want, reason)
		if _, errs := l.AddAll([]*Op{o}); errs[0] == nil {
			t.Errorf("AddAll on member %d accepted the op", i)
		}
		if !slices.Equal(l.IDs(), before) {
			t.Errorf("member %d stored the refused op", i)
		}
	}
	s := Fold(append(logs[0].Ops(), o))
	r, ok := rejectedFor(s, o.ID())
	if !ok || !errors.Is(&r, want) || !strings.Contains(r.Reason, reason) {
		t.Errorf("Fold gives the op %+v (rejected %v), want it rejected for %q", r, ok, reason)
	}
}

// A guest signs an add_user that redeems the owner's unredeemed admin invite
// for a key she controls: without the invite key's signature, with her own
// key's, and with the signature from someone else's redeem.
func TestGuestCannotRedeemAnInviteSheDoesNotHold(t *testing.T) {
	f := newFamily(t)
	inv := f.invite(t, alice, RoleAdmin, 2, time.Hour)
	logs := f.members(t)
	const reason = "not signed by the invite's key: only the holder of the invite code can use it"

	unsigned := f.next(carol, Op{Kind: KindAddUser, Subject: uid(mal), SubjectName: "mallory", Role: RoleAdmin, Ref: inv.ID(), InviteSig: []byte{}})
	refusedEverywhere(t, logs, unsigned, ErrUnauthorized, reason)

	forged := f.next(carol, Op{Kind: KindAddUser, Subject: uid(mal), SubjectName: "mallory", Role: RoleAdmin, Ref: inv.ID(),
		InviteSig: SignRedeem(carol, f.net, inv.ID(), uid(mal), RoleAdmin)})
	refusedEverywhere(t, logs, forged, ErrUnauthorized, reason)

	// dave, who holds the code, joins; his proof is in every ledger copy.
	// It names dave: it cannot make anyone else a member, nor be used
	// for another role.
	legit := mustAppend(t, f.l, alice, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleAdmin, Ref: inv.ID()})
	for _, l := range logs[1:] {
		if err := l.Add(legit); err != nil {
			t.Fatalf("Add(dave's redeem) = %v", err)
		}
	}
	replayed := f.next(carol, Op{Kind: KindAddUser, Subject: uid(mal), SubjectName: "mallory", Role: RoleAdmin, Ref: inv.ID(), InviteSig: legit.InviteSig})
	refusedEverywhere(t, logs, replayed, ErrUnauthorized, reason)
	for _, l := range logs {
		if st := l.State(); st.Role(uid(mal)) != RoleNone || st.Invites[inv.ID()].Used != 1 {
			t.Errorf("after the attacks: mallory %s, invite used %d times; want none, 1", st.Role(uid(mal)), st.Invites[inv.ID()].Used)
		}
	}
}

// A member who does not hold a guest's code cannot use it up before its
// holder does (nor its leftover uses after), whoever authors the op.
func TestNobodyButTheCodeHolderUsesAnInvite(t *testing.T) {
	f := newFamily(t)
	inv := f.invite(t, bob, RoleGuest, 3, time.Hour)
	logs := f.members(t)
	for _, by := range []ed25519.PrivateKey{carol, bob, alice} {
		o := f.next(by, Op{Kind: KindAddUser, Subject: uid(mal), SubjectName: "puppet", Role: RoleGuest, Ref: inv.ID(), InviteSig: []byte{}})
		refusedEverywhere(t, logs, o, ErrUnauthorized, "only the holder of the invite code can use it")
	}
	// The holder's uses are all left.
	holder := f.next(carol, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleGuest, Ref: inv.ID()})
	for _, l := range logs {
		if err := l.Add(holder); err != nil {
			t.Fatalf("Add(holder's redeem) = %v", err)
		}
		if used := l.State().Invites[inv.ID()].Used; used != 1 {
			t.Errorf("invite used %d times, want 1", used)
		}
	}
	// The same proof cannot be used again for the same user once removed
	// (the invite predates the removal), nor for another role.
	mustAppend(t, f.l, bob, Op{Kind: KindRemoveUser, Subject: uid(dave)})
	again := f.next(carol, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleGuest, Ref: inv.ID(), InviteSig: holder.InviteSig})
	wantRejection(t, "Add(replayed redeem after removal)", f.l.Add(again), ErrUnauthorized, "was removed after this invite was created")
}

// An op dated before its newest parent is refused; dated the same
// millisecond is fine.
func TestOpDatedBeforeItsParent(t *testing.T) {
	f := newFamily(t)
	logs := f.members(t)
	parent := f.l.Ops()[len(f.l.Ops())-1]
	early := f.next(alice, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleGuest})
	early.Time = parent.Time - 1
	early.Sign(alice)
	refusedEverywhere(t, logs, early, ErrMalformed, "before its parent")

	same := f.next(alice, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleGuest})
	same.Time = parent.Time
	same.Sign(alice)
	for _, l := range logs {
		if err := l.Add(same); err != nil {
			t.Errorf("Add(op dated as its parent) = %v, want nil", err)
		}
	}
}

// Append never dates an op before its parents, even when a peer's clock
// runs ahead of this node's.
func TestAppendAfterAPeerAhead(t *testing.T) {
	f := newFamily(t)
	ahead := f.next(bob, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleGuest})
	ahead.Time = f.c.Now().Add(5 * time.Minute).UnixMilli()
	ahead.Sign(bob)
	if err := f.l.Add(ahead); err != nil {
		t.Fatalf("Add(5 minutes ahead) = %v", err)
	}
	op := mustAppend(t, f.l, alice, Op{Kind: KindAddUser, Subject: uid(erin), SubjectName: "erin", Role: RoleGuest})
	if op.Time != ahead.Time {
		t.Errorf("Append after a parent 5 minutes ahead dated the op %d, want %d", op.Time, ahead.Time)
	}
}

// The holder of an expired admin code, a guest, backdates her redeem to
// before the expiry, on parents from before it: the fold alone would take
// it; every member that held the invite refuses it when it arrives.
func TestBackdatedRedeemDoesNotReviveAnExpiredInvite(t *testing.T) {
	f := newFamily(t)
	inv := f.invite(t, alice, RoleAdmin, 1, time.Hour)
	invOp, _ := f.l.Get(inv.ID())
	logs := f.members(t)
	f.c.advance(2 * time.Hour)
	mustAppend(t, f.l, alice, Op{Kind: KindAddUser, Subject: uid(erin), SubjectName: "erin", Role: RoleGuest})
	if err := logs[1].Add(f.l.Ops()[len(f.l.Ops())-1]); err != nil {
		t.Fatal(err)
	}

	back := build(f.net, carol, invOp.Time+1000, []*Op{invOp}, Op{Kind: KindAddUser, Subject: uid(mal), SubjectName: "mallory", Role: RoleAdmin, Ref: inv.ID()})
	// The fold alone accepts it: its time is before the expiry and after
	// its parents'.
	if s := Fold(append(f.l.Ops(), back)); s.Role(uid(mal)) != RoleAdmin {
		t.Fatalf("Fold: mallory is %s, want the fold alone to take the backdated redeem (else this test proves nothing)", s.Role(uid(mal)))
	}
	for i, l := range logs {
		wantRejection(t, "Add(backdated redeem) on member "+string(rune('0'+i)), l.Add(back), ErrUnauthorized, "reached this node only at")
		if _, errs := l.AddAll([]*Op{back}); errs[0] == nil {
			t.Errorf("AddAll(backdated redeem) on member %d accepted it", i)
		}
		// Sent again with the invite it redeems, as if both were new.
		if _, errs := l.AddAll([]*Op{invOp, back}); errs[1] == nil {
			t.Errorf("AddAll(invite, backdated redeem) on member %d accepted it", i)
		}
		if l.State().Role(uid(mal)) != RoleNone {
			t.Errorf("member %d made mallory a member", i)
		}
	}
	// Within RedeemSkew of the expiry it is still taken (clocks differ).
	f2 := newFamily(t)
	inv2 := f2.invite(t, alice, RoleAdmin, 1, time.Hour)
	inv2Op, _ := f2.l.Get(inv2.ID())
	f2.c.advance(time.Hour + RedeemSkew - time.Second)
	late := build(f2.net, carol, inv2Op.Time+1000, []*Op{inv2Op}, Op{Kind: KindAddUser, Subject: uid(mal), SubjectName: "mallory", Role: RoleAdmin, Ref: inv2.ID()})
	if err := f2.l.Add(late); err != nil {
		t.Errorf("Add(redeem within the skew of expiry) = %v, want nil", err)
	}
}

// Honest redeems reaching a node late are taken: a new member receives the
// invite with its redeems, and an owner's redeem could have been a direct
// add anyway.
func TestLateHonestRedeemsAreTaken(t *testing.T) {
	f := newFamily(t)
	inv := f.invite(t, alice, RoleAdmin, 1, time.Hour)
	offline := f.members(t)[1] // bob's laptop, offline from now on
	mustAppend(t, f.l, alice, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleAdmin, Ref: inv.ID()})
	f.c.advance(48 * time.Hour)
	if _, errs := offline.AddAll(f.l.Ops()); errors.Join(errs...) != nil {
		t.Errorf("offline member's sync after the expiry: %v", errs)
	}
	fresh := replica(t, f.l, f.c)
	if _, errs := fresh.AddAll(f.l.Ops()); errors.Join(errs...) != nil {
		t.Errorf("new member's first sync after the expiry: %v", errs)
	}
	for _, l := range []*Log{offline, fresh} {
		if !l.State().Equal(f.l.State()) {
			t.Error("a member's state differs from the owner's")
		}
	}
}

// Admins cannot remove the owner's nodes, devices included; the owner and
// each node's user can.
func TestOnlyTheOwnerRemovesHerNodesAndDevices(t *testing.T) {
	f := newFamily(t)
	mustAppend(t, f.l, alice, Op{Kind: KindAddNode, Subject: uid(alice), Node: nodeKey("laptop"), SubjectName: "laptop"})
	// A device: a node of the owner's, bound from its claim code (no
	// proof), with its record.
	mustAppend(t, f.l, alice, Op{Kind: KindAddNode, Subject: uid(alice), Node: nodeKey("lamp"), SubjectName: "lamp", NodeSig: []byte{}})
	mustAppend(t, f.l, alice, Op{Kind: KindPut, Table: TableDevice, Key: "lamp-peer-id", Value: []byte(`{"name":"lamp"}`)})
	mustAppend(t, f.l, bob, Op{Kind: KindAddNode, Subject: uid(bob), Node: nodeKey("bob")})
	logs := f.members(t)
	for _, n := range []string{"laptop", "lamp"} {
		o := f.next(bob, Op{Kind: KindRemoveNode, Node: nodeKey(n)})
		refusedEverywhere(t, logs, o, ErrUnauthorized, "the owner's nodes and devices are the owner's alone to remove")
	}
	for _, o := range []*Op{
		f.next(bob, Op{Kind: KindRemoveNode, Node: nodeKey("bob")}),
		f.next(alice, Op{Kind: KindRemoveNode, Node: nodeKey("lamp")}),
	} {
		for _, l := range logs {
			if err := l.Add(o); err != nil {
				t.Errorf("Add(%s) = %v, want nil", o.Describe(), err)
			}
		}
	}
}

// A guest cannot bind a key she does not hold to herself — a device's not
// yet claimed, another user's node — in advance: an add_node needs the node
// key's signature for that user, unless the owner makes it.
func TestGuestCannotSquatNodeKeys(t *testing.T) {
	f := newFamily(t)
	mustAppend(t, f.l, bob, Op{Kind: KindAddNode, Subject: uid(bob), Node: nodeKey("bob old")})
	bobsProof, _ := f.l.Get(f.l.Heads()[0])
	mustAppend(t, f.l, bob, Op{Kind: KindRemoveNode, Node: nodeKey("bob old")})
	logs := f.members(t)
	noProof := f.next(carol, Op{Kind: KindAddNode, Subject: uid(carol), Node: nodeKey("lamp"), NodeSig: []byte{}})
	refusedEverywhere(t, logs, noProof, ErrUnauthorized, "carries no signature by that node's key")
	// A proof that does not verify is refused with the op's signature,
	// before any fold: by every member's Add, and by Append.
	for name, o := range map[string]Op{
		"her own signature":     {Kind: KindAddNode, Subject: uid(carol), Node: nodeKey("lamp"), NodeSig: SignNodeProof(carol, f.net, uid(carol))},
		"proof for another":     {Kind: KindAddNode, Subject: uid(carol), Node: nodeKey("bob old"), NodeSig: bobsProof.NodeSig},
		"proof of another node": {Kind: KindAddNode, Subject: uid(carol), Node: nodeKey("lamp"), NodeSig: SignNodeProof(testKey("node carol"), f.net, uid(carol))},
	} {
		t.Run(name, func(t *testing.T) {
			op := f.next(carol, o)
			for i, l := range logs {
				before := l.IDs()
				if err := l.Add(op); !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "node proof") {
					t.Errorf("Add on member %d = %v, want ErrBadSignature for the node proof", i, err)
				}
				if !slices.Equal(l.IDs(), before) {
					t.Errorf("member %d stored the op", i)
				}
			}
			if _, err := f.l.Append(carol, o); !errors.Is(err, ErrBadSignature) {
				t.Errorf("Append = %v, want ErrBadSignature", err)
			}
		})
	}
	// The owner binds a device's key from its claim code, without its proof.
	if _, err := f.l.Append(alice, Op{Kind: KindAddNode, Subject: uid(alice), Node: nodeKey("lamp"), SubjectName: "lamp"}); err != nil {
		t.Errorf("owner's add_node without proof = %v, want nil", err)
	}
}

func TestProofFieldsOnlyWhereTheyBelong(t *testing.T) {
	f := newFamily(t)
	for _, o := range []Op{
		{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleGuest, InviteSig: make([]byte, 64)},
		{Kind: KindRemoveNode, Node: nodeKey("x"), NodeSig: make([]byte, 64)},
		{Kind: KindAddNode, Subject: uid(carol), Node: nodeKey("x"), InviteSig: make([]byte, 64)},
	} {
		wantRejection(t, "Add("+string(o.Kind)+" with a misplaced proof)", f.l.Add(f.next(alice, o)), ErrMalformed, "carries")
	}
}
