package home

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/pubsub"
)

// bridgeDriver adds and removes simulated bulbs on h, as a gateway does.
func bridgeDriver(h *Host) Driver {
	return DriverFunc(func(ctx context.Context, c Call) error {
		switch c.Command {
		case "add":
			return h.Add(Resource{ID: c.Args["id"].(string), Capabilities: Caps("on_off")}, nil)
		case "remove":
			return h.Remove(c.Args["id"].(string))
		}
		return nil
	})
}

// TestRoleMatrix runs every operation as every role and checks the
// decision of the node that enforces it: the host for listings, watches
// and commands (asked directly, bypassing the client), the ledger for
// records.
func TestRoleMatrix(t *testing.T) {
	alice, an := network(t)
	hub := device(t, alice, an, "hub")
	bn := member(t, an, "bob", ledger.RoleAdmin)
	cn := member(t, an, "carol", ledger.RoleGuest)
	dn := member(t, an, "dave", ledger.RoleGuest)
	// A claimed device (a node of the owner's with a device record) acts
	// as a guest without grants, never with the owner's authority.
	sn := device(t, alice, an, "sensor")
	if _, err := an.Append(ledger.Op{Kind: ledger.KindPut, Table: ledger.TableDevice, Key: sn.PeerID().String(),
		Value: []byte(`{"name":"Sensor","node":"` + sn.PeerID().String() + `"}`)}); err != nil {
		t.Fatal(err)
	}
	mesh(t, an, hub, bn, cn, dn, sn)

	h, err := NewHost(hub, HostOptions{Name: "Hub"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []Resource{
		{ID: "lamp", Name: "Lamp", Capabilities: Caps("on_off", "level")},
		{ID: "front-door", Name: "Front door", Capabilities: Caps("lock")},
		{ID: "fw", Capabilities: Caps("firmware")},
	} {
		if err := h.Add(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Add(Resource{ID: "gw", Capabilities: Caps("bridge")}, bridgeDriver(h)); err != nil {
		t.Fatal(err)
	}
	// A guest's node cannot serve resources.
	if _, err := NewHost(cn, HostOptions{}); err != nil {
		t.Fatal(err)
	} else if err := localHost(cn).Add(Resource{ID: "fake", Capabilities: Caps("on_off")}, nil); !errors.Is(err, ErrDenied) {
		t.Errorf("guest's host Add = %v, want ErrDenied", err)
	}

	st := NodeStore(an)
	if _, err := st.CreateZone("Living room"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Place("lamp", "living room", false); err != nil {
		t.Fatal(err)
	}
	carol := cn.User()
	if _, err := st.Grant(Grant{User: carol, Resources: []string{"front-door"}, Capability: "lock", Command: "unlock"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Grant(Grant{User: carol, Zone: "Living room", Capability: "level"}); err != nil {
		t.Fatal(err)
	}
	synced(t, an, hub, bn, cn, dn, sn)

	type role struct {
		name string
		n    *engine.Engine
	}
	roles := []role{{"owner", an}, {"admin", bn}, {"guest with grants", cn}, {"guest without", dn}, {"device", sn}}

	// Listings: what each role sees, capability by capability.
	wantList := map[string]string{
		"owner":             "front-door[lock] fw[firmware] gw[bridge] lamp[on_off level]",
		"admin":             "front-door[lock] fw[firmware] gw[bridge] lamp[on_off level]",
		"guest with grants": "front-door[lock] lamp[level]",
		"guest without":     "",
		"device":            "",
	}
	for _, r := range roles {
		got := describe(listDirect(t, r.n, hub.PeerID()).Resources)
		if got != wantList[r.name] {
			t.Errorf("%s: list = %q, want %q", r.name, got, wantList[r.name])
		}
	}

	// Watches: the host's topic policy, per role.
	for _, tc := range []struct {
		topic string
		want  [5]bool
	}{
		{"home/lamp/level/level", [5]bool{true, true, true, false, false}},
		{"home/lamp/on_off/on", [5]bool{true, true, false, false, false}},
		{"home/front-door/lock/state", [5]bool{true, true, true, false, false}},
		{"home/fw/firmware/version", [5]bool{true, true, false, false, false}},
		{"chat/room", [5]bool{true, true, true, true, true}}, // not the home model's
	} {
		for i, r := range roles {
			s, _ := hub.Node().SenderOf(r.n.PeerID())
			if got := hub.AuthorizeTopic(s, tc.topic); got != tc.want[i] {
				t.Errorf("%s: watch %s = %v, want %v", r.name, tc.topic, got, tc.want[i])
			}
		}
	}

	// Commands, decided by the host.
	for _, tc := range []struct {
		action string
		want   [5]Code // "" = allowed
	}{
		{"lamp:on_off:on", [5]Code{"", "", CodeDenied, CodeDenied, CodeDenied}},
		{"lamp:level:set:level=30", [5]Code{"", "", "", CodeDenied, CodeDenied}},
		{"front-door:lock:unlock", [5]Code{"", "", "", CodeDenied, CodeDenied}},
		{"front-door:lock:lock", [5]Code{"", "", CodeDenied, CodeDenied, CodeDenied}},
		{"fw:firmware:update:version=2.0", [5]Code{"", CodeDenied, CodeDenied, CodeDenied, CodeDenied}},
		{"gw:bridge:add:kind=bulb:id=new-%d", [5]Code{"", CodeDenied, CodeDenied, CodeDenied, CodeDenied}},
		{"gw:bridge:remove:id=lamp2-%d", [5]Code{"", CodeDenied, CodeDenied, CodeDenied, CodeDenied}},
		{"lamp:level:set:level=140", [5]Code{CodeInvalid, CodeInvalid, CodeInvalid, CodeDenied, CodeDenied}},
		{"nothing:on_off:on", [5]Code{CodeNotFound, CodeNotFound, CodeNotFound, CodeNotFound, CodeNotFound}},
	} {
		// Each request in JSON and in the compact encoding: the host
		// decides the same either way.
		for e, ask := range []func(*testing.T, *engine.Engine, peer.ID, ...Action) []Result{direct, directCompact} {
			for i, r := range roles {
				id := i + 10*e
				if strings.Contains(tc.action, "remove") {
					h.Add(Resource{ID: fmt.Sprintf("lamp2-%d", id), Capabilities: Caps("on_off")}, nil)
				}
				a := act(strings.ReplaceAll(tc.action, "%d", fmt.Sprint(id)))
				res := ask(t, r.n, hub.PeerID(), a)[0]
				if res.Code != tc.want[i] || res.OK != (tc.want[i] == "") {
					t.Errorf("%s (encoding %d): %s = ok %v code %q (%s), want code %q", r.name, e, a, res.OK, res.Code, res.Error, tc.want[i])
				}
				if res.Device != "Hub" {
					t.Errorf("%s: %s: device = %q, want Hub", r.name, a, res.Device)
				}
			}
		}
	}
	if _, ok := h.Get("new-0"); !ok {
		t.Error("the owner's bridge.add did not add new-0")
	}
	if _, ok := h.Get("new-1"); ok {
		t.Error("the admin's refused bridge.add added new-1")
	}

	// Records, decided by the ledger: on the writer's node, and on every
	// node that receives the op.
	var grantID string
	for _, tc := range []struct {
		name string
		op   func(i int, n *engine.Engine) error
		want [4]bool
	}{
		{"zone create", func(i int, n *engine.Engine) error {
			_, err := NodeStore(n).CreateZone(fmt.Sprintf("zone-%d", i))
			return err
		}, [4]bool{true, true, false, false}},
		{"zone add", func(i int, n *engine.Engine) error {
			_, err := NodeStore(n).Place(fmt.Sprintf("x-%d", i), "Living room", false)
			return err
		}, [4]bool{true, true, false, false}},
		{"grant", func(i int, n *engine.Engine) error {
			g, err := NodeStore(n).Grant(Grant{User: dn.User(), Resources: []string{"lamp"}, Capability: "on_off"})
			if err == nil {
				grantID = g.ID
			}
			return err
		}, [4]bool{true, true, false, false}},
		{"revoke", func(i int, n *engine.Engine) error {
			if i < 2 { // owner and admin each revoke a grant of their own
				g, err := NodeStore(n).Grant(Grant{User: dn.User(), Resources: []string{"lamp"}, Capability: "level"})
				if err != nil {
					return err
				}
				grantID = g.ID
			}
			if i >= 2 { // guests try to revoke carol's own grant
				grantID = NodeStore(n).Grants()[0].ID
			}
			waitFor(t, "grant sync", func() bool { return n.Ledger().State().Record(ledger.TableGrant, grantID) != nil })
			_, err := NodeStore(n).Revoke(grantID)
			return err
		}, [4]bool{true, true, false, false}},
		{"scene create", func(i int, n *engine.Engine) error {
			_, err := NodeStore(n).CreateScene(Scene{Name: fmt.Sprintf("s%d", i), Actions: []Action{act("lamp:on_off:on")}}, false)
			return err
		}, [4]bool{true, true, false, false}},
		{"device add (owner only)", func(i int, n *engine.Engine) error {
			_, err := n.Append(ledger.Op{Kind: ledger.KindPut, Table: ledger.TableDevice, Key: fmt.Sprintf("d%d", i), Value: []byte(`{"name":"x"}`)})
			return err
		}, [4]bool{true, false, false, false}},
		{"ota authorize (owner only)", func(i int, n *engine.Engine) error {
			_, err := n.Append(ledger.Op{Kind: ledger.KindPut, Table: ledger.TableOTA, Key: fmt.Sprintf("o%d", i), Value: []byte(`{}`)})
			return err
		}, [4]bool{true, false, false, false}},
	} {
		for i, r := range roles[:4] { // the test's device node holds the owner's key: no ledger rows
			err := tc.op(i, r.n)
			if (err == nil) != tc.want[i] {
				t.Errorf("%s: %s: err = %v, want allowed %v", r.name, tc.name, err, tc.want[i])
			}
			if err != nil && !errors.Is(err, ErrDenied) && !errors.Is(err, ledger.ErrUnauthorized) {
				t.Errorf("%s: %s: err = %v, want a refusal", r.name, tc.name, err)
			}
		}
	}
}

// describe renders resources as "id[cap cap] …".
func describe(rs []Resource) string {
	var out []string
	for _, r := range rs {
		var cs []string
		for _, c := range r.Capabilities {
			cs = append(cs, c.Name)
		}
		out = append(out, r.ID+"["+strings.Join(cs, " ")+"]")
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// TestClientFindsAndWatches: a guest lists, commands and watches through
// the client; she sees only what she was granted.
func TestClientFindsAndWatches(t *testing.T) {
	alice, an := network(t)
	hub := device(t, alice, an, "hub")
	cn := member(t, an, "carol", ledger.RoleGuest)
	mesh(t, an, hub, cn)
	h, err := NewHost(hub, HostOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h.Add(Resource{ID: "lamp", Capabilities: Caps("on_off", "level")}, nil)
	h.Add(Resource{ID: "front-door", Zone: "Entrance", Capabilities: Caps("lock", "battery")}, nil)
	st := NodeStore(an)
	if _, err := st.Grant(Grant{User: cn.User(), Resources: []string{"front-door"}, Capability: "lock"}); err != nil {
		t.Fatal(err)
	}
	synced(t, an, hub, cn)
	ctx := ctxT(t)

	owner, guest := NewClient(an), NewClient(cn)
	l, err := owner.List(ctx, "")
	if err != nil || describe(l.Resources) != "front-door[lock battery] lamp[on_off level]" {
		t.Fatalf("owner List = %s, %v", describe(l.Resources), err)
	}
	if l.Resources[0].Device != "alice/hub" || l.Resources[0].Node != hub.PeerID().String() {
		t.Errorf("device = %q node %q, want alice/hub on %s", l.Resources[0].Device, l.Resources[0].Node, hub.PeerID())
	}
	if l, _ := owner.List(ctx, "entrance"); describe(l.Resources) != "front-door[lock battery]" {
		t.Errorf("owner List(entrance) = %s", describe(l.Resources))
	}
	if l, _ := guest.List(ctx, ""); describe(l.Resources) != "front-door[lock]" {
		t.Errorf("guest List = %s, want front-door[lock]", describe(l.Resources))
	}

	// The guest watches everything; she gets the lock's changes only.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := guest.Watch(wctx, "")
	if err != nil {
		t.Fatal(err)
	}
	first := <-ch // the retained state of the lock
	if first.Resource != "front-door" || first.Attribute != "state" || first.Value != "locked" || !first.Retained {
		t.Fatalf("first change = %+v, want the retained lock state", first)
	}
	if _, err := owner.Command(ctx, act("lamp:level:set:level=20")); err != nil {
		t.Fatal(err)
	}
	if _, err := guest.Command(ctx, act("front-door:lock:unlock")); err != nil {
		t.Fatalf("guest unlock: %v", err)
	}
	got := <-ch
	if got.Resource != "front-door" || got.Value != "unlocked" || got.Retained {
		t.Fatalf("guest watched %+v, want front-door unlocked (and nothing of the lamp before it)", got)
	}
	// The owner's watch of the lamp sees the level as an int.
	och, err := owner.Watch(wctx, "lamp")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "lamp level 20 in the owner's watch", func() bool {
		c := <-och
		return c.Attribute == "level" && c.Value == int64(20)
	})
	// Commands the guest may not run, through the client.
	if _, err := guest.Command(ctx, act("lamp:on_off:on")); !errors.Is(err, ErrNotFound) {
		t.Errorf("guest lamp on = %v, want not found (she does not see it)", err)
	}
	if r, err := owner.Command(ctx, act("lamp:level:set:level=140")); !errors.Is(err, ErrInvalid) || r.Error != "level.set: level 140 is above the maximum 100" {
		t.Errorf("level 140 = %v", err)
	}
	// A resource added later is found without listing first.
	h.Add(Resource{ID: "plug", Capabilities: Caps("on_off")}, nil)
	if r, err := owner.Command(ctx, act("plug:on_off:toggle")); err != nil || len(r.Changes) != 1 || r.Changes[0].Value != true {
		t.Errorf("plug toggle = %+v, %v", r, err)
	}
	// Only the owner's nodes are trusted for changes: a guest publishing
	// on a home topic is ignored.
	cn.Publish(ctx, "home/front-door/lock/state", []byte(`{"value":"jammed","type":"enum"}`), pubsub.PublishOptions{})
	h.Set("front-door", "battery", "percent", 80) // not visible to carol
	h.Set("front-door", "lock", "state", "locked")
	got = <-ch
	if got.Value != "locked" || got.Device == "" {
		t.Errorf("guest watched %+v after a forged change, want the host's locked", got)
	}
}
