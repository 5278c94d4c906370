package gateway

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/internal/nettest"
	"github.com/coconet/coconet/ledger"
)

// TestSealRoundTrip: a box sealed to an Ed25519 public key opens with its
// private key only, and only under the same network and record.
func TestSealRoundTrip(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	info := sealInfo([32]byte{1}, "rec")
	box, err := seal(priv.Public().(ed25519.PublicKey), info, key1)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := open(priv, info, box); err != nil || k != key1 {
		t.Fatalf("open = %q, %v; want %q", k, err, key1)
	}
	if _, err := open(other, info, box); err == nil {
		t.Error("open with another key succeeded")
	}
	if _, err := open(priv, sealInfo([32]byte{1}, "other"), box); err == nil {
		t.Error("open under another record succeeded")
	}
}

// guestKeys returns the private keys a guest holds: her user key and her
// node's key.
func guestKeys(t *testing.T, n *engine.Engine) []ed25519.PrivateKey {
	t.Helper()
	k, err := nodeKey(n.Node())
	if err != nil {
		t.Fatal(err)
	}
	return []ed25519.PrivateKey{admin(t, n).key, k}
}

// TestGuestCannotReadKeys: with a key created by the owner (before and
// after naming a push server), the guest's copy of the ledger holds no
// account key in plain text, and neither of the guest's keys opens one.
func TestGuestCannotReadKeys(t *testing.T) {
	alice, bob := nettest.Pair(t, ledger.RoleGuest)
	if _, err := CreateKey(alice, "", "before", key1); err != nil {
		t.Fatal(err)
	}
	name(t, alice, alice)
	if _, err := CreateKey(admin(t, alice), "other", "after", key2+"-longer"); err != nil {
		t.Fatal(err)
	}
	synced(t, alice, bob)
	st := bob.Ledger().State()
	if len(Keys(st)) != 2 {
		t.Fatalf("the guest sees %d key records, want 2 (sealed)", len(Keys(st)))
	}
	for _, id := range bob.Ledger().IDs() {
		op, _ := bob.Ledger().Get(id)
		if bytes.Contains(op.Value, []byte(key1)) || bytes.Contains(op.Value, []byte(key2+"-longer")) {
			t.Fatalf("op %s in the guest's ledger holds an account key in plain text: %s", id, op.Value)
		}
	}
	for _, k := range guestKeys(t, bob) {
		if keys, _ := openKeys(st, k, nil); len(keys) != 0 {
			t.Errorf("the guest opened %d keys with her key", len(keys))
		}
		// Even trying every box of every record (what a modified client
		// would do) opens nothing.
		for _, r := range st.Table(ledger.TablePushKey) {
			var v keyValue
			json.Unmarshal(r.Value, &v)
			for _, sk := range v.Sealed {
				if got, err := open(k, sealInfo(st.Network, r.Key), sk.Box); err == nil {
					t.Errorf("the guest opened the box for %s: %q", sk.Who, got)
				}
			}
		}
		if _, ok := NewLedgerStore(bob.Ledger(), k).Lookup(key1); ok {
			t.Error("a LedgerStore with the guest's key knows key1")
		}
	}
	// The owner and her push-server node read both.
	ak, _ := nodeKey(alice.Node())
	for _, k := range []ed25519.PrivateKey{admin(t, alice).key, ak} {
		if keys, _ := openKeys(alice.Ledger().State(), k, nil); len(keys) != 2 {
			t.Errorf("a reader opened %d keys, want 2", len(keys))
		}
	}
}

// TestGuestNodeRefusedByPushServer: the node of a guest asks alice's push
// server, over coco.push on real nodes, to push to a device, to say hello,
// and to open a raw channel: each is refused, and the device gets nothing.
func TestGuestNodeRefusedByPushServer(t *testing.T) {
	alice, bob := nettest.Pair(t, ledger.RoleGuest)
	if _, err := CreateKey(alice, "", "", key1); err != nil {
		t.Fatal(err)
	}
	name(t, alice, alice)
	synced(t, alice, bob)
	sa := startBridge(t, alice)
	dev := register(t, sa.Server(), "lock")
	account := DefaultAccount
	for _, m := range []wireMsg{
		{T: "push", P: []wirePush{{Account: account, To: []string{"lock"}, Data: []byte("open")}}},
		{T: "hello"},
		{T: "raw", P: []wirePush{{Account: account, From: "x", To: []string{"lock"}}}},
	} {
		b, _ := json.Marshal(m)
		_, err := bob.RPC().Request(context.Background(), alice.PeerID(), Service, b)
		if err == nil || !strings.Contains(err.Error(), "not a push server") {
			t.Errorf("coco.push %s from a guest's node = %v, want a refusal naming push servers", m.T, err)
		}
	}
	dev.quiet("lock") // no PUSH:open before the reply
	if slices.Contains(sa.Servers(), bob.PeerID()) {
		t.Error("alice's push server took the guest's node for a push server")
	}
}

