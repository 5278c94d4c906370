package ledger

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// family is a network with alice (owner), bob (admin) and carol (guest).
type family struct {
	c       *clock
	l       *Log
	net     NetworkID
	invites int
}

var (
	alice = testKey("alice")
	bob   = testKey("bob")
	carol = testKey("carol")
	dave  = testKey("dave")
	erin  = testKey("erin")
	mal   = testKey("mallory")
)

func newFamily(t *testing.T) *family {
	t.Helper()
	c := &clock{t: t0}
	l := newLog(t, c)
	mustAppend(t, l, alice, Op{Kind: KindAddUser, Subject: uid(bob), SubjectName: "bob", Role: RoleAdmin})
	mustAppend(t, l, alice, Op{Kind: KindAddUser, Subject: uid(carol), SubjectName: "carol", Role: RoleGuest})
	return &family{c: c, l: l, net: l.Network()}
}

// next makes an op on top of the log's heads without any check.
func (f *family) next(key []byte, o Op) *Op {
	var parents []*Op
	for _, h := range f.l.Heads() {
		p, _ := f.l.Get(h)
		parents = append(parents, p)
	}
	f.c.advance(time.Second)
	return build(f.net, key, f.c.Now().UnixMilli(), parents, o)
}

func (f *family) invite(t *testing.T, by []byte, role Role, uses int, ttl time.Duration) *Op {
	t.Helper()
	f.invites++
	return mustAppend(t, f.l, by, Op{Kind: KindInvite, InviteKey: nodeKey(fmt.Sprint("invite ", f.invites)), Role: role, Uses: uses, Expires: f.c.Now().Add(ttl).Unix()})
}

