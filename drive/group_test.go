package drive

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/coconet/coconet/identity"
)

func seed(t testing.TB, i byte) identity.Seed {
	t.Helper()
	s, err := identity.SeedFromBytes(append(make([]byte, 31), i))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestInvite: the creator seals the drive secret to the invitee's writer
// key; only the invitee opens it, and then reads the drive.
func TestInvite(t *testing.T) {
	creator, invitee, other := seed(t, 1), seed(t, 2), seed(t, 3)
	gk := creator.GroupKey("team")
	addr := GroupAddress(gk)
	secret := creator.DriveSecret(addr)
	code, err := SealInvite(addr, secret, WriterOf(invitee.DriveWriterKey(addr)))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("invite code: %s (%d chars)", code, len(code))
	gotAddr, gotSecret, err := OpenInvite(code, invitee.DriveWriterKey(addr))
	if err != nil || gotAddr != addr || gotSecret != secret {
		t.Fatalf("OpenInvite = %v, %v", gotAddr, err)
	}
	if _, _, err := OpenInvite(code, other.DriveWriterKey(addr)); !errors.Is(err, ErrNoKey) {
		t.Fatalf("OpenInvite by someone else = %v, want ErrNoKey", err)
	}
	// Someone else claiming to be the invitee (To rewritten) cannot open.
	inv, _ := ParseInvite(code)
	inv.To = WriterOf(other.DriveWriterKey(addr))
	b, _ := encMode.Marshal(inv)
	forged := invitePrefix + strings.ToLower(b32.EncodeToString(b))
	if _, _, err := OpenInvite(forged, other.DriveWriterKey(addr)); !errors.Is(err, ErrNoKey) {
		t.Fatalf("OpenInvite of a readdressed code = %v, want ErrNoKey", err)
	}
	// A damaged code is refused with a reason.
	bad := code[:len(code)-3] + "aaa"
	if _, _, err := OpenInvite(bad, invitee.DriveWriterKey(addr)); err == nil {
		t.Fatal("a damaged code opened")
	}
	// The invitee reads what the creator wrote.
	c := member(t, 1, true)
	st, _ := OpenStore(t.TempDir(), testAddr, StoreOptions{})
	defer st.Close()
	c.WriteFile("hello.txt", []byte("welcome"))
	copyStore(t, st, c.Store())
	d, err := Open(st, testSecret, testKey(t, 2), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := d.ReadFile("hello.txt"); string(got) != "welcome" {
		t.Fatalf("invitee reads %q", got)
	}
}

func FuzzParseInvite(f *testing.F) {
	s := seed(f, 1)
	code, _ := SealInvite(Address{1}, [32]byte{2}, WriterOf(s.DriveWriterKey(Address{1})))
	f.Add(code)
	f.Add("coco-drive1-")
	f.Fuzz(func(t *testing.T, code string) {
		if inv, err := ParseInvite(code); err == nil {
			OpenInvite(code, s.DriveWriterKey(inv.Address))
		}
	})
}

// TestAllowList: a group's signed allow-list decides who writes and who
// syncs; a stranger with a throwaway key gets nothing stored, and a
// removed member's later blocks are refused.
func TestAllowList(t *testing.T) {
	gk := seed(t, 1).GroupKey("team")
	a, b, stranger := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	g := Group{Version: 1, Members: []Member{{Writer: WriterOf(a), Peer: "a"}, {Writer: WriterOf(b), Peer: "b"}}, Replicators: []PeerID{"rep"}}
	g.Sign(gk)
	allow, err := NewAllow(g)
	if err != nil {
		t.Fatal(err)
	}
	// Forgeries.
	g2 := g
	g2.Members = append(g2.Members, Member{Writer: WriterOf(stranger)})
	if err := g2.Verify(); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("edited list Verify = %v", err)
	}
	g3 := g2
	g3.Sign(testKey(t, 9)) // the stranger's own "group"
	g3.Address = g.Address
	if err := allow.Update(g3); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("Update with a list signed by another key = %v", err)
	}
	old := g
	if err := allow.Update(old); err == nil {
		t.Fatal("a replayed list of the same version was taken")
	}

	rep, err := OpenStore(t.TempDir(), testAddr, StoreOptions{AllowWriter: allow.Writer})
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	src := openTestStore(t, t.TempDir())
	for _, k := range []struct {
		key  []byte
		want error
	}{{a, nil}, {stranger, ErrNotAllowed}} {
		src.Append(k.key, block(0))
		bt, _ := src.BatchFrom(WriterOf(k.key), 0, 10, 1<<20)
		if err := rep.AddBatch(bt); !errors.Is(err, k.want) {
			t.Fatalf("AddBatch = %v, want %v", err, k.want)
		}
	}
	if len(rep.Heads()) != 1 {
		t.Fatalf("replica holds %d logs", len(rep.Heads()))
	}
	// Remove a: version 2 without it. Its earlier blocks stay, later ones
	// are refused.
	g4 := Group{Version: 2, Members: []Member{{Writer: WriterOf(b), Peer: "b"}}, Replicators: []PeerID{"rep"}}
	g4.Sign(gk)
	if err := allow.Update(g4); err != nil {
		t.Fatal(err)
	}
	src.Append(a, block(1))
	bt, _ := src.BatchFrom(WriterOf(a), 1, 10, 1<<20)
	if err := rep.AddBatch(bt); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("removed member's batch = %v, want ErrNotAllowed", err)
	}
	if rep.Head(WriterOf(a)).Size != 1 {
		t.Fatal("removed member's block stored")
	}
	// Peers: the replicator and b sync; a (removed) and strangers do not.
	r := NewReplica(rep, ReplicaOptions{AllowPeer: allow.Peer})
	for p, ok := range map[PeerID]bool{"rep": true, "b": true, "a": false, "x": false} {
		if allow.Peer(p) != ok {
			t.Errorf("Peer(%s) = %v", p, !ok)
		}
	}
	if err := r.Serve(context.Background(), "a", rwc{strings.NewReader(""), nil}); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("Serve(removed) = %v", err)
	}
}