// TestOnlyNamedNodesServe: an admin's node that nobody named cannot run a
// push server, and alice's push server refuses its coco.push requests;
// once named (by the admin herself) it runs one, reads the keys and
// exchanges pushes with alice's.
func TestOnlyNamedNodesServe(t *testing.T) {
	alice, bob := nettest.Pair(t, ledger.RoleAdmin)
	if _, err := CreateKey(alice, "", "", key1); err != nil {
		t.Fatal(err)
	}
	name(t, alice, alice)
	synced(t, alice, bob)
	sa := startBridge(t, alice)
	if _, err := StartBridge(context.Background(), bob, &Server{Listen: "127.0.0.1:0"}); !errors.Is(err, ErrNotPushServer) {
		t.Fatalf("StartBridge on an unnamed node = %v, want ErrNotPushServer", err)
	}
	b, _ := json.Marshal(wireMsg{T: "push", P: []wirePush{{Account: DefaultAccount, To: []string{"x"}, Data: []byte("hi")}}})
	if _, err := bob.RPC().Request(context.Background(), alice.PeerID(), Service, b); err == nil || !strings.Contains(err.Error(), "not a push server") {
		t.Errorf("coco.push from an unnamed admin node = %v, want a refusal", err)
	}
	name(t, bob, bob) // the admin names her own node
	synced(t, bob, alice)
	sb := startBridge(t, bob)
	knows(t, sa, bob)
	knows(t, sb, alice)
	x := register(t, sb.Server(), "x") // bob's server reads key1, sealed to its node by the reseal
	register(t, sa.Server(), "y").expect("TCP:PUSH:"+key1+":RID:x:hi", "[OK:1]")
	x.expectRead("PUSH:hi")
}

// TestRemovalFlagsRotation: removing an admin (who could read the keys)
// marks every key to rotate; rotating gives a new key the push server takes
// at once, and the old one is refused.
func TestRemovalFlagsRotation(t *testing.T) {
	alice, bob := nettest.Pair(t, ledger.RoleAdmin)
	k, err := CreateKey(alice, "", "lamps", key1)
	if err != nil {
		t.Fatal(err)
	}
	if ks := Keys(alice.Ledger().State()); len(ks) != 1 || ks[0].Rotate != "" {
		t.Fatalf("Keys = %+v, want one key not to rotate", ks)
	}
	synced(t, alice, bob)
	if _, err := alice.Remove("bob"); err != nil {
		t.Fatal(err)
	}
	ks := Keys(alice.Ledger().State())
	if len(ks) != 1 || !strings.Contains(ks[0].Rotate, "bob") {
		t.Fatalf("Keys after removing admin bob = %+v, want the key marked to rotate because of bob", ks)
	}
	// A reseal (naming a push server) keeps the mark.
	name(t, alice, alice)
	if ks := Keys(alice.Ledger().State()); !strings.Contains(ks[0].Rotate, "bob") {
		t.Fatalf("Keys after a reseal = %+v, want the mark kept", ks)
	}
	sa := startBridge(t, alice)
	old := register(t, sa.Server(), "old")
	rot, err := RotateKey(admin(t, alice), DefaultAccount)
	if err != nil || len(rot) != 1 || rot[0].ID != k.ID || rot[0].Key == key1 || len(rot[0].Key) != 32 {
		t.Fatalf("RotateKey = %+v, %v; want key %s with a new value", rot, err, k.ID)
	}
	if ks := Keys(alice.Ledger().State()); ks[0].Rotate != "" {
		t.Errorf("Keys after rotation = %+v, want no mark", ks)
	}
	old.expect("TCP:GID:"+key1, "[FAIL:KEY]")
	dial(t, sa.Server()).expect("TCP:ID:"+key1+":again", "[FAIL:KEY]")
	sink := dialKey(t, sa.Server(), rot[0].Key, "sink")
	runTinyDeviceKey(t, sa.Server(), rot[0].Key, sink, "sink")
}

// TestPushServerRemovalFlagsRotation: a push-server node that is no longer
// named marks the keys it could read.
func TestPushServerRemovalFlagsRotation(t *testing.T) {
	alice, bob := nettest.Pair(t, ledger.RoleGuest)
	if _, err := CreateKey(alice, "", "", key1); err != nil {
		t.Fatal(err)
	}
	name(t, alice, bob) // an admin may name a guest's node
	if ks := Keys(alice.Ledger().State()); ks[0].Rotate != "" {
		t.Fatalf("Keys = %+v, want no mark", ks)
	}
	synced(t, alice, bob)
	bk, _ := nodeKey(bob.Node())
	store := NewLedgerStore(bob.Ledger(), bk) // what bob's push server uses
	if _, ok := store.Lookup(key1); !ok {
		t.Fatal("the named node cannot read key1")
	}
	// Unnamed by a bare delete (another admin's client, no reseal): the
	// record sealed to bob's node stays, and bob's node must still stop.
	if _, err := alice.Append(ledger.Op{Kind: ledger.KindDelete, Table: ledger.TablePushServer, Key: bob.PeerID().String()}); err != nil {
		t.Fatal(err)
	}
	synced(t, alice, bob)
	if _, ok := store.Lookup(key1); ok {
		t.Error("a node no longer named still takes key1")
	}
	if ks := Keys(alice.Ledger().State()); !strings.Contains(ks[0].Rotate, "push server") {
		t.Fatalf("Keys after unnaming = %+v, want a mark naming the push server", ks)
	}
	name(t, alice, bob)
	if err := RemoveServer(admin(t, alice), bob.PeerID()); err != nil {
		t.Fatal(err)
	}
	if ks := Keys(alice.Ledger().State()); !strings.Contains(ks[0].Rotate, "push server") {
		t.Fatalf("Keys after unnaming = %+v, want a mark naming the push server", ks)
	}
}

// dialKey registers id with key.
func dialKey(t *testing.T, s *Server, key, id string) *client {
	t.Helper()
	c := dial(t, s)
	c.expect("TCP:ID:"+key+":"+id, "[OK:"+id+"]")
	return c
}
