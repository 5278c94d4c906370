package web_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/daemon"
	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/web"
)

// chromium is the browser the tests drive: Debian's package.
const chromium = "/usr/bin/chromium"

// shots is where the tests write their screenshots when
// COCO_SCREENSHOTS names a folder.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("COCO_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// browser starts a headless Chromium for the test, skipping it when the
// machine has none.
func browser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("no browser: %s is missing (apt-get install chromium)", chromium)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1200, 900),
	}
	opts = append(opts, extra...)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	return ctx
}

// until evaluates js in the page until it is true, the page loaded
// (its script run: a form submitted before would not go through it).
func until(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && (`+js+`)`))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			t.Fatalf("waiting for %s (%s): %v; page:\n%s", what, js, err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// get runs one action that answers a value.
func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// js runs a script for its effect.
func js(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](expr)(ctx, t)
		return err
	})
}

// startOwner runs alice's daemon (its nodes simulating a Zigbee gateway)
// and its app, and returns the app's one-time login link.
func startOwner(t *testing.T) (home string, d *daemon.Daemon) {
	t.Helper()
	home = filepath.Join(t.TempDir(), "alice")
	if _, err := homedir.Init(home, "alice"); err != nil {
		t.Fatal(err)
	}
	d = &daemon.Daemon{Home: home, ListenHost: "127.0.0.1", Sim: "zigbee", Logf: t.Logf}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	s, err := web.New(d, home, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return home, d
}

// labelled is true when every visible form control of the page has a
// label (or an aria-label), and every visible button a name: what a
// screen reader reads out.
const labelled = `[...document.querySelectorAll("input, select, textarea")].filter(e => e.type !== "hidden" && e.offsetParent !== null).every(e => e.labels.length > 0 || e.getAttribute("aria-label")) && [...document.querySelectorAll("button")].filter(b => b.offsetParent !== null).every(b => b.textContent.trim() || b.getAttribute("aria-label"))`

// The owner's story in a real browser: log in with `coco app`'s link,
// create a network, make an invite (its QR code shown), see a member join
// and remove him after confirming, see the simulated gateway's resources
// by zone, switch a light, slide a lamp's level and unlock the door, and
// a second tab sees each new value live (server-sent events).
func TestBrowserOwnerStory(t *testing.T) {
	ctx := browser(t)
	home, _ := startOwner(t)
	link, err := web.LoginURL(home)
	if err != nil {
		t.Fatal(err)
	}

	// Log in; the token leaves the address bar.
	run(t, ctx, chromedp.Navigate(link), chromedp.WaitVisible(css("#create-network")))
	loc := get(t, ctx, chromedp.Location())
	if strings.Contains(loc, "token") {
		t.Fatalf("after login the address is %s; want the token gone", loc)
	}
	until(t, ctx, "labels on the networks page", labelled)

	// Create a network.
	run(t, ctx, chromedp.SendKeys(css("#net-name"), "home"), chromedp.Click(css(`#create-network button[type="submit"]`)))
	until(t, ctx, "the new network listed", `[...document.querySelectorAll("table a")].some(a => a.textContent === "home")`)
	shot(t, ctx, "1-networks")
	run(t, ctx, chromedp.Click(chromedp.Search(`//table//a[text()="home"]`)), chromedp.WaitVisible(css("#invite-form")))
	netID := get(t, ctx, chromedp.Evaluate[string](`document.querySelector('meta[name="coco-net"]').content`))

	// Make an invite: the code, a copy button and its QR code.
	run(t, ctx, chromedp.Click(css(`#invite-form button[type="submit"]`)), chromedp.WaitVisible(css("#invite-result")))
	until(t, ctx, "the QR code drawn", `document.getElementById("invite-qr").complete && document.getElementById("invite-qr").naturalWidth > 100`)
	code := get(t, ctx, chromedp.Value(css("#invite-code")))
	qrSrc := get(t, ctx, chromedp.AttributeValue(css("#invite-qr"), "src")).Value
	if !strings.HasPrefix(code, "coco") && len(code) < 20 {
		t.Fatalf("invite code %q", code)
	}
	if want := "/qr.png?text="; !strings.Contains(qrSrc, want) || !strings.Contains(qrSrc, code[:10]) {
		t.Fatalf("QR image %q does not encode the code %q", qrSrc, code)
	}
	until(t, ctx, "labels on the members page", labelled)
	shot(t, ctx, "2-members-invite")

	// Bob joins with the code from his own daemon.
	bobHome := filepath.Join(t.TempDir(), "bob")
	if _, err := homedir.Init(bobHome, "bob"); err != nil {
		t.Fatal(err)
	}
	bob := &daemon.Daemon{Home: bobHome, ListenHost: "127.0.0.1", Logf: t.Logf}
	if err := bob.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bob.Close() })
	jctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := bob.Join(jctx, code); err != nil {
		t.Fatalf("bob joins: %v", err)
	}

	// Peers: bob's node, its path and RTT.
	peers := fmt.Sprintf("/n/%s/peers", netID)
	base := link[:strings.Index(link, "/login")]
	for i := 0; ; i++ {
		run(t, ctx, chromedp.Navigate(base+peers), chromedp.WaitVisible(css("main")))
		ok := get(t, ctx, chromedp.Evaluate[bool](`document.body.innerText.includes("bob") && /direct|relayed/.test(document.body.innerText)`))
		if ok {
			break
		}
		if i > 100 {
			t.Fatal("bob's node never shows as connected on the peers page")
		}
		time.Sleep(200 * time.Millisecond)
	}
	shot(t, ctx, "3-peers")

	// The resources of the simulated gateway, by zone.
	res := base + fmt.Sprintf("/n/%s/resources", netID)
	for i := 0; ; i++ {
		run(t, ctx, chromedp.Navigate(res), chromedp.WaitVisible(css("main")))
		ok := get(t, ctx, chromedp.Evaluate[bool](`!!document.getElementById("r-kitchen-light") && !!document.getElementById("r-front-door")`))
		if ok {
			break
		}
		if i > 100 {
			t.Fatal("the simulated resources never show")
		}
		time.Sleep(200 * time.Millisecond)
	}
	until(t, ctx, "zones as headings", `[...document.querySelectorAll("h2")].some(h => h.textContent === "Kitchen")`)
	until(t, ctx, "the live stream", `document.getElementById("live-state").dataset.state === "live"`)
	until(t, ctx, "labels on the resources page", labelled)

	// A second tab on the same page, to see values change live.
	other, cancelOther := chromedp.NewContext(ctx)
	defer cancelOther()
	if err := chromedp.Do(other); err != nil { // the tab lives as long as this first call's context
		t.Fatal(err)
	}
	run(t, other, chromedp.Navigate(res), chromedp.WaitVisible(css("#r-kitchen-light")))
	until(t, other, "the second tab's live stream", `document.getElementById("live-state").dataset.state === "live"`)

	// Switch the kitchen light on.
	was := get(t, ctx, chromedp.Evaluate[bool](`document.querySelector('[data-resource="kitchen-light"][data-control="on_off"]').checked`))
	run(t, ctx, chromedp.Click(css(`[data-resource="kitchen-light"][data-control="on_off"]`)))
	want := fmt.Sprint(!was)
	until(t, other, "the light's new state live in the other tab", `document.getElementById("v-kitchen-light-on_off-on").textContent === "`+want+`"`)
	until(t, other, "the other tab's switch following", `document.querySelector('[data-resource="kitchen-light"][data-control="on_off"]').checked === `+want)

	// Slide the living-room lamp to 30%.
	run(t, ctx, chromedp.SetValue(css("#lvl-living-lamp"), "30"),
		js(`document.getElementById("lvl-living-lamp").dispatchEvent(new Event("change", {bubbles: true}))`))
	until(t, other, "the lamp's level live in the other tab", `document.getElementById("v-living-lamp-level-level").textContent === "30"`)

	// Unlock the front door.
	run(t, ctx, chromedp.Click(css(`[data-resource="front-door"][data-control="lock"]`)))
	until(t, other, "the door unlocked, live", `document.getElementById("v-front-door-lock-state").textContent === "unlocked"`)
	until(t, ctx, "the door's button now locks", `document.querySelector('[data-resource="front-door"][data-control="lock"]').textContent.trim() === "Lock"`)
	shot(t, ctx, "4-resources")

	// On a phone-sized screen the page fits its width.
	run(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(res), chromedp.WaitVisible(css("#r-front-door")))
	until(t, ctx, "no sideways scrolling at 390 px", `document.documentElement.scrollWidth <= 390`)
	shot(t, ctx, "5-resources-phone")
	run(t, ctx, chromedp.EmulateViewport(1200, 900))

	// Devices: the claim form (the gateway here is alice's own node).
	run(t, ctx, chromedp.Navigate(base+fmt.Sprintf("/n/%s/devices", netID)), chromedp.WaitVisible(css("#claim-form")))
	until(t, ctx, "labels on the devices page", labelled)
	shot(t, ctx, "6-devices")

	// A scene built from actions with the builder's selects, run, each
	// action's result shown.
	row := func(n int, f string) string {
		return fmt.Sprintf(`#scene-actions .action:nth-child(%d) [data-f="%s"]`, n, f)
	}
	pick := func(n int, f, v string) chromedp.Action[chromedp.Void] {
		return js(fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event("change", {bubbles: true})); })()`, row(n, f), v))
	}
	run(t, ctx, chromedp.Navigate(base+fmt.Sprintf("/n/%s/scenes", netID)), chromedp.WaitVisible(css("#scene-form")),
		chromedp.SendKeys(css("#scene-name"), "evening"),
		pick(1, "resource", "living-lamp"), pick(1, "capability", "level"), pick(1, "command", "set"))
	until(t, ctx, "the level's input", `!!document.querySelector('#scene-actions [data-param="level"]')`)
	run(t, ctx, chromedp.SendKeys(css(`#scene-actions [data-param="level"]`), "20"),
		chromedp.Click(css("#add-action")),
		// The second action by keyboard: typing in a focused select picks.
		chromedp.Focus(css(row(2, "resource"))), chromedp.SendKeys(css(row(2, "resource")), "front"))
	until(t, ctx, "the door picked by typing", `document.querySelector('`+row(2, "resource")+`').value === "front-door"`)
	run(t, ctx, pick(2, "capability", "lock"), pick(2, "command", "lock"))
	until(t, ctx, "labels on the builder", labelled)
	shot(t, ctx, "7-scene-builder")
	run(t, ctx, chromedp.Click(css(`#scene-form button[type="submit"]`)))
	run(t, ctx, chromedp.WaitVisible(css(`button[aria-label="Run evening"]`)), chromedp.Click(css(`button[aria-label="Run evening"]`)),
		chromedp.WaitVisible(css("#result-evening")))
	until(t, ctx, "each action's result", `(() => { const t = document.querySelector("#result-evening tbody").innerText; return /living-lamp:level:set\s+ok/.test(t) && /front-door:lock:lock\s+ok/.test(t); })()`)
	if sc := get(t, ctx, chromedp.Text(css(`article[aria-labelledby="sc-evening"] ol`))); !strings.Contains(sc, "living-lamp:level:set:level=20") {
		t.Fatalf("the scene saved %q; want the level's argument", sc)
	}
	// Edit: the scene's actions come back in the builder, saved over it.
	run(t, ctx, chromedp.Click(css(`button[aria-label="Edit evening"]`)))
	until(t, ctx, "the actions back in the builder", `document.querySelectorAll("#scene-actions .action").length === 2 && document.querySelector('#scene-actions [data-param="level"]').value === "20"`)
	run(t, ctx, chromedp.Click(css(`#scene-actions .action:nth-child(2) .remove-action`)), chromedp.Click(css(`#scene-form button[type="submit"]`)))
	until(t, ctx, "the scene saved with one action", `(() => { const o = document.querySelector('article[aria-labelledby="sc-evening"] ol'); return !!o && o.children.length === 1; })()`)
	until(t, ctx, "labels on the scenes page", labelled)
	shot(t, ctx, "7-scenes")
	phone(t, ctx, base+fmt.Sprintf("/n/%s/scenes", netID), "scenes")

	// A grant for bob with the weekly window editor.
	run(t, ctx, chromedp.Navigate(base+fmt.Sprintf("/n/%s/grants", netID)), chromedp.WaitVisible(css("#grant-form")))
	until(t, ctx, "bob in the member picker", `[...document.querySelectorAll("#g-member option")].some(o => o.textContent.startsWith("bob"))`)
	// Two windows for one grant: tue and thu 09:00–17:30, sat 10:00–12:00.
	run(t, ctx, chromedp.SendKeys(css("#g-resource"), "front-door"),
		chromedp.SendKeys(css("#g-cap"), "lock"),
		chromedp.Click(css("#add-window")),
		chromedp.Click(css(`#windows .window-row:nth-child(1) input[value="tue"]`)),
		chromedp.Click(css(`#windows .window-row:nth-child(1) input[value="thu"]`)),
		js(`document.querySelector('#windows .window-row:nth-child(1) [data-f="from"]').value = "09:00"; document.querySelector('#windows .window-row:nth-child(1) [data-f="to"]').value = "17:30"`),
		chromedp.Click(css("#add-window")),
		chromedp.Click(css(`#windows .window-row:nth-child(2) input[value="sat"]`)),
		js(`document.querySelector('#windows .window-row:nth-child(2) [data-f="from"]').value = "10:00"; document.querySelector('#windows .window-row:nth-child(2) [data-f="to"]').value = "12:00"; document.getElementById("g-tz").value = "Europe/Paris"`))
	until(t, ctx, "labels on the window editor", labelled)
	shot(t, ctx, "8-grant-windows")
	run(t, ctx, chromedp.Click(css(`#grant-form button[type="submit"]`)))
	until(t, ctx, "the grant listed with its windows", `(() => { const t = document.querySelector("tbody") ? document.querySelector("tbody").innerText : ""; return t.includes("bob") && t.includes("tue,thu 09:00–17:30") && t.includes("sat 10:00–12:00") && t.includes("Europe/Paris"); })()`)
	until(t, ctx, "labels on the grants page", labelled)
	shot(t, ctx, "8-grants")
	phone(t, ctx, base+fmt.Sprintf("/n/%s/grants", netID), "grants")

	// Usage against the plan (no control plane here: it says so).
	run(t, ctx, chromedp.Navigate(base+fmt.Sprintf("/n/%s/usage", netID)), chromedp.WaitVisible(css("main")))
	until(t, ctx, "the usage, or why there is none", `!!document.getElementById("h-usage") || !document.getElementById("error").hidden`)
	shot(t, ctx, "9-usage")

	// Remove bob, after a confirmation: Cancel keeps him, Confirm removes.
	members := base + fmt.Sprintf("/n/%s/", netID)
	run(t, ctx, chromedp.Navigate(members), chromedp.WaitVisible(css(`button[aria-label="Remove bob"]`)))
	run(t, ctx, chromedp.Click(css(`button[aria-label="Remove bob"]`)), chromedp.WaitVisible(css("#confirm")))
	shot(t, ctx, "10-remove-confirm")
	run(t, ctx, chromedp.Click(css("#confirm-cancel")), chromedp.WaitNotVisible(css("#confirm")))
	time.Sleep(300 * time.Millisecond) // nothing should happen; give it the chance to
	run(t, ctx, chromedp.Navigate(members), chromedp.WaitVisible(css(`button[aria-label="Remove bob"]`)))
	run(t, ctx, chromedp.Click(css(`button[aria-label="Remove bob"]`)), chromedp.WaitVisible(css("#confirm")),
		chromedp.Click(css("#confirm-ok")))
	until(t, ctx, "bob gone from the members", `document.querySelector("tbody").innerText.includes("alice") && !document.querySelector("tbody").innerText.includes("bob")`)
	shot(t, ctx, "11-members-removed")
}