func TestRejections(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, f *family) *Op // returns the op to Add
		err    error
		reason string
	}{
		{"guest adds a member", func(t *testing.T, f *family) *Op {
			return f.next(carol, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleGuest})
		}, ErrUnauthorized, "guest carol cannot add members"},
		{"admin invites an admin", func(t *testing.T, f *family) *Op {
			return f.next(bob, Op{Kind: KindInvite, InviteKey: nodeKey("x"), Role: RoleAdmin, Uses: 1, Expires: t0.Unix() + 3600})
		}, ErrUnauthorized, "only the owner can invite admins"},
		{"admin adds an admin", func(t *testing.T, f *family) *Op {
			return f.next(bob, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleAdmin})
		}, ErrUnauthorized, "only the owner can add admins"},
		{"guest invites", func(t *testing.T, f *family) *Op {
			return f.next(carol, Op{Kind: KindInvite, InviteKey: nodeKey("x"), Role: RoleGuest, Uses: 1, Expires: t0.Unix() + 3600})
		}, ErrUnauthorized, "guest carol cannot invite"},
		{"admin removes the owner", func(t *testing.T, f *family) *Op {
			return f.next(bob, Op{Kind: KindRemoveUser, Subject: uid(alice)})
		}, ErrUnauthorized, "admin bob cannot remove the owner"},
		{"owner leaves", func(t *testing.T, f *family) *Op {
			return f.next(alice, Op{Kind: KindRemoveUser, Subject: uid(alice)})
		}, ErrUnauthorized, "the owner cannot leave the network"},
		{"guest removes a guest", func(t *testing.T, f *family) *Op {
			mustAppend(t, f.l, alice, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleGuest})
			return f.next(carol, Op{Kind: KindRemoveUser, Subject: uid(dave)})
		}, ErrUnauthorized, "guest carol cannot remove other members"},
		{"second owner", func(t *testing.T, f *family) *Op {
			return f.next(alice, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleOwner})
		}, ErrUnauthorized, "one owner"},
		{"stranger", func(t *testing.T, f *family) *Op {
			return f.next(mal, Op{Kind: KindAddUser, Subject: uid(mal), SubjectName: "mallory", Role: RoleGuest})
		}, ErrUnauthorized, "is not a member"},
		{"expired invite", func(t *testing.T, f *family) *Op {
			inv := f.invite(t, alice, RoleGuest, 1, time.Hour)
			f.c.advance(2 * time.Hour)
			return f.next(bob, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleGuest, Ref: inv.ID()})
		}, ErrUnauthorized, "expired at 2026-11-20T10:00:0"},
		{"used-up invite", func(t *testing.T, f *family) *Op {
			inv := f.invite(t, alice, RoleGuest, 1, time.Hour)
			mustAppend(t, f.l, bob, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleGuest, Ref: inv.ID()})
			return f.next(bob, Op{Kind: KindAddUser, Subject: uid(erin), SubjectName: "erin", Role: RoleGuest, Ref: inv.ID()})
		}, ErrUnauthorized, "is used up (1 of 1 uses)"},
		{"revoked invite", func(t *testing.T, f *family) *Op {
			inv := f.invite(t, bob, RoleGuest, 1, time.Hour)
			mustAppend(t, f.l, alice, Op{Kind: KindRevokeInvite, Ref: inv.ID()})
			return f.next(carol, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleGuest, Ref: inv.ID()})
		}, ErrUnauthorized, "was revoked"},
		{"invite for another role", func(t *testing.T, f *family) *Op {
			inv := f.invite(t, alice, RoleGuest, 1, time.Hour)
			return f.next(carol, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleAdmin, Ref: inv.ID()})
		}, ErrUnauthorized, "is for the role guest, not admin"},
		{"inviter removed", func(t *testing.T, f *family) *Op {
			inv := f.invite(t, bob, RoleGuest, 1, time.Hour)
			mustAppend(t, f.l, alice, Op{Kind: KindRemoveUser, Subject: uid(bob)})
			return f.next(carol, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleGuest, Ref: inv.ID()})
		}, ErrUnauthorized, "made by bob, who is no longer a member"},
		{"removed user rejoins with an old invite", func(t *testing.T, f *family) *Op {
			inv := f.invite(t, alice, RoleGuest, 2, time.Hour)
			mustAppend(t, f.l, bob, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleGuest, Ref: inv.ID()})
			mustAppend(t, f.l, bob, Op{Kind: KindRemoveUser, Subject: uid(dave)})
			return f.next(carol, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleGuest, Ref: inv.ID()})
		}, ErrUnauthorized, "user dave was removed after this invite was created; ask an admin for a new invite"},
		{"removed user acts", func(t *testing.T, f *family) *Op {
			mustAppend(t, f.l, bob, Op{Kind: KindRemoveUser, Subject: uid(carol)})
			return f.next(carol, Op{Kind: KindAddNode, Subject: uid(carol), Node: nodeKey("c")})
		}, ErrUnauthorized, "carol is no longer a member"},
		{"someone else's node", func(t *testing.T, f *family) *Op {
			return f.next(bob, Op{Kind: KindAddNode, Subject: uid(carol), Node: nodeKey("c")})
		}, ErrUnauthorized, "only carol or the owner can add carol's nodes"},
		{"node taken", func(t *testing.T, f *family) *Op {
			mustAppend(t, f.l, carol, Op{Kind: KindAddNode, Subject: uid(carol), Node: nodeKey("c")})
			return f.next(bob, Op{Kind: KindAddNode, Subject: uid(bob), Node: nodeKey("c")})
		}, ErrUnauthorized, "already belongs to carol"},
		{"guest removes another's node", func(t *testing.T, f *family) *Op {
			mustAppend(t, f.l, bob, Op{Kind: KindAddNode, Subject: uid(bob), Node: nodeKey("b")})
			return f.next(carol, Op{Kind: KindRemoveNode, Node: nodeKey("b")})
		}, ErrUnauthorized, "guest carol cannot remove node"},
		{"unknown kind", func(t *testing.T, f *family) *Op {
			return f.next(alice, Op{Kind: "crown"})
		}, ErrMalformed, `unknown kind "crown"`},
		{"invite with no uses", func(t *testing.T, f *family) *Op {
			return f.next(alice, Op{Kind: KindInvite, InviteKey: nodeKey("x"), Role: RoleGuest, Expires: t0.Unix() + 3600})
		}, ErrMalformed, "at least 1 use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFamily(t)
			o := tt.setup(t, f)
			before := f.l.IDs()
			err := f.l.Add(o)
			wantRejection(t, "Add("+tt.name+")", err, tt.err, tt.reason)
			if got := f.l.IDs(); !slices.Equal(got, before) {
				t.Errorf("Add(%s) changed the log", tt.name)
			}
			// Append refuses it with the same reason before signing.
			if tt.err == ErrUnauthorized {
				k := map[string][]byte{o.Author.String(): nil}
				for _, key := range [][]byte{alice, bob, carol, mal} {
					if uid(key) == o.Author {
						k[o.Author.String()] = key
					}
				}
				_, err := f.l.Append(k[o.Author.String()], *o)
				wantRejection(t, "Append("+tt.name+")", err, tt.err, tt.reason)
			}
		})
	}
}

