package zigbee

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/home"
	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/internal/nettest"
	"github.com/coconet/coconet/ledger"
)

func TestMain(m *testing.M) { nettest.VerifyNoLeaks(m) }

var start = nettest.Start

// TestGateway: the simulated home on the owner's node, used by an admin:
// commands, faults, drift, and pairing that only the owner may do.
func TestGateway(t *testing.T) {
	dir := t.TempDir()
	ah, bh := filepath.Join(dir, "alice"), filepath.Join(dir, "bob")
	homedir.Init(ah, "alice")
	homedir.Init(bh, "bob")
	if _, err := homedir.CreateNetwork(ah, "home", "user", ""); err != nil {
		t.Fatal(err)
	}
	an := start(t, ah)
	code, _, err := an.Invite(engine.InviteOptions{Role: ledger.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, peers, err := homedir.Join(ctx, bh, code, homedir.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bn := start(t, bh)
	bn.Node().AddPeerAddrs(peers)

	h, err := home.NewHost(an, home.HostOptions{Name: "Gateway"})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := Start(h, Options{DriftEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()

	admin, owner := home.NewClient(bn), home.NewClient(an)
	var l home.Listing
	deadline := time.Now().Add(15 * time.Second)
	for len(l.Resources) < 6 && time.Now().Before(deadline) {
		l, _ = admin.List(ctx, "")
		time.Sleep(50 * time.Millisecond)
	}
	var ids []string
	for _, r := range l.Resources {
		ids = append(ids, r.ID)
	}
	if got := strings.Join(ids, " "); got != "coffee-plug front-door hall-temp kitchen-light living-lamp zigbee" {
		t.Fatalf("admin lists %q", got)
	}
	if l, _ := admin.List(ctx, "kitchen"); len(l.Resources) != 2 {
		t.Errorf("kitchen holds %d resources, want 2", len(l.Resources))
	}

	// The admin runs the lights and the lock.
	for _, s := range []string{"living-lamp:on_off:on", "living-lamp:color:set:hue=200:saturation=80", "front-door:lock:unlock", "coffee-plug:on_off:toggle"} {
		a, _ := home.ParseAction(s)
		if _, err := admin.Command(ctx, a); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if r, _ := h.Get("front-door"); r.Capability("lock").Attribute("state").Value != "unlocked" {
		t.Errorf("front door is %v after unlock", r.Capability("lock").Attribute("state").Value)
	}
	// A jammed lock fails its command with the device's reason.
	gw.Fault("front-door", errors.New("the bolt is jammed"))
	a, _ := home.ParseAction("front-door:lock:lock")
	if _, err := admin.Command(ctx, a); !errors.Is(err, home.ErrFailed) || !strings.Contains(err.Error(), "the bolt is jammed") {
		t.Errorf("jammed lock: %v", err)
	}
	gw.Fault("front-door", nil)

	// The temperature drifts and is published.
	wctx, wcancel := context.WithCancel(ctx)
	ch, err := admin.Watch(wctx, "hall-temp")
	if err != nil {
		t.Fatal(err)
	}
	for seen := 0; seen < 3; {
		c := <-ch
		if c.Attribute == "celsius" && !c.Retained {
			if v, ok := c.Value.(float64); !ok || v < 15 || v > 28 {
				t.Fatalf("temperature %v (%T)", c.Value, c.Value)
			}
			seen++
		}
	}
	wcancel()

	// Pairing: the owner only.
	add, _ := home.ParseAction("zigbee:bridge:add:kind=bulb:id=porch:name=Porch")
	if _, err := admin.Command(ctx, add); !errors.Is(err, home.ErrDenied) {
		t.Errorf("admin pairs: %v, want denied", err)
	}
	if _, err := owner.Command(ctx, add); err != nil {
		t.Fatalf("owner pairs: %v", err)
	}
	on, _ := home.ParseAction("porch:on_off:on")
	if _, err := admin.Command(ctx, on); err != nil {
		t.Errorf("admin uses the new bulb: %v", err)
	}
	bad, _ := home.ParseAction("zigbee:bridge:add:kind=toaster:id=t1")
	if _, err := owner.Command(ctx, bad); !errors.Is(err, home.ErrInvalid) || !strings.Contains(err.Error(), "toaster") {
		t.Errorf("pair a toaster: %v", err)
	}
	rm, _ := home.ParseAction("zigbee:bridge:remove:id=porch")
	if _, err := owner.Command(ctx, rm); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Command(ctx, on); !errors.Is(err, home.ErrNotFound) {
		t.Errorf("removed bulb: %v, want not found", err)
	}
	if r, _ := h.Get("zigbee"); r.Capability("bridge").Attribute("resources").Value != int64(5) {
		t.Errorf("bridge count = %v, want 5", r.Capability("bridge").Attribute("resources").Value)
	}
}
