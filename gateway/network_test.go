package gateway

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"github.com/libp2p/go-libp2p/core/peer"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/internal/nettest"
	"github.com/coconet/coconet/ledger"
)

// eventually waits for cond, which the network makes true soon (a ledger
// op or a hello travelling); the deadline only keeps a broken test from
// hanging.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func apply(t *testing.T, w Writer, changes ...Change) {
	t.Helper()
	for _, c := range changes {
		if err := Apply(w, c); err != nil {
			t.Fatalf("Apply(%+v): %v", c, err)
		}
	}
}

// synced waits until n's ledger holds every op of w's.
func synced(t *testing.T, w, n Writer) {
	t.Helper()
	eventually(t, "the ledger to sync", func() bool {
		for _, id := range w.Ledger().IDs() {
			if !n.Ledger().Has(id) {
				return false
			}
		}
		return true
	})
}

// admin writes n's ledger with the user key of n's identity: it can open
// the account keys sealed to that user.
func admin(t *testing.T, n *engine.Engine) logWriter {
	t.Helper()
	return logWriter{n.Ledger(), n.Identity().Seed.UserKey()}
}

// name makes the nodes push servers of the network, as by, an admin.
func name(t *testing.T, by *engine.Engine, nodes ...*engine.Engine) {
	t.Helper()
	for _, n := range nodes {
		if err := AddServer(admin(t, by), n.PeerID()); err != nil {
			t.Fatalf("AddServer(%s): %v", n.PeerID().ShortString(), err)
		}
	}
}