func TestRejoinWithNewInvite(t *testing.T) {
	f := newFamily(t)
	old := f.invite(t, alice, RoleGuest, 2, time.Hour)
	mustAppend(t, f.l, bob, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleGuest, Ref: old.ID()})
	rm := mustAppend(t, f.l, bob, Op{Kind: KindRemoveUser, Subject: uid(dave)})
	if got := f.l.State().Removed[uid(dave)]; got != rm.ID() {
		t.Fatalf("Removed[dave] = %s, want %s", got.Short(), rm.ID().Short())
	}
	fresh := f.invite(t, bob, RoleGuest, 1, time.Hour)
	add := f.next(carol, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleGuest, Ref: fresh.ID()})
	if err := f.l.Add(add); err != nil {
		t.Fatalf("Add(rejoin with new invite) = %v, want nil", err)
	}
	st := f.l.State()
	if st.Role(uid(dave)) != RoleGuest || st.Invites[fresh.ID()].Used != 1 {
		t.Errorf("after rejoin: role %s, used %d; want guest, 1", st.Role(uid(dave)), st.Invites[fresh.ID()].Used)
	}
	if _, ok := st.Removed[uid(dave)]; ok {
		t.Error("dave is still listed as removed after rejoining")
	}
}

func TestAddErrors(t *testing.T) {
	f := newFamily(t)
	// Forged: claims to be alice, signed by mallory.
	forged := f.next(mal, Op{Kind: KindAddUser, Subject: uid(mal), SubjectName: "mallory", Role: RoleAdmin})
	forged.Author = uid(alice)
	if err := f.l.Add(forged); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Add(forged) = %v, want ErrBadSignature", err)
	}
	// Replay.
	ok := f.next(alice, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleGuest})
	if err := f.l.Add(ok); err != nil {
		t.Fatalf("Add(valid) = %v", err)
	}
	if err := f.l.Add(ok); !errors.Is(err, ErrDuplicate) {
		t.Errorf("Add(same op twice) = %v, want ErrDuplicate", err)
	}
	g, _ := f.l.Get(ID(f.net))
	if err := f.l.Add(g); !errors.Is(err, ErrDuplicate) {
		t.Errorf("Add(own genesis) = %v, want ErrDuplicate", err)
	}
	// Another network.
	other, err := Init(t.TempDir(), testGenesis(bob, "bob"), &Options{Now: f.c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Add(ok); !errors.Is(err, ErrWrongNetwork) {
		t.Errorf("Add(op of another network) = %v, want ErrWrongNetwork", err)
	}
	if err := f.l.Add(testGenesis(bob, "bob")); !errors.Is(err, ErrWrongNetwork) {
		t.Errorf("Add(another genesis) = %v, want ErrWrongNetwork", err)
	}
	// Missing parents.
	orphanParent := f.next(alice, Op{Kind: KindAddUser, Subject: uid(erin), SubjectName: "erin", Role: RoleGuest})
	orphan := build(f.net, alice, f.c.Now().UnixMilli(), []*Op{orphanParent}, Op{Kind: KindRemoveUser, Subject: uid(erin)})
	err = f.l.Add(orphan)
	if !errors.Is(err, ErrMissingParents) || !strings.Contains(err.Error(), orphanParent.ID().Short()) {
		t.Errorf("Add(orphan) = %v, want ErrMissingParents naming %s", err, orphanParent.ID().Short())
	}
	// From the future.
	future := f.next(alice, Op{Kind: KindAddUser, Subject: uid(erin), SubjectName: "erin", Role: RoleGuest})
	future.Time = f.c.Now().Add(11 * time.Minute).UnixMilli()
	future.Sign(alice)
	if err := f.l.Add(future); !errors.Is(err, ErrFuture) {
		t.Errorf("Add(11 minutes ahead) = %v, want ErrFuture", err)
	}
	// Non-canonical parents.
	bad := f.next(alice, Op{Kind: KindAddUser, Subject: uid(erin), SubjectName: "erin", Role: RoleGuest})
	bad.Parents = append(bad.Parents, bad.Parents[0])
	bad.Sign(alice)
	wantRejection(t, "Add(repeated parents)", f.l.Add(bad), ErrMalformed, "parents are not sorted or repeat")
	if _, err := f.l.Append(alice, Op{Kind: KindGenesis}); !errors.Is(err, ErrMalformed) {
		t.Errorf("Append(genesis) = %v, want ErrMalformed", err)
	}
}

func TestAddAllAndNotify(t *testing.T) {
	f := newFamily(t)
	inv := f.invite(t, alice, RoleGuest, 1, time.Hour)
	mustAppend(t, f.l, bob, Op{Kind: KindAddUser, Subject: uid(dave), SubjectName: "dave", Role: RoleGuest, Ref: inv.ID()})
	mustAppend(t, f.l, dave, Op{Kind: KindAddNode, Subject: uid(dave), Node: nodeKey("d"), SubjectName: "phone"})
	ops := f.l.Ops()
	slices.Reverse(ops)
	r := replica(t, f.l, f.c)
	calls := 0
	r.OnChange(func(s *State) {
		calls++
		if !s.IsMemberNode(nodeKey("d")) {
			t.Error("OnChange state lacks dave's node")
		}
	})
	added, errs := r.AddAll(append(ops, ops[0]))
	if added != len(ops)-1 || calls != 1 {
		t.Errorf("AddAll = %d added, %d calls; want %d, 1", added, calls, len(ops)-1)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("AddAll errs[%d] = %v", i, err)
		}
	}
	if !r.State().Equal(f.l.State()) || !slices.Equal(r.Heads(), f.l.Heads()) {
		t.Error("replica state differs from the original")
	}
	if u, ok := r.State().NodeOwner(nodeKey("d")); !ok || u != uid(dave) {
		t.Errorf("NodeOwner(d) = %v, %v; want dave", u, ok)
	}
	if got := r.State().MemberByName("DAVE"); len(got) != 1 || got[0].User != uid(dave) || got[0].Invite != inv.ID() {
		t.Errorf("MemberByName(DAVE) = %v, want dave via the invite", got)
	}
	if got := r.State().MemberByName(uid(bob).String()[:8]); len(got) != 1 || got[0].Name != "bob" {
		t.Errorf("MemberByName(bob's id prefix) = %v, want bob", got)
	}
	var names []string
	for _, m := range r.State().SortedMembers() {
		names = append(names, m.Name)
	}
	if want := []string{"alice", "bob", "carol", "dave"}; !slices.Equal(names, want) {
		t.Errorf("SortedMembers() = %v, want %v", names, want)
	}
	if inv2, ok := r.State().InviteByKey(inv.InviteKey); !ok || inv2.Used != 1 {
		t.Errorf("InviteByKey = %+v, %v", inv2, ok)
	}
}

