package home

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/ledger"
)

// TestGrantsOnHost: a guest's grants evaluated by the host against its own
// (injected) clock: inside and outside the window, across midnight, on the
// day of a daylight-saving change, after expiry and after revocation.
func TestGrantsOnHost(t *testing.T) {
	alice, an := network(t)
	hub := device(t, alice, an, "hub")
	cn := member(t, an, "carol", ledger.RoleGuest)
	mesh(t, an, hub, cn)
	clk := &clock{}
	h, err := NewHost(hub, HostOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"front-door", "garage", "porch"} {
		h.Add(Resource{ID: id, Capabilities: Caps("lock")}, nil)
	}
	h.Add(Resource{ID: "lamp", Capabilities: Caps("on_off")}, nil)
	st := NodeStore(an)
	carol := cn.User()
	until, _ := ParseTime("2026-06-01", "Asia/Kolkata")
	grants := []Grant{
		{User: carol, Resources: []string{"front-door"}, Capability: "lock", Command: "unlock", TZ: "Asia/Kolkata",
			Windows: []Window{{Days: []string{"tue", "thu"}, From: "09:00", To: "09:30"}}, Until: until},
		{User: carol, Resources: []string{"lamp"}, Capability: "on_off", TZ: "Europe/Berlin",
			Windows: []Window{{Days: []string{"fri"}, From: "22:00", To: "02:00"}}},
		{User: carol, Resources: []string{"garage"}, Capability: "lock", TZ: "Europe/Berlin",
			Windows: []Window{{Days: []string{"sun"}, From: "09:00", To: "09:30"}}},
		{User: carol, Resources: []string{"porch"}, Capability: "lock", TZ: "America/New_York",
			Windows: []Window{{Days: []string{"sun"}, From: "01:00", To: "02:00"}}},
	}
	var ids []string
	for _, g := range grants {
		g, err := st.Grant(g)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, g.ID)
	}
	synced(t, an, hub, cn)

	for _, tc := range []struct {
		name, now, action string
		want              Code
	}{
		{"inside the window (Tue 09:10 IST)", "2026-05-05T03:40:00Z", "front-door:lock:unlock", ""},
		{"outside the window (Tue 09:40 IST)", "2026-05-05T04:10:00Z", "front-door:lock:unlock", CodeDenied},
		{"another day (Wed 09:10 IST)", "2026-05-06T03:40:00Z", "front-door:lock:unlock", CodeDenied},
		{"another command", "2026-05-05T03:40:00Z", "front-door:lock:lock", CodeDenied},
		{"after expiry (Tue 2 June 09:10 IST)", "2026-06-02T03:40:00Z", "front-door:lock:unlock", CodeDenied},
		{"across midnight (Sat 01:30 CEST)", "2026-05-08T23:30:00Z", "lamp:on_off:on", ""},
		{"across midnight, after (Sat 02:30 CEST)", "2026-05-09T00:30:00Z", "lamp:on_off:on", CodeDenied},
		{"DST day in Berlin, 09:10 CEST", "2026-03-29T07:10:00Z", "garage:lock:unlock", ""},
		{"DST day in Berlin, 09:10 of the old offset", "2026-03-29T08:10:00Z", "garage:lock:unlock", CodeDenied},
		{"clocks back in New York, 01:30 EDT", "2026-11-01T05:30:00Z", "porch:lock:unlock", ""},
		{"clocks back in New York, 01:30 EST", "2026-11-01T06:30:00Z", "porch:lock:unlock", ""},
		{"clocks back in New York, 02:30 EST", "2026-11-01T07:30:00Z", "porch:lock:unlock", CodeDenied},
	} {
		clk.Set(mustTime(t, tc.now))
		r := direct(t, cn, hub.PeerID(), act(tc.action))[0]
		if r.Code != tc.want {
			t.Errorf("%s: %s = code %q (%s), want %q", tc.name, tc.action, r.Code, r.Error, tc.want)
		} else if r.Code != "" {
			t.Logf("%s: %s", tc.name, r.Error)
		}
	}

	// After expiry the guest no longer even sees the front door.
	clk.Set(mustTime(t, "2026-06-02T03:40:00Z"))
	if got := describe(listDirect(t, cn, hub.PeerID()).Resources); strings.Contains(got, "front-door") {
		t.Errorf("after expiry the guest lists %s", got)
	}

	// Revocation takes effect on the online host within a second.
	clk.Set(mustTime(t, "2026-05-05T03:40:00Z"))
	if r := direct(t, cn, hub.PeerID(), act("front-door:lock:unlock"))[0]; !r.OK {
		t.Fatalf("before revoking: %s", r.Error)
	}
	if _, err := st.Revoke(ids[0]); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	for {
		r := direct(t, cn, hub.PeerID(), act("front-door:lock:unlock"))[0]
		if r.Code == CodeDenied {
			t.Logf("revocation took effect on the host after %s: %s", time.Since(revoked).Round(time.Millisecond), r.Error)
			break
		}
		if time.Since(revoked) > time.Second {
			t.Fatalf("the host still honours the revoked grant %s after 1s", time.Since(revoked))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := describe(listDirect(t, cn, hub.PeerID()).Resources); strings.Contains(got, "front-door") {
		t.Errorf("after revocation the guest lists %s", got)
	}
}

// TestScene100 runs a scene of 100 actions across three device nodes, one
// of them offline: every action gets its result, the offline device's fail
// with a reason, and the run is timed.
func TestScene100(t *testing.T) {
	alice, an := network(t)
	var hubs []*engine.Engine
	for i := 1; i <= 3; i++ {
		hubs = append(hubs, device(t, alice, an, fmt.Sprintf("hub%d", i)))
	}
	mesh(t, an, hubs...)
	onHub := map[string]int{}
	var actions []Action
	for i := 0; i < 100; i++ {
		id := fmt.Sprintf("bulb-%03d", i)
		onHub[id] = i % 3
		a := act(id + ":on_off:on")
		if i%2 == 1 {
			a = act(fmt.Sprintf("%s:level:set:level=%d", id, i))
		}
		actions = append(actions, a)
	}
	for i, hn := range hubs {
		h, err := NewHost(hn, HostOptions{Name: fmt.Sprintf("hub%d", i+1)})
		if err != nil {
			t.Fatal(err)
		}
		for id, j := range onHub {
			if j == i {
				h.Add(Resource{ID: id, Capabilities: Caps("on_off", "level")}, nil)
			}
		}
	}
	if _, err := NodeStore(an).CreateScene(Scene{Name: "all on", Actions: actions}, false); err != nil {
		t.Fatal(err)
	}
	c := NewClient(an)
	ctx := ctxT(t)

	// All online.
	res, err := c.RunScene(ctx, "All On")
	if err != nil || res.Failed != 0 || len(res.Results) != 100 {
		t.Fatalf("RunScene = %d failed of %d, %v; %v", res.Failed, len(res.Results), err, res.Err())
	}
	t.Logf("scene of 100 actions on 3 devices: %s", res.Took.Round(time.Microsecond))

	// hub3 goes offline. Dialing a closed QUIC port waits for a handshake
	// that never comes: the run's deadline bounds it. Wait until alice's
	// node has seen the connection close: a connection that still looks
	// open is a device that does not answer (CodeTimeout), not an offline one.
	hub3 := hubs[2].PeerID()
	hubs[2].Close()
	for deadline := time.Now().Add(5 * time.Second); len(an.Node().Host().Network().ConnsToPeer(hub3)) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("alice's node still holds a connection to hub3 5s after it closed")
		}
	}
	octx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	res, err = c.RunScene(octx, "all on")
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for i, r := range res.Results {
		if r.Action.Resource != actions[i].Resource {
			t.Fatalf("result %d is for %s, want %s", i, r.Action.Resource, actions[i].Resource)
		}
		switch onHub[r.Action.Resource] {
		case 2:
			failed++
			if r.OK || r.Code != CodeOffline || !strings.Contains(r.Error, "alice/hub3") || !strings.Contains(r.Error, "offline") {
				t.Errorf("%s on the offline hub: ok %v code %q %q", r.Action, r.OK, r.Code, r.Error)
			}
		default:
			if !r.OK {
				t.Errorf("%s: %s", r.Action, r.Error)
			}
		}
	}
	if res.Failed != failed || failed != 33 {
		t.Errorf("Failed = %d, counted %d, want 33", res.Failed, failed)
	}
	err = res.Err()
	if err == nil || !strings.Contains(err.Error(), "33 of 100 actions of scene all on failed") || !strings.Contains(err.Error(), "bulb-002:on_off:on: device alice/hub3 is offline") {
		t.Errorf("Err() = %v", err)
	}
	t.Logf("scene of 100 actions, one device of 3 offline: %s; first failure: %s", res.Took.Round(time.Microsecond), res.Results[2].Error)

	// A fresh client that never saw hub3's resources says they are not
	// found, naming the offline device.
	octx, cancel = context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	r := NewClient(an).Run(octx, actions[:3])
	if !r[0].OK || !r[1].OK || r[2].Code != CodeNotFound || !strings.Contains(r[2].Error, "offline: alice/hub3") {
		t.Errorf("fresh client: %+v", r)
	}

	// Mixed failures: an invalid argument and an unknown resource beside
	// successes; each says why.
	mixed := []Action{act("bulb-000:level:set:level=140"), act("bulb-001:on_off:off"), act("nothing:on_off:on")}
	octx, cancel = context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	out := c.Run(octx, mixed)
	if out[0].Code != CodeInvalid || out[0].Error != "level.set: level 140 is above the maximum 100" || !out[1].OK || out[2].Code != CodeNotFound {
		t.Errorf("mixed: %+v", out)
	}
	if !errors.Is(out[0].Err(), ErrInvalid) {
		t.Errorf("Err() = %v, want ErrInvalid", out[0].Err())
	}
}
