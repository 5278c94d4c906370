package engine_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/internal/enginetest"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

// Resolve lists a member's nodes, this app's node and connected ones
// first, and never the resolving node itself.
func TestResolveOrder(t *testing.T) {
	n := enginetest.New(t, "alice")
	n.AddUser("bob", ledger.RoleGuest)
	bobCoco := n.NodeID("bob", node.DefaultApp)
	bobPhone := n.AddNode("bob", "phone")
	bobTablet := n.AddNode("bob", "tablet")
	alicePhone := n.AddNode("alice", "phone")
	alice := n.Start("alice", enginetest.Options{})

	// Nothing connected: bob's node for this app (coco) comes first.
	name, ids, err := alice.Resolve("bob")
	if err != nil {
		t.Fatalf("Resolve(bob): %v", err)
	}
	if name != "bob" || len(ids) != 3 || ids[0] != bobCoco {
		t.Fatalf("Resolve(bob) = %q %v, want bob's coco node %s first of 3", name, ids, bobCoco.ShortString())
	}

	// bob's phone connects: it joins the coco node in front, the tablet
	// (neither this app's nor connected) stays last.
	phone := n.Start("bob", enginetest.Options{App: "phone"})
	n.WaitConnected(alice, phone)
	_, ids, err = alice.Resolve("bob")
	if err != nil {
		t.Fatalf("Resolve(bob): %v", err)
	}
	if len(ids) != 3 || ids[2] != bobTablet || !slices.Contains(ids[:2], bobCoco) || !slices.Contains(ids[:2], bobPhone) {
		t.Fatalf("Resolve(bob) = %v, want coco and phone (%s, %s) before tablet %s", ids, bobCoco.ShortString(), bobPhone.ShortString(), bobTablet.ShortString())
	}

	// By user ID, and by a prefix of it.
	uid := n.User("bob").ID().String()
	for _, ref := range []string{uid, uid[:8]} {
		if name, ids, err := alice.Resolve(ref); err != nil || name != "bob" || len(ids) != 3 {
			t.Errorf("Resolve(%s) = %q %v, %v; want bob's 3 nodes", ref, name, ids, err)
		}
	}

	// alice's own other node, but never the resolving node itself.
	_, ids, err = alice.Resolve("alice")
	if err != nil || !slices.Equal(ids, []peer.ID{alicePhone}) {
		t.Fatalf("Resolve(alice) on alice's node = %v, %v; want only her phone %s", ids, err, alicePhone.ShortString())
	}
}

// A device the owner claimed is reached by its name, and is never one of
// the owner's nodes: a message to the owner must not go to a lamp.
func TestResolveDeviceIsNotItsOwner(t *testing.T) {
	n := enginetest.New(t, "alice")
	n.AddUser("bob", ledger.RoleGuest)
	lamp := n.AddDevice("lamp")
	bob := n.Start("bob", enginetest.Options{})
	aliceCoco := n.NodeID("alice", node.DefaultApp)

	_, ids, err := bob.Resolve("alice")
	if err != nil {
		t.Fatalf("Resolve(alice): %v", err)
	}
	if !slices.Equal(ids, []peer.ID{aliceCoco}) {
		t.Fatalf("Resolve(alice) = %v, want only her node %s (not the lamp %s)", ids, aliceCoco.ShortString(), lamp.ShortString())
	}
	name, ids, err := bob.Resolve("lamp")
	if err != nil || name != "lamp" || !slices.Equal(ids, []peer.ID{lamp}) {
		t.Fatalf("Resolve(lamp) = %q %v, %v; want the lamp's node", name, ids, err)
	}
	name, ids, err = bob.Resolve(lamp.String())
	if err != nil || name != "lamp" || !slices.Equal(ids, []peer.ID{lamp}) {
		t.Fatalf("Resolve(lamp's peer ID) = %q %v, %v; want the lamp's node", name, ids, err)
	}

	// Connected, the lamp is still not alice's.
	l := n.Start("lamp", enginetest.Options{Device: true})
	n.WaitConnected(bob, l)
	if _, ids, _ := bob.Resolve("alice"); slices.Contains(ids, lamp) {
		t.Fatalf("Resolve(alice) = %v lists the connected lamp", ids)
	}
}

// Resolve refuses what the ledger does not list, and says what it does.
func TestResolveRefusals(t *testing.T) {
	n := enginetest.New(t, "alice")
	bobID := n.AddUser("bob", ledger.RoleGuest)
	bobNode := n.NodeID("bob", node.DefaultApp)
	n.AddUser("carol", ledger.RoleGuest)
	alice := n.Start("alice", enginetest.Options{})

	if _, _, err := alice.Resolve("dave"); err == nil || !strings.Contains(err.Error(), "members are: alice, bob, carol") {
		t.Errorf("Resolve(dave) = %v, want the list of members", err)
	}
	n.Stranger("eve")
	strangerID := n.NodeID("eve", node.DefaultApp)
	if _, _, err := alice.Resolve(strangerID.String()); err == nil || !strings.Contains(err.Error(), "not a member node") {
		t.Errorf("Resolve(a stranger's peer ID) = %v, want not a member node", err)
	}
	if name, ids, err := alice.Resolve(bobNode.String()); err != nil || name != "bob" || !slices.Equal(ids, []peer.ID{bobNode}) {
		t.Fatalf("Resolve(bob's peer ID) = %q %v, %v", name, ids, err)
	}

	// bob removed: neither his name, nor his user ID, nor his node's peer
	// ID resolves any more.
	n.Remove("bob")
	for _, ref := range []string{"bob", bobID.ID().String(), bobNode.String()} {
		if _, ids, err := alice.Resolve(ref); err == nil {
			t.Errorf("Resolve(%s) of removed bob = %v, want an error", ref, ids)
		}
	}
}

// A member without a node cannot be reached, and Resolve says why.
func TestResolveMemberWithoutNode(t *testing.T) {
	n := enginetest.New(t, "alice")
	alice := n.Start("alice", enginetest.Options{})
	if _, err := alice.Append(ledger.Op{Kind: ledger.KindAddUser, Subject: n.Stranger("frank").ID(), Role: ledger.RoleGuest, SubjectName: "frank"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := alice.Resolve("frank"); err == nil || !strings.Contains(err.Error(), "frank has no node") {
		t.Fatalf("Resolve(frank) = %v, want frank has no node", err)
	}
}