func startBridge(t *testing.T, n *engine.Engine) *Bridge {
	t.Helper()
	b, err := StartBridge(context.Background(), n, &Server{Listen: "127.0.0.1:0", Logf: t.Logf})
	if err != nil {
		t.Fatalf("StartBridge: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// knows waits until b has learned that the node of other runs a push server.
func knows(t *testing.T, b *Bridge, other *engine.Engine) {
	t.Helper()
	eventually(t, "the push servers to find each other", func() bool {
		return slices.Contains(b.Servers(), other.PeerID())
	})
}

// TestAcrossNetwork runs two push servers on the nodes of alice (owner)
// and bob (admin) of one network; the keys, groups, routers and aliases
// come from the network's ledger, written by both, and every push reaches
// ids on either server.
func TestAcrossNetwork(t *testing.T) {
	alice, bob := nettest.Pair(t, ledger.RoleAdmin)
	if _, err := CreateKey(alice, "", "test devices", key1); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	// r ─┬─ a ─┬─ a1 ── a11
	//    │     └─ a2
	//    └─ b
	// r2 (another root), x and y (outside the tree)
	for _, e := range [][2]string{{"r", ""}, {"a", "r"}, {"b", "r"}, {"a1", "a"}, {"a2", "a"}, {"a11", "a1"}, {"r2", ""}} {
		apply(t, alice, Change{Op: ChangeSetParent, ID: e[0], Parent: e[1]})
	}
	if err := Apply(alice, Change{Op: ChangeSetParent, ID: "r", Parent: "a11"}); err == nil {
		t.Fatal("Apply(r under a11) = nil, want a cycle error")
	}
	synced(t, alice, bob)
	apply(t, bob, // an admin on the other node
		Change{Op: ChangeAddRouter, Name: "hall"},
		Change{Op: ChangeAttach, Name: "hall", ID: "a2"},
		Change{Op: ChangeAttach, Name: "hall", ID: "door"},
		Change{Op: ChangeSetAlias, Name: "door", ID: "b"},
		Change{Op: ChangeSetAlias, Name: "MY-FRIEND", ID: "lamp1"},
	)
	name(t, alice, alice, bob)
	synced(t, alice, bob)
	if err := Apply(alice, Change{Op: ChangeAttach, Name: "nope", ID: "x"}); err == nil {
		t.Fatal("Apply(attach to an unknown router) = nil, want an error")
	}

	sa, sb := startBridge(t, alice), startBridge(t, bob)
	knows(t, sa, bob)
	knows(t, sb, alice)
	if _, err := StartBridge(context.Background(), alice, &Server{Listen: "127.0.0.1:0"}); err == nil {
		t.Error("a second StartBridge on one node = nil error, want a refusal")
	}
	// Ids alternate between the two servers.
	ids := []string{"r", "a", "b", "a1", "a2", "a11", "r2", "x", "y"}
	c := map[string]*client{}
	for i, id := range ids {
		s := sa.Server()
		if i%2 == 1 {
			s = sb.Server()
		}
		c[id] = register(t, s, id)
	}
	quiet := func() {
		t.Helper()
		for _, id := range ids {
			c[id].quiet(id)
		}
	}

	t.Run("WireVersions", func(t *testing.T) {
		// Both read binary requests (their hellos said so); a server
		// whose hello said nothing (an older one) gets JSON.
		for _, x := range []struct {
			b *Bridge
			p peer.ID
		}{{sa, bob.PeerID()}, {sb, alice.PeerID()}} {
			eventually(t, "binary push requests", func() bool {
				x.b.mu.Lock()
				defer x.b.mu.Unlock()
				ob := x.b.servers[x.p]
				return ob != nil && ob.binary
			})
		}
		sa.learnVersion(bob.PeerID(), 0)
		defer sa.learnVersion(bob.PeerID(), wireBinary)
		c["r"].expect("TCP:PUSH:"+key1+":RID:a:in json", "[OK:1]")
		c["a"].expectRead("PUSH:in json")
	})

	t.Run("RID", func(t *testing.T) {
		c["r"].expect("TCP:PUSH:"+key1+":RID:a:over there", "[OK:1]") // A → B
		c["a"].expectRead("PUSH:over there")
		c["a"].expect("TCP:PUSH:"+key1+":RID:r:and back:with:colons", "[OK:1]") // B → A
		c["r"].expectRead("PUSH:and back:with:colons")
		c["b"].expect("TCP:PUSH:"+key1+":RID:y:same server", "[OK:1]") // A → A
		c["y"].expectRead("PUSH:same server")
		c["r"].expect("TCP:PUSH:"+key1+":RID:nobody:x", "[FAIL:OFFLINE]")
		anon := dial(t, sb.Server()) // no id needed for RID
		anon.expect("TCP:PUSH:"+key1+":RID:r:anon", "[OK:1]")
		c["r"].expectRead("PUSH:anon")
		quiet()
	})

	t.Run("Pipelined", func(t *testing.T) {
		// A device sends many lines at once; those that wait for the
		// other server do not hold up the rest, and every reply and every
		// push keeps its order.
		var lines strings.Builder
		var want []string
		const n = 300
		for i := range n {
			fmt.Fprintf(&lines, "TCP:PUSH:%s:RID:a:%d\n", key1, i) // to B
			want = append(want, "[OK:1]")
			if i%50 == 0 {
				fmt.Fprintf(&lines, "TCP:GID:%s\nTCP:PUSH:%s:RID:y:%d\nTCP:PUSH:%s:RID:nobody:x\n", key1, key1, i, key1)
				want = append(want, "[OK:r]", "[OK:1]", "[FAIL:OFFLINE]")
			}
		}
		// Device a reads its pushes as they come, as a device does (its
		// queue on B is bounded: a device that reads nothing while 300
		// pushes arrive loses some, by design).
		pushes := make(chan string, n)
		go func() {
			defer close(pushes)
			a := c["a"]
			for range n {
				a.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
				line, err := a.r.ReadString('\n')
				if err != nil {
					return
				}
				pushes <- strings.TrimSuffix(line, "\n")
			}
		}()
		c["r"].send(strings.TrimSuffix(lines.String(), "\n"))
		for i, w := range want {
			if got := c["r"].read(); got != w {
				t.Fatalf("reply %d = %s, want %s", i, got, w)
			}
		}
		for i := range n {
			if got, want := <-pushes, "PUSH:"+strconv.Itoa(i); got != want {
				t.Fatalf("device a's push %d = %q, want %q", i, got, want)
			}
		}
		for i := 0; i < n; i += 50 {
			c["y"].expectRead("PUSH:" + strconv.Itoa(i))
		}
		quiet()
	})

	t.Run("Groups", func(t *testing.T) {
		for _, tt := range []struct {
			from, group string
			want        []string
		}{
			{"a", "FRIENDS", []string{"b"}},
			{"a1", "FRIENDS", []string{"a2"}},
			{"r", "FRIENDS", []string{"r2", "x", "y"}},
			{"x", "FRIENDS", []string{"r", "r2", "y"}},
			{"a", "CHILDS", []string{"a1", "a2"}},
			{"b", "CHILDS", nil},
			{"a", "ALLCHILDS", []string{"a1", "a2", "a11"}},
			{"r", "ALLCHILDS", []string{"a", "b", "a1", "a2", "a11"}},
			{"a11", "PARENT", []string{"a1"}},
			{"a", "PARENT", []string{"r"}},
		} {
			data := tt.from + "-" + tt.group
			c[tt.from].expect("TCP:PUSH:"+key1+":"+tt.group+":"+data, "[OK:"+itoa(len(tt.want))+"]")
			for _, id := range tt.want {
				c[id].expectRead("PUSH:" + data)
			}
			quiet() // nobody else got it
		}
		c["r"].expect("TCP:PUSH:"+key1+":PARENT:x", "[FAIL:NOPARENT]")
	})

	t.Run("Router", func(t *testing.T) {
		// hall: a2 (B), door → b (B); the sender is on A.
		c["r"].expect("TCP:PUSH:"+key1+":RO:hall:on", "[OK:2]")
		c["a2"].expectRead("PUSH:on")
		c["b"].expectRead("PUSH:on")
		c["r"].expect("TCP:PUSH:"+key1+":RO:nope:on", "[FAIL:NOROUTER]")
		apply(t, alice, Change{Op: ChangeAttach, Name: "hall", ID: "x"}) // x is on B too
		c["r"].expect("TCP:PUSH:"+key1+":RO:hall:on2", "[OK:3]")
		for _, id := range []string{"a2", "b", "x"} {
			c[id].expectRead("PUSH:on2")
		}
		quiet()
	})

	t.Run("AliasAfterReplacingADevice", func(t *testing.T) {
		lamp1 := register(t, sb.Server(), "lamp1")
		c["r"].expect("TCP:PUSH:"+key1+":RID:MY-FRIEND:off", "[OK:1]")
		lamp1.expectRead("PUSH:off")
		lamp1.nc.Close() // lamp1 breaks; its replacement comes up on the other server
		lamp2 := register(t, sa.Server(), "lamp2")
		apply(t, bob, Change{Op: ChangeSetAlias, Name: "MY-FRIEND", ID: "lamp2"})
		synced(t, bob, alice)
		c["r"].expect("TCP:PUSH:"+key1+":RID:MY-FRIEND:off", "[OK:1]")
		lamp2.expectRead("PUSH:off")
		c["a"].expect("TCP:PUSH:"+key1+":RID:MY-FRIEND:on", "[OK:1]") // from B
		lamp2.expectRead("PUSH:on")
	})

	t.Run("Time", func(t *testing.T) {
		r := c["a"].do("TCP:TIME:" + key1 + ":+05:30")
		if !strings.HasPrefix(r, "[OK:") || len(r) != len("[OK:2026-03-01 12:30:00:1772368200]") {
			t.Fatalf("TIME = %s, want [OK:<date time>:<epoch>]", r)
		}
		c["a"].expect("TCP:TIME:WRONG:+05:30", "[FAIL:KEY]")
	})

	t.Run("ReplayOnTheOtherServer", func(t *testing.T) {
		for _, proto := range []string{ProtoSTCP, ProtoDSTCP256} {
			dev := register(t, sa.Server(), "dev-"+proto)
			rnd := activate(t, dev, proto, "dev-"+proto)
			mode, perPacket := modeOf(proto)
			k := SessionKey(mode, key1, rnd)
			if perPacket {
				k = PacketKey(mode, key1, rnd, []byte("RID:y:secret"))
			}
			captured := "TCP:PUSH:" + k + ":RID:y:secret"
			dev.expect(captured, "[OK:1]")
			c["y"].expectRead("PUSH:secret")
			eve := register(t, sb.Server(), "eve")
			eve.expect(captured, "[FAIL:KEY]")
			dial(t, sb.Server()).expect(captured, "[FAIL:KEY]")
		}
		quiet()
	})

	t.Run("TinyDevice", func(t *testing.T) {
		// examples/tinydevice/client.py on bob's server pushes to r on
		// alice's, and r pushes back.
		runTinyDevice(t, sb.Server(), c["r"], "r")
	})

	t.Run("RevokedKey", func(t *testing.T) {
		k2, err := CreateKey(bob, "other", "", key2)
		if err != nil {
			t.Fatal(err)
		}
		synced(t, bob, alice)
		o := dial(t, sa.Server())
		o.expect("TCP:ID:"+key2+":a", "[OK:a]") // another account: its own "a"
		c["r"].expect("TCP:PUSH:"+key1+":RID:a:mine", "[OK:1]")
		c["a"].expectRead("PUSH:mine")
		o.quiet2(key2, "a")
		if _, err := RevokeKey(alice, k2.ID[:6]); err != nil {
			t.Fatalf("RevokeKey: %v", err)
		}
		o.expect("TCP:GID:"+key2, "[FAIL:KEY]")
		synced(t, alice, bob)
		dial(t, sb.Server()).expect("TCP:GID:"+key2, "[FAIL:KEY]")
		if _, err := RevokeKey(admin(t, alice), key2); err == nil {
			t.Error("RevokeKey of a revoked key = nil, want an error")
		}
	})

	t.Run("ServerStops", func(t *testing.T) {
		sb.Close()
		eventually(t, "alice's server to forget bob's", func() bool { return len(sa.Servers()) == 0 })
		c["r"].expect("TCP:PUSH:"+key1+":RID:a:gone", "[FAIL:OFFLINE]")
		c["r"].expect("TCP:PUSH:"+key1+":RID:y:here", "[OK:1]")
		c["y"].expectRead("PUSH:here")
	})
}

func (c *client) quiet2(key, id string) {
	c.t.Helper()
	c.expect("TCP:GID:"+key, "[OK:"+id+"]")
}

// TestGuestCannotWrite: the ledger refuses a guest's push records, and
// nothing is written.
func TestGuestCannotWrite(t *testing.T) {
	alice, bob := nettest.Pair(t, ledger.RoleGuest)
	k1, err := CreateKey(alice, "", "", key1)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, alice, Change{Op: ChangeAddRouter, Name: "hall"})
	synced(t, alice, bob)
	before := len(bob.Ledger().IDs())
	_, err = CreateKey(bob, "", "mine", "")
	if !errors.Is(err, ledger.ErrUnauthorized) || !strings.Contains(err.Error(), "guest") {
		t.Errorf("CreateKey by a guest = %v, want a refusal naming the guest", err)
	}
	if _, err := RevokeKey(bob, k1.ID); !errors.Is(err, ledger.ErrUnauthorized) {
		t.Errorf("RevokeKey by a guest = %v, want ErrUnauthorized", err)
	}
	for _, ch := range []Change{
		{Op: ChangeSetParent, ID: "a", Parent: "r"},
		{Op: ChangeAddRouter, Name: "mine"},
		{Op: ChangeAttach, Name: "hall", ID: "a"},
		{Op: ChangeSetAlias, Name: "MY-FRIEND", ID: "a"},
		{Op: ChangeRemoveRouter, Name: "hall"},
	} {
		if err := Apply(bob, ch); !errors.Is(err, ledger.ErrUnauthorized) {
			t.Errorf("Apply(%+v) by a guest = %v, want ErrUnauthorized", ch, err)
		}
	}
	if after := len(bob.Ledger().IDs()); after != before {
		t.Errorf("the guest's ledger has %d ops, want %d (nothing written)", after, before)
	}
	// A guest's node runs no push server (no admin named it).
	if _, err := StartBridge(context.Background(), bob, &Server{Listen: "127.0.0.1:0"}); !errors.Is(err, ErrNotPushServer) {
		t.Errorf("StartBridge on a guest's node = %v, want ErrNotPushServer", err)
	}
	if err := AddServer(admin(t, bob), bob.PeerID()); !errors.Is(err, ledger.ErrUnauthorized) {
		t.Errorf("AddServer by a guest = %v, want ErrUnauthorized", err)
	}
}

// logWriter writes a ledger with a user key, without a node.
type logWriter struct {
	l   *ledger.Log
	key ed25519.PrivateKey
}

func (w logWriter) Ledger() *ledger.Log                     { return w.l }
func (w logWriter) Append(op ledger.Op) (*ledger.Op, error) { return w.l.Append(w.key, op) }
func (w logWriter) UserKey() ed25519.PrivateKey             { return w.key }

func newLedger(t *testing.T) logWriter {
	t.Helper()
	home := filepath.Join(t.TempDir(), "home")
	id, err := homedir.Init(home, "alice")
	if err != nil {
		t.Fatal(err)
	}
	l, err := homedir.CreateNetwork(home, "home", "user", "")
	if err != nil {
		t.Fatal(err)
	}
	return logWriter{l, id.Seed.UserKey()}
}

// TestLedgerRecords pins the record encodings and checks that a
// LedgerStore follows the ledger.
func TestLedgerRecords(t *testing.T) {
	w := newLedger(t)
	store := NewLedgerStore(w.l, w.key) // the owner reads the keys
	if _, ok := store.Lookup(key1); ok {
		t.Fatal("Lookup of a key not yet created succeeded")
	}
	k, err := CreateKey(w, "acct1", "lamps", key1)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.ID) != 16 || k.ID == KeyID(key1) || k.Key != key1 || k.Account != "acct1" || k.By != "alice" {
		t.Errorf("CreateKey = %+v", k)
	}
	if _, err := CreateKey(w, "acct1", "", key1); err == nil {
		t.Error("CreateKey of an existing key = nil, want an error")
	}
	random, err := CreateKey(w, "", "", "")
	if err != nil || len(random.Key) != 32 || random.Account != DefaultAccount {
		t.Errorf("CreateKey(random) = %+v, %v; want 32 hex digits in %s", random, err, DefaultAccount)
	}
	apply(t, w,
		Change{Op: ChangeSetParent, Account: "acct1", ID: "a", Parent: "r"},
		Change{Op: ChangeSetParent, Account: "acct1", ID: "r2"},
		Change{Op: ChangeAddRouter, Account: "acct1", Name: "hall"},
		Change{Op: ChangeAttach, Account: "acct1", Name: "hall", ID: "l2"},
		Change{Op: ChangeAttach, Account: "acct1", Name: "hall", ID: "l1"},
		Change{Op: ChangeSetAlias, Account: "acct1", Name: "MY-FRIEND", ID: "a"},
	)
	st := w.l.State()
	if v := string(st.Record(ledger.TablePushKey, k.ID).Value); !strings.HasPrefix(v, `{"account":"acct1","name":"lamps","sealed":[{"to":"`+identity.UserIDOf(w.key.Public().(ed25519.PublicKey)).String()+`","who":"alice","box":"`) || strings.Contains(v, key1) {
		t.Errorf("key record = %s, want the key sealed to alice alone", v)
	}
	for _, tt := range []struct{ table, key, value string }{
		{ledger.TablePushGroup, "acct1/a", `{"parent":"r"}`},
		{ledger.TablePushGroup, "acct1/r2", `{"parent":""}`},
		{ledger.TablePushRouter, "acct1/hall", `{}`},
		{ledger.TablePushRouter, "acct1/hall/l1", `{}`},
		{ledger.TablePushAlias, "acct1/MY-FRIEND", `{"id":"a"}`},
	} {
		r := st.Record(tt.table, tt.key)
		if r == nil || string(r.Value) != tt.value {
			t.Errorf("record %s %q = %v, want %s", tt.table, tt.key, r, tt.value)
		}
	}
	if a, ok := store.Lookup(key1); !ok || a != "acct1" {
		t.Errorf("Lookup(key1) = %q, %v; want acct1", a, ok)
	}
	if p, ok := store.Parent("acct1", "a"); !ok || p != "r" {
		t.Errorf("Parent(a) = %q, %v; want r", p, ok)
	}
	if got := store.Roots("acct1"); !slices.Equal(got, []string{"r", "r2"}) {
		t.Errorf("Roots = %v, want [r r2] (r is a root by being a parent)", got)
	}
	if got := store.Children("acct1", "r"); !slices.Equal(got, []string{"a"}) {
		t.Errorf("Children(r) = %v, want [a]", got)
	}
	if ids, ok := store.Router("acct1", "hall"); !ok || !slices.Equal(ids, []string{"l1", "l2"}) {
		t.Errorf("Router(hall) = %v, %v; want [l1 l2]", ids, ok)
	}
	if _, ok := store.Router("main", "hall"); ok {
		t.Error("Router(hall) of another account found")
	}
	if id, ok := store.Alias("acct1", "MY-FRIEND"); !ok || id != "a" {
		t.Errorf("Alias = %q, %v; want a", id, ok)
	}
	recs := ReadRecords(st, "acct1")
	if len(recs.Groups) != 2 || len(recs.Routers) != 1 || len(recs.Aliases) != 1 {
		t.Errorf("ReadRecords = %+v", recs)
	}
	if keys := Keys(st); len(keys) != 2 || keys[0].Key != "" {
		t.Errorf("Keys = %+v, want two keys without the secret", keys)
	}
	// Removals follow at once.
	apply(t, w,
		Change{Op: ChangeRemoveRouter, Account: "acct1", Name: "hall"},
		Change{Op: ChangeRemoveAlias, Account: "acct1", Name: "MY-FRIEND"},
		Change{Op: ChangeUngroup, Account: "acct1", ID: "a"},
	)
	if _, ok := store.Router("acct1", "hall"); ok {
		t.Error("Router(hall) after removal found")
	}
	if w.l.State().Record(ledger.TablePushRouter, "acct1/hall/l1") != nil {
		t.Error("an attachment of a removed router is left")
	}
	if _, ok := store.Alias("acct1", "MY-FRIEND"); ok {
		t.Error("Alias after removal found")
	}
	if _, ok := store.Parent("acct1", "a"); ok {
		t.Error("Parent(a) after ungroup found")
	}
	if _, err := RevokeKey(w, "lamps"); err != nil {
		t.Fatalf("RevokeKey(by name): %v", err)
	}
	if _, ok := store.Lookup(key1); ok {
		t.Error("Lookup of a revoked key succeeded")
	}
	for _, c := range []Change{
		{Op: ChangeSetParent, ID: "a b"},
		{Op: ChangeSetParent, ID: "a", Parent: "x:y"},
		{Op: ChangeSetAlias, Name: "n", ID: ""},
		{Op: ChangeRemoveAlias, Name: "nope"},
		{Op: "fly"},
		{Op: ChangeAddRouter, Account: "a/b", Name: "r"},
	} {
		if err := Apply(w, c); err == nil {
			t.Errorf("Apply(%+v) = nil, want an error", c)
		}
	}
	// Records that do not parse are ignored, not fatal.
	for _, op := range []ledger.Op{
		{Kind: ledger.KindPut, Table: ledger.TablePushGroup, Key: "no-slash", Value: []byte(`{}`)},
		{Kind: ledger.KindPut, Table: ledger.TablePushAlias, Key: "main/x", Value: []byte(`not json`)},
		{Kind: ledger.KindPut, Table: ledger.TablePushKey, Key: "0000", Value: []byte(`{"account":"main","key":"k"}`)},
	} {
		if _, err := w.Append(op); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := store.Alias("main", "x"); ok {
		t.Error("a malformed alias record was used")
	}
	if _, ok := store.Lookup("k"); ok {
		t.Error("a key record under the wrong ID was used")
	}
}

func FuzzParseWire(f *testing.F) {
	for _, s := range []string{
		`{"t":"hello"}`, `{"t":"bye"}`, `{"t":"push","p":[{"a":"main","f":"a","to":["b","c"],"d":"aGk="}]}`,
		`{"t":"push","p":[{"a":"main","to":["b"],"d":"aGkK"}]}`, `{"t":"push","p":[{"a":"","to":[]}]}`,
		`{"t":"push","p":[]}`, `{"t":"push","p":[{"a":"main","l":true},{"a":"x","to":["a b"]}]}`, `{"t":"x"}`, `[]`, ``,
		`{"t":"raw","p":[{"a":"main","f":"a","to":["b"]}]}`, `{"t":"raw","p":[{"a":"main","to":["b"]}]}`,
		`{"t":"raw","p":[{"a":"main","f":"a","to":["b","c"],"d":"aGk="}]}`,
	} {
		f.Add([]byte(s))
	}
	for _, ps := range wireBinarySeeds {
		f.Add(appendBinary(nil, ps))
	}
	f.Add([]byte{wireBinary})
	f.Add([]byte{wireBinary, 1, 0, 4, 'm', 'a', 'i', 'n', 0, 1, 1, 'b', 2, 'h', '\n'})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseWire(b)
		if err != nil || (m.T != "push" && m.T != "raw") {
			return
		}
		if len(m.P) == 0 || len(m.P) > maxBatch {
			t.Fatalf("parseWire(%q) accepted %d pushes", b, len(m.P))
		}
		if p := m.P[0]; m.T == "raw" && (len(m.P) != 1 || p.From == "" || len(p.To) != 1 || len(p.Data) > 0 || p.Loose) {
			t.Fatalf("parseWire(%q) accepted the raw ask %+v", b, m.P)
		}
		for _, p := range m.P {
			if !validID([]byte(p.Account)) || len(p.To) > maxGroup || slices.Contains(p.Data, '\n') {
				t.Fatalf("parseWire(%q) accepted %+v", b, p)
			}
			for _, id := range p.To {
				if !validID([]byte(id)) {
					t.Fatalf("parseWire(%q) accepted id %q", b, id)
				}
			}
		}
	})
}

