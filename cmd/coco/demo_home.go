package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/homedir"

	claim "github.com/coconet/coconet/device"
	"github.com/coconet/coconet/home"
	"github.com/coconet/coconet/home/zigbee"
)

// The demo's home: a simulated Zigbee gateway claimed as a device, zones, a
// scene, and a guest's weekly window on the front door.

// demoClock is the gateway's clock: real time until the demo sets it, to
// show a guest inside and outside her window without waiting for Tuesday.
type demoClock struct {
	mu  sync.Mutex
	set time.Time
}

func (c *demoClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.set.IsZero() {
		return time.Now()
	}
	return c.set
}

func (c *demoClock) Set(t time.Time) {
	c.mu.Lock()
	c.set = t
	c.mu.Unlock()
}

func (d *demo) addGateway(ctx context.Context) error {
	gwHome := filepath.Join(d.dir, "hub")
	if _, err := homedir.Init(gwHome, "Hub"); err != nil {
		return fmt.Errorf("create the gateway's identity: %w", err)
	}
	d.homes["hub"] = gwHome
	c, err := claim.NewClaimer(claim.ClaimerConfig{Home: gwHome, Name: "Hub", Model: "coconet-sim-zigbee", ListenHost: "127.0.0.1"})
	if err != nil {
		return err
	}
	defer c.Close()
	code := c.Code()
	d.line("the gateway (its own home, not yet in any network) shows a one-time claim code: %s", shorten(code))
	start := time.Now()
	info, err := claim.Add(ctx, d.nodes["alice"], code)
	if err != nil {
		return fmt.Errorf("alice adds the gateway: %w", err)
	}
	cl, err := c.Wait(ctx)
	if err != nil {
		return err
	}
	c.Close()
	d.line("alice (the owner: only she adds devices) claimed it in %s: the ledger now lists node %s as her device %q,",
		time.Since(start).Round(time.Millisecond), info.Node[len(info.Node)-8:], info.Name)
	d.line("and the gateway checked the whole ledger it was handed before joining %q", cl.Name)
	d.set("device", info)

	gw, err := engine.StartIn(ctx, gwHome, cl.Network.String(), engine.Config{ListenHost: "127.0.0.1", Device: true})
	if err != nil {
		return fmt.Errorf("start the gateway's node: %w", err)
	}
	d.nodes["hub"] = gw
	h, err := home.NewHost(gw, home.HostOptions{Now: d.clock.Now})
	if err != nil {
		return err
	}
	if _, err := zigbee.Start(h, zigbee.Options{DriftEvery: -1}); err != nil {
		return err
	}
	var l home.Listing
	client := home.NewClient(d.nodes["alice"])
	if err := waitFor(ctx, 10*time.Second, func() bool {
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		l, err = client.List(lctx, "")
		return err == nil && len(l.Resources) > 1
	}); err != nil {
		return fmt.Errorf("alice does not see the gateway's resources: %v", err)
	}
	d.line("it bridges simulated Zigbee devices; alice's node lists them from the gateway itself:")
	var ids []string
	for _, r := range l.Resources {
		var caps []string
		for _, c := range r.Capabilities {
			caps = append(caps, c.Name)
		}
		d.line("  %-14s %-18s %s", r.ID, r.Name, strings.Join(caps, ", "))
		ids = append(ids, r.ID)
	}
	d.set("resources", ids)
	return nil
}

// demoScene is the scene the demo runs.
var demoScene = []string{
	"living-lamp:level:set:level=20",
	"kitchen-light:on_off:off",
	"coffee-plug:on_off:off",
	"front-door:lock:lock",
}