func TestPersistence(t *testing.T) {
	f := newFamily(t)
	mustAppend(t, f.l, carol, Op{Kind: KindAddNode, Subject: uid(carol), Node: nodeKey("c")})
	dir := f.l.dir
	ops := filepath.Join(dir, opsDir)
	// A crash while writing: a torn temporary file, an empty op file, garbage.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(ops, ".deadbeef.op.tmp-123"), []byte{0xac, 0x01}, 0o600))
	must(os.WriteFile(filepath.Join(ops, strings.Repeat("ab", 32)+opExt), nil, 0o600))
	must(os.WriteFile(filepath.Join(ops, strings.Repeat("cd", 32)+opExt), []byte("garbage"), 0o600))
	l2, err := Open(dir, &Options{Now: f.c.Now})
	if err != nil {
		t.Fatalf("Open after a crash: %v", err)
	}
	if len(l2.Warnings()) != 2 {
		t.Errorf("Open warnings = %q, want 2 (empty and garbage files)", l2.Warnings())
	}
	if !l2.State().Equal(f.l.State()) || !slices.Equal(l2.IDs(), f.l.IDs()) {
		t.Error("reopened state differs")
	}
	if l2.Network() != f.net {
		t.Errorf("Network() = %s, want %s", l2.Network(), f.net)
	}
	b, _ := os.ReadFile(filepath.Join(dir, networkFile))
	if strings.TrimSpace(string(b)) != f.net.String() {
		t.Errorf("network file = %q, want %s", b, f.net)
	}
	// The log keeps working after reopening.
	mustAppend(t, l2, alice, Op{Kind: KindRemoveUser, Subject: uid(carol)})
	if l2.State().IsMemberNode(nodeKey("c")) {
		t.Error("carol's node survived her removal")
	}
	// A lost op: its descendants are dropped, the rest loads.
	lost := l2.Ops()[1].ID()
	must(os.Remove(opPath(dir, lost)))
	must(os.Remove(filepath.Join(dir, networkFile)))
	l3, err := Open(dir, nil)
	if err != nil {
		t.Fatalf("Open with a lost op: %v", err)
	}
	if len(l3.IDs()) != 1 {
		t.Errorf("Open with op 1 lost kept %d ops, want only the genesis", len(l3.IDs()))
	}
	if _, err := Init(dir, testGenesis(alice, "alice"), nil); !errors.Is(err, ErrExists) {
		t.Errorf("Init over a ledger = %v, want ErrExists", err)
	}
	if _, err := Open(t.TempDir(), nil); err == nil {
		t.Error("Open(empty dir) succeeded")
	}
}