var wireBinarySeeds = [][]wirePush{
	{{Account: "main", From: "a", To: []string{"b", "c"}, Data: []byte("hi")}},
	{{Account: "main", To: []string{"b"}}, {Account: "x", From: "y", Loose: true, Data: []byte("a:b:c")}},
	{{Account: "main", From: "a", To: []string{"b"}, Data: bytes.Repeat([]byte{0xff}, 300)}},
}

// TestWireBinary: a binary push request reads back as it was written, and
// one cut short, with bytes left over or against the rules is refused.
func TestWireBinary(t *testing.T) {
	for _, ps := range wireBinarySeeds {
		b := appendBinary(nil, ps)
		m, err := parseWire(b)
		if err != nil || m.T != "push" || !reflect.DeepEqual(m.P, ps) {
			t.Fatalf("parseWire(appendBinary(%+v)) = %+v, %v", ps, m, err)
		}
		for i := 1; i < len(b); i++ {
			if _, err := parseWire(b[:i]); err == nil {
				t.Fatalf("parseWire accepted %q, cut after %d of %d bytes", b[:i], i, len(b))
			}
		}
		if _, err := parseWire(append(b, 0)); err == nil {
			t.Fatalf("parseWire accepted %q with a byte more", b)
		}
	}
	for _, ps := range [][]wirePush{
		{{Account: "main", To: []string{"b"}, Data: []byte("a\nb")}},
		{{Account: "a b", To: []string{"b"}}},
		{{Account: "main", To: []string{"b/c"}}},
		make([]wirePush, maxBatch+1),
		{},
	} {
		if _, err := parseWire(appendBinary(nil, ps)); err == nil {
			t.Errorf("parseWire accepted %+v", ps)
		}
	}
}