func (d *demo) zonesAndScene(ctx context.Context) error {
	st := home.NodeStore(d.nodes["bob"]) // bob is an admin: zones and scenes are his to define too
	for _, z := range []string{"Living room", "Entrance"} {
		if _, err := st.CreateZone(z); err != nil {
			return fmt.Errorf("bob creates zone %q: %w", z, err)
		}
	}
	for r, z := range map[string]string{"living-lamp": "Living room", "front-door": "Entrance"} {
		if _, err := st.Place(r, z, false); err != nil {
			return fmt.Errorf("bob places %s: %w", r, err)
		}
	}
	d.line("bob (admin) creates the zones \"Living room\" and \"Entrance\" and places the lamp and the front door in them")
	sc := home.Scene{Name: "evening"}
	for _, s := range demoScene {
		a, err := home.ParseAction(s)
		if err != nil {
			return err
		}
		sc.Actions = append(sc.Actions, a)
	}
	if _, err := st.CreateScene(sc, false); err != nil {
		return fmt.Errorf("bob creates the scene: %w", err)
	}
	d.line("and the scene \"evening\": %s", strings.Join(demoScene, ", "))
	var sr home.SceneResult
	// The scene record travels to alice's node with the next ledger sync.
	if err := waitFor(ctx, 5*time.Second, func() bool {
		var err error
		sr, err = home.NewClient(d.nodes["alice"]).RunScene(ctx, "evening")
		return err == nil
	}); err != nil {
		return errors.New("the scene did not reach alice's node within 5s")
	}
	d.line("alice runs it: %d actions at once, %d failed, %s in all:", len(sr.Results), sr.Failed, sr.Took.Round(10*time.Microsecond))
	var results []map[string]any
	for _, r := range sr.Results {
		state := "ok"
		if !r.OK {
			state = "FAILED: " + r.Error
		}
		d.line("  %-34s %s (%s)", r.Action.String(), state, r.Took.Round(10*time.Microsecond))
		results = append(results, map[string]any{"action": r.Action.String(), "ok": r.OK, "error": r.Error, "took_ns": r.Took})
	}
	d.set("scene", results)
	if sr.Failed > 0 {
		return sr.Err()
	}
	return nil
}

func (d *demo) guestWindow(ctx context.Context) error {
	carol := d.nodes["carol"]
	tz := "Asia/Kolkata"
	g := home.Grant{User: carol.User(), Resources: []string{"front-door"}, Capability: "lock", Command: "unlock",
		Windows: []home.Window{{Days: []string{"tue", "thu"}, From: "09:00", To: "09:30"}}, TZ: tz}
	g, err := home.NodeStore(d.nodes["bob"]).Grant(g)
	if err != nil {
		return fmt.Errorf("bob grants carol: %w", err)
	}
	d.line("bob grants carol (guest) %s: front-door lock.unlock on %s, %s", g.ID, g.Windows[0], tz)
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return err
	}
	unlock := home.Action{Resource: "front-door", Capability: "lock", Command: "unlock"}
	client := home.NewClient(carol)
	try := func(at time.Time) (home.Result, error) {
		d.clock.Set(at)
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return client.Command(cctx, unlock)
	}
	// A Tuesday 09:10 in Kolkata, on the gateway's clock.
	inside := nextWeekday(time.Now().In(loc), time.Tuesday).Add(9*time.Hour + 10*time.Minute)
	var r home.Result
	if err := waitFor(ctx, 5*time.Second, func() bool { // the grant travels to the gateway
		r, err = try(inside)
		return err == nil
	}); err != nil {
		return fmt.Errorf("carol could not unlock inside her window: %v", err)
	}
	d.line("the gateway's clock says %s: carol unlocks the front door — ok in %s", inside.Format("Mon 15:04 MST"), r.Took.Round(10*time.Microsecond))
	outside := inside.Add(50 * time.Minute)
	_, err = try(outside)
	if err == nil {
		return errors.New("carol unlocked the door outside her window")
	}
	d.line("the gateway's clock says %s: refused — %v", outside.Format("Mon 15:04 MST"), err)
	d.set("inside", inside.Format(time.RFC3339))
	d.set("outside_error", err.Error())
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, lerr := client.Command(cctx, home.Action{Resource: "living-lamp", Capability: "on_off", Command: "on"})
	cancel()
	if lerr == nil {
		return errors.New("carol switched on a lamp she was not granted")
	}
	d.line("and the lamp, which no grant gives her: refused — %v", lerr)
	d.line("(each decision is the gateway's own, from its copy of the ledger; carol's node claims nothing)")
	d.clock.Set(time.Time{})
	d.set("lamp_error", lerr.Error())
	return nil
}

// nextWeekday is midnight of the next day (today included) that is wd, in
// t's location.
func nextWeekday(t time.Time, wd time.Weekday) time.Time {
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
	for day.Weekday() != wd {
		day = day.AddDate(0, 0, 1)
	}
	return day
}