func TestCreate(t *testing.T) {
	dir := t.TempDir()
	l, err := Create(dir, alice, "alice", "home", NetKindUser)
	if err != nil {
		t.Fatal(err)
	}
	st := l.State()
	if st.Owner != uid(alice) || st.Name != "home" || st.Kind != NetKindUser || st.Network != l.Network() || st.Role(uid(alice)) != RoleOwner {
		t.Errorf("Create state = %+v", st)
	}
	if _, err := Create(dir, alice, "alice", "home", NetKindUser); !errors.Is(err, ErrExists) {
		t.Errorf("Create twice = %v, want ErrExists", err)
	}
	if _, err := Create(t.TempDir(), alice, "alice", "home", "party"); !errors.Is(err, ErrMalformed) {
		t.Errorf("Create(kind party) = %v, want ErrMalformed", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	fastWrites(t)
	f := newFamily(t)
	r := replica(t, f.l, f.c)
	var seen atomic.Int64
	f.l.OnChange(func(s *State) {
		seen.Add(1)
		_ = f.l.State() // hooks run without the lock held
	})
	var wg sync.WaitGroup
	for w, key := range []ed25519.PrivateKey{alice, bob, carol} {
		wg.Go(func() {
			for i := range 10 {
				o := Op{Kind: KindAddNode, Subject: uid(key), Node: nodeKey(fmt.Sprint(w, i))}
				prove(f.net, &o)
				_, err := f.l.Append(key, o)
				if err != nil {
					t.Errorf("Append: %v", err)
				}
				r.AddAll(f.l.Ops())
			}
		})
	}
	wg.Wait()
	if n := len(f.l.State().Nodes); n != 30 || seen.Load() != 30 {
		t.Errorf("after 30 concurrent appends: %d nodes, %d notifications; want 30, 30", n, seen.Load())
	}
	r.AddAll(f.l.Ops())
	if !r.State().Equal(f.l.State()) {
		t.Error("replica differs after concurrent sync")
	}
}