// css is a CSS selector.
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// The guest's story: bob, given the front door inside a weekly window by
// alice, sees the door on his own daemon's app and unlocks it; outside his
// window the app shows the refusal. The windows are set around the real
// time of day (no clock to move): one that holds now, one that does not.
func TestBrowserGuestWindow(t *testing.T) {
	ctx := browser(t)
	_, alice := startOwner(t)
	bg := context.Background()
	netw, err := alice.CreateNetwork(bg, api.CreateNetworkRequest{Name: "home"})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := alice.Invite(bg, "home", api.InviteRequest{Role: "guest"})
	if err != nil {
		t.Fatal(err)
	}
	bobHome := filepath.Join(t.TempDir(), "bob")
	if _, err := homedir.Init(bobHome, "bob"); err != nil {
		t.Fatal(err)
	}
	bob := &daemon.Daemon{Home: bobHome, ListenHost: "127.0.0.1", Logf: t.Logf}
	if err := bob.Start(bg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bob.Close() })
	jctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	if _, err := bob.Join(jctx, inv.Code); err != nil {
		t.Fatalf("bob joins: %v", err)
	}
	var bobID string
	ms, _ := alice.Members(bg, "home")
	for _, m := range ms {
		if m.Name == "bob" {
			bobID = m.User.String()
		}
	}
	now := time.Now().UTC()
	hm := func(d time.Duration) string { return now.Add(d).Format("15:04") }
	grant := func(from, to time.Duration) api.Grant {
		g, err := alice.GrantCreate(bg, "home", api.GrantRequest{Member: bobID, Grant: api.Grant{
			Resources: []string{"front-door"}, Capability: "lock", TZ: "UTC",
			Windows: []api.Window{{From: hm(from), To: hm(to)}}}})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	inside := grant(-time.Hour, time.Hour)

	s, err := web.New(bob, bobHome, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	link, err := web.LoginURL(bobHome)
	if err != nil {
		t.Fatal(err)
	}
	res := s.URL() + "/n/" + netw.ID.String() + "/resources"
	run(t, ctx, chromedp.Navigate(link), chromedp.WaitVisible(css("main")))
	for i := 0; ; i++ {
		run(t, ctx, chromedp.Navigate(res), chromedp.WaitVisible(css("main")))
		if get(t, ctx, chromedp.Evaluate[bool](`!!document.querySelector('[data-resource="front-door"][data-control="lock"]')`)) {
			break
		}
		if i > 100 {
			body := get(t, ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("bob's app never shows the front door:\n%s", body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	until(t, ctx, "bob's live stream", `document.getElementById("live-state").dataset.state === "live"`)

	// Inside the window: unlock works.
	until(t, ctx, "the door's button to say Unlock", `document.querySelector('[data-resource="front-door"][data-control="lock"]').textContent.trim() === "Unlock"`)
	run(t, ctx, chromedp.Click(css(`[data-resource="front-door"][data-control="lock"]`)))
	until(t, ctx, "the door unlocked", `document.getElementById("v-front-door-lock-state").textContent === "unlocked"`)
	shot(t, ctx, "guest-1-unlocked")

	// Outside it: the app shows the refusal, and the door stays as it is.
	if _, err := alice.GrantRevoke(bg, "home", inside.ID); err != nil {
		t.Fatal(err)
	}
	grant(2*time.Hour, 3*time.Hour)
	// The gateway is alice's own node: the new grant holds there at once.
	run(t, ctx, chromedp.Click(css(`[data-resource="front-door"][data-control="lock"]`)))
	until(t, ctx, "the refusal shown", `document.getElementById("res-front-door").textContent.includes("denied")`)
	txt := get(t, ctx, chromedp.Text(css("#res-front-door")))
	if !strings.Contains(txt, "outside the grant's hours") {
		t.Fatalf("refusal %q; want it to say the window", txt)
	}
	if st := get(t, ctx, chromedp.Text(css("#v-front-door-lock-state"))); st != "unlocked" {
		t.Fatalf("after the refusal the door shows %q", st)
	}
	shot(t, ctx, "guest-2-refused")
}

// claimRig is alice's daemon and app with a network, and a simulated
// Zigbee gateway run as a device daemon showing its claim code.
type claimRig struct {
	devices string // the devices page
	code    string
	home    string
	alice   *daemon.Daemon
}

func newClaimRig(t *testing.T, ctx context.Context) claimRig {
	t.Helper()
	bg := context.Background()
	home := filepath.Join(t.TempDir(), "alice")
	if _, err := homedir.Init(home, "alice"); err != nil {
		t.Fatal(err)
	}
	alice := &daemon.Daemon{Home: home, ListenHost: "127.0.0.1", Logf: t.Logf}
	if err := alice.Start(bg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alice.Close() })
	netw, err := alice.CreateNetwork(bg, api.CreateNetworkRequest{Name: "home"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := web.New(alice, home, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	hubHome := filepath.Join(t.TempDir(), "hub")
	if _, err := homedir.Init(hubHome, "Hub"); err != nil {
		t.Fatal(err)
	}
	codes := make(chan string, 4)
	hub := &daemon.Daemon{Home: hubHome, ListenHost: "127.0.0.1", Device: true, DeviceName: "Hub", Sim: "zigbee", Logf: t.Logf,
		OnClaimCode: func(c string) { codes <- c }}
	if err := hub.Start(bg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	var code string
	select {
	case code = <-codes:
	case <-time.After(30 * time.Second):
		t.Fatal("the device shows no claim code")
	}
	link, err := web.LoginURL(home)
	if err != nil {
		t.Fatal(err)
	}
	r := claimRig{devices: s.URL() + "/n/" + netw.ID.String() + "/devices", code: code, home: home, alice: alice}
	run(t, ctx, chromedp.Navigate(link), chromedp.WaitVisible(css("main")),
		chromedp.Navigate(r.devices), chromedp.WaitVisible(css("#claim-form")))
	return r
}

// claimed waits for the hub on the devices page once Claim is pressed.
func (r claimRig) claimed(t *testing.T, ctx context.Context) {
	t.Helper()
	run(t, ctx, chromedp.Click(css(`#claim-form button[type="submit"]`)))
	until(t, ctx, "the hub listed as a device", `!!document.querySelector('button[aria-label="Remove Hub"]')`)
}

// The owner claims a device by pasting its claim code: the simulated
// Zigbee gateway, run as a device daemon, joins the network, shows as
// online with its firmware state, and its resources appear.
func TestBrowserClaimDevice(t *testing.T) {
	ctx := browser(t)
	r := newClaimRig(t, ctx)
	run(t, ctx, chromedp.SendKeys(css("#claim-code"), r.code))
	r.claimed(t, ctx)
	base := strings.TrimSuffix(r.devices, "/devices")
	for i := 0; ; i++ {
		run(t, ctx, chromedp.Navigate(base+"/devices"), chromedp.WaitVisible(css("#claim-form")))
		if get(t, ctx, chromedp.Evaluate[bool](`document.querySelector("tbody").innerText.includes("online") && !!document.getElementById("h-ota")`)) {
			break
		}
		if i > 100 {
			t.Fatal("the hub never shows online")
		}
		time.Sleep(200 * time.Millisecond)
	}
	shot(t, ctx, "claim-1-devices")
	for i := 0; ; i++ {
		run(t, ctx, chromedp.Navigate(base+"/resources"), chromedp.WaitVisible(css("main")))
		if get(t, ctx, chromedp.Evaluate[bool](`!!document.getElementById("r-front-door")`)) {
			break
		}
		if i > 100 {
			t.Fatal("the hub's resources never show")
		}
		time.Sleep(200 * time.Millisecond)
	}
	until(t, ctx, "live values", `document.getElementById("live-state").dataset.state === "live"`)
	run(t, ctx, chromedp.SetValue(css("#lvl-kitchen-light"), "55"),
		js(`document.getElementById("lvl-kitchen-light").dispatchEvent(new Event("change", {bubbles: true}))`))
	until(t, ctx, "the light's new level", `document.getElementById("v-kitchen-light-level-level").textContent === "55"`)
	shot(t, ctx, "claim-2-resources")
}