// TestRemovalRotatesKey: after a member is removed, the group starts a key
// epoch sealed to the others only; what is written afterwards stays
// unreadable to the removed member even if it gets every byte (from a
// replica, say), while the remaining members read it.
func TestRemovalRotatesKey(t *testing.T) {
	creator := seed(t, 1)
	gk := creator.GroupKey("team")
	addr := GroupAddress(gk)
	open := func(s identity.Seed, secret [32]byte) *Drive {
		st, err := OpenStore(t.TempDir(), addr, StoreOptions{noSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		d, err := Open(st, secret, s.DriveWriterKey(addr), Options{Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	secret0 := creator.DriveSecret(addr)
	a, b, c := open(creator, secret0), open(seed(t, 2), secret0), open(seed(t, 3), secret0)
	all := []*Drive{a, b, c}
	syncAll := func() {
		for _, x := range all {
			for _, y := range all {
				if x != y {
					copyStore(t, x.Store(), y.Store())
				}
			}
		}
	}
	a.WriteFile("plan.txt", []byte("before"))
	syncAll()
	if got, _ := c.ReadFile("plan.txt"); string(got) != "before" {
		t.Fatalf("c before removal: %q", got)
	}
	// Remove c: version 2 of the list, epoch 1 sealed to a and b.
	g := Group{Version: 2, Members: []Member{{Writer: a.Writer()}, {Writer: b.Writer()}}}
	g.Address = addr
	secret1 := creator.DriveSecret(EpochAddress(addr, 1))
	if err := g.SealEpoch(1, secret1); err != nil {
		t.Fatal(err)
	}
	g.Sign(gk)
	if err := g.Verify(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*Drive{a, b} {
		ep, s, err := g.OpenEpoch(d.key)
		if err != nil || ep != 1 || s != secret1 {
			t.Fatalf("OpenEpoch = %d, %v", ep, err)
		}
		d.AddEpoch(ep, s)
	}
	if _, _, err := g.OpenEpoch(c.key); !errors.Is(err, ErrNoKey) {
		t.Fatalf("removed member OpenEpoch = %v, want ErrNoKey", err)
	}
	a.WriteFile("plan.txt", []byte("after: the removed member must not read this"))
	a.WriteFile("new.txt", []byte("also new"))
	copyStore(t, b.Store(), a.Store())
	if err := b.Rename("plan.txt", "moved.txt"); err != nil {
		t.Fatal(err)
	}
	syncAll() // c gets every byte anyway
	if got, err := b.ReadFile("moved.txt"); err != nil || !strings.HasPrefix(string(got), "after") {
		t.Fatalf("b after rotation: %q, %v", got, err)
	}
	for _, f := range c.List() {
		if f.Path != "plan.txt" {
			t.Errorf("removed member sees %s", f.Path)
		}
		if got, _ := c.ReadFile(f.Path); string(got) != "before" {
			t.Errorf("removed member reads %q", got)
		}
	}
	// The creator's paper key restores the epoch.
	if creator.DriveSecret(EpochAddress(addr, 1)) != secret1 {
		t.Fatal("epoch secret not derived from the seed")
	}
}

// TestAllowListTravels: the creator's newer allow-list reaches the
// replicator in a sync; from then on the replicator refuses the removed
// member's sessions, and a forged list is refused with the session.
func TestAllowListTravels(t *testing.T) {
	gk := seed(t, 1).GroupKey("team")
	a, c := testKey(t, 1), testKey(t, 3)
	v1 := Group{Version: 1, Members: []Member{{Writer: WriterOf(a), Peer: "a"}, {Writer: WriterOf(c), Peer: "c"}}, Replicators: []PeerID{"rep"}}
	v1.Sign(gk)
	v2 := Group{Address: v1.Address, Version: 2, Members: []Member{{Writer: WriterOf(a), Peer: "a"}}, Replicators: []PeerID{"rep"}}
	v2.Sign(gk)
	repAllow, _ := NewAllow(v1)
	aAllow, _ := NewAllow(v2)
	n := newPipeNet(t)
	rep := openTestStore(t, t.TempDir())
	n.add("rep", rep, ReplicaOptions{Group: repAllow, AllowPeer: repAllow.Peer})
	ra, da := n.add("a", openTestStore(t, t.TempDir()), ReplicaOptions{Group: aAllow})
	rc, dc := n.add("c", openTestStore(t, t.TempDir()), ReplicaOptions{})
	syncOK(t, rc, dc, "rep") // c still allowed
	syncOK(t, ra, da, "rep")
	if repAllow.Group().Version != 2 {
		t.Fatalf("replicator holds version %d", repAllow.Group().Version)
	}
	if _, err := rc.Sync(context.Background(), dc, "rep"); err == nil {
		t.Fatal("removed member synced")
	}
	// A forged list (the removed member re-adds itself) ends the session.
	forged := v2
	forged.Version = 3
	forged.Members = append(forged.Members, Member{Writer: WriterOf(c), Peer: "a"})
	aAllow.g = forged
	if _, err := ra.Sync(context.Background(), da, "rep"); err == nil {
		t.Fatal("sync with a forged list went through")
	}
	n.wg.Wait()
	if errs := n.served["rep"]; !errors.Is(errs[len(errs)-1], ErrBadSignature) {
		t.Fatalf("replicator ended the session with %v, want ErrBadSignature", errs[len(errs)-1])
	}
	if repAllow.Group().Version != 2 {
		t.Fatal("forged list taken")
	}
}
