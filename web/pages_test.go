package web_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/consortium"
	"github.com/coconet/coconet/consortium/consnode"
	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/daemon"
	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/web"
)

// serve runs the app of d's home and logs the browser in; it returns the
// app's address.
func serve(t *testing.T, ctx context.Context, svc api.Service, home string, mods ...func(*web.Server)) string {
	t.Helper()
	s, err := web.New(svc, home, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		m(s)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	link, err := web.LoginURL(home)
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctx, chromedp.Navigate(link), chromedp.WaitVisible(css("main")))
	return s.URL()
}

// daemonOf starts a daemon of a new home named name.
func daemonOf(t *testing.T, name string, mod func(*daemon.Daemon)) (string, *daemon.Daemon) {
	t.Helper()
	home := filepath.Join(t.TempDir(), name)
	if _, err := homedir.Init(home, name); err != nil {
		t.Fatal(err)
	}
	d := &daemon.Daemon{Home: home, ListenHost: "127.0.0.1", Logf: t.Logf}
	if mod != nil {
		mod(d)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return home, d
}

// phone checks the page at a phone's width: no sideways scrolling, and
// every control labelled; then it goes back to the desktop size.
func phone(t *testing.T, ctx context.Context, url, shotName string) {
	t.Helper()
	run(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(url), chromedp.WaitVisible(css("main")))
	until(t, ctx, "no sideways scrolling at 390 px", `document.documentElement.scrollWidth <= 390`)
	until(t, ctx, "labels on "+shotName, labelled)
	shot(t, ctx, shotName+"-phone")
	run(t, ctx, chromedp.EmulateViewport(1200, 900))
}

// The admin's push story: the tree is edited from the page (ids added at
// the top and under others, one moved under another with its picker, one
// taken out), a mesh router made and an id attached and detached, a node
// named a push server, an account key created and shown once; the ledger
// holds each change.
func TestBrowserPushTree(t *testing.T) {
	ctx := browser(t)
	home, alice := daemonOf(t, "alice", nil)
	bg := context.Background()
	netw, err := alice.CreateNetwork(bg, api.CreateNetworkRequest{Name: "home"})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, ctx, alice, home)
	page := base + "/n/" + netw.ID.String() + "/push"
	run(t, ctx, chromedp.Navigate(page), chromedp.WaitVisible(css("#add-main")))
	until(t, ctx, "labels on the push page", labelled)

	add := func(id, parent string) {
		run(t, ctx, chromedp.SendKeys(css("#add-id-main"), id),
			js(`document.getElementById("add-parent-main").value = `+jsq(parent)),
			chromedp.Click(css(`#add-main button[type="submit"]`)))
		until(t, ctx, id+" in the tree", `!!document.getElementById("pn-main-`+id+`")`)
	}
	add("house", "")
	add("lamp", "house")
	add("door", "")
	until(t, ctx, "lamp under house", `!!document.querySelector("#pn-main-house #pn-main-lamp")`)
	// Move door under house with its own picker, by keyboard-reachable controls.
	run(t, ctx, js(`document.getElementById("mv-main-door").value = "house"`),
		chromedp.Click(css(`button[aria-label="Move door"]`)))
	until(t, ctx, "door moved under house", `!!document.querySelector("#pn-main-house #pn-main-door")`)

	// A router with lamp attached, then detached.
	run(t, ctx, chromedp.SendKeys(css("#router-name-main"), "hall"), chromedp.Click(css(`#add-router-main button[type="submit"]`)))
	until(t, ctx, "the router", `!!document.getElementById("router-main-hall")`)
	run(t, ctx, chromedp.SendKeys(css("#att-main-hall"), "lamp"), chromedp.Click(css(`#router-main-hall form button[type="submit"]`)))
	until(t, ctx, "lamp attached", `!!document.querySelector('button[aria-label="Detach lamp from hall"]')`)
	shot(t, ctx, "push-1-tree")
	recs, err := alice.PushRecords(bg, "home", "")
	if err != nil || len(recs.Routers) != 1 || len(recs.Routers[0].IDs) != 1 || recs.Routers[0].IDs[0] != "lamp" {
		t.Fatalf("the ledger's routers: %+v, %v", recs.Routers, err)
	}
	parents := map[string]string{}
	for _, g := range recs.Groups {
		parents[g.ID] = g.Parent
	}
	if parents["door"] != "house" || parents["lamp"] != "house" {
		t.Fatalf("the ledger's tree: %+v", recs.Groups)
	}
	run(t, ctx, chromedp.Click(css(`button[aria-label="Detach lamp from hall"]`)))
	until(t, ctx, "lamp detached", `!document.querySelector('button[aria-label="Detach lamp from hall"]') && !!document.getElementById("router-main-hall")`)
	run(t, ctx, chromedp.Click(css(`button[aria-label="Take door out of the tree"]`)))
	until(t, ctx, "door out of the tree", `!document.getElementById("pn-main-door")`)

	// Alice's node named a push server; a key, shown once.
	st, err := alice.Status(bg)
	if err != nil || len(st.Networks) == 0 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	run(t, ctx, chromedp.SendKeys(css("#pserver-node"), st.Networks[0].Node), chromedp.Click(css(`#add-pserver button[type="submit"]`)))
	until(t, ctx, "the push server listed", `document.querySelector("#h-pservers").parentElement.innerText.includes("alice")`)
	run(t, ctx, chromedp.SendKeys(css("#pkey-name"), "sensors"), chromedp.Click(css(`#add-pkey button[type="submit"]`)))
	until(t, ctx, "the new key shown", `document.getElementById("new-key").value.length > 10`)
	shot(t, ctx, "push-2-servers-keys")
	phone(t, ctx, page, "push")
}

// jsq quotes s for a script.
func jsq(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// join has member's daemon join owner's network "home" with role.
func join(t *testing.T, owner, member *daemon.Daemon, role string) {
	t.Helper()
	bg := context.Background()
	inv, err := owner.Invite(bg, "home", api.InviteRequest{Role: role})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	if _, err := member.Join(ctx, inv.Code); err != nil {
		t.Fatalf("join: %v", err)
	}
}

// eventually retries f until it returns nil, or fails the test.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The drive story in the browser: alice creates a drive and uploads a
// file from the page; bob, an admin on his own daemon, reads it. Both
// then change it without syncing; after a sync alice's page shows the
// conflict copy, she views it and keeps it, and the conflict is gone
// with the copy's content in the file. The replica health lists each
// writer's log with its copies.
func TestBrowserDrive(t *testing.T) {
	ctx := browser(t)
	bg := context.Background()
	noSync := func(d *daemon.Daemon) { d.DriveSyncEvery = -1 }
	home, alice := daemonOf(t, "alice", noSync)
	netw, err := alice.CreateNetwork(bg, api.CreateNetworkRequest{Name: "home"})
	if err != nil {
		t.Fatal(err)
	}
	_, bob := daemonOf(t, "bob", noSync)
	join(t, alice, bob, "admin")
	base := serve(t, ctx, alice, home)
	drives := base + "/n/" + netw.ID.String() + "/drives"

	run(t, ctx, chromedp.Navigate(drives), chromedp.WaitVisible(css("#create-drive")),
		chromedp.SendKeys(css("#drive-name"), "docs"), chromedp.Click(css(`#create-drive button[type="submit"]`)))
	until(t, ctx, "the drive listed", `[...document.querySelectorAll("table a")].some(a => a.textContent === "docs")`)
	until(t, ctx, "labels on the drives page", labelled)
	shot(t, ctx, "drive-1-drives")

	// Upload a file from the page.
	up := filepath.Join(t.TempDir(), "plan.txt")
	if err := os.WriteFile(up, []byte("the plan, from alice's browser"), 0o600); err != nil {
		t.Fatal(err)
	}
	page := drives + "/docs"
	run(t, ctx, chromedp.Navigate(page), chromedp.WaitVisible(css("#upload")),
		chromedp.SetUploadFiles(css("#upload-file"), []string{up}),
		chromedp.SendKeys(css("#upload-path"), "notes/plan.txt"),
		chromedp.Click(css(`#upload button[type="submit"]`)))
	until(t, ctx, "the file listed", `!!document.querySelector('tr[data-path="notes/plan.txt"]')`)
	run(t, ctx, chromedp.Click(css(`button[aria-label="View notes/plan.txt"]`)))
	until(t, ctx, "the file's text shown", `document.getElementById("preview-text").textContent === "the plan, from alice's browser"`)

	// Bob reads it from his node.
	eventually(t, "bob reads the file", func() error {
		c, err := bob.DriveGet(bg, "home", "docs", api.DriveGetRequest{Path: "notes/plan.txt"})
		if err == nil && string(c.Content) != "the plan, from alice's browser" {
			err = fmt.Errorf("bob read %q", c.Content)
		}
		return err
	})

	// Concurrent edits, then a sync: a conflict copy.
	if _, err := alice.DrivePut(bg, "home", "docs", api.DrivePutRequest{Path: "notes/plan.txt", Content: []byte("alice's edit")}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.DrivePut(bg, "home", "docs", api.DrivePutRequest{Path: "notes/plan.txt", Content: []byte("bob's edit")}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.DriveSync(bg, "home", "docs"); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, chromedp.Navigate(page), chromedp.WaitVisible(css("#sync-now")), chromedp.Click(css("#sync-now")))
	until(t, ctx, "the sync's result", `document.getElementById("sync-result").textContent.includes("received")`)
	run(t, ctx, chromedp.Navigate(page), chromedp.WaitVisible(css("main")))
	until(t, ctx, "the conflict listed", `!!document.querySelector("#conflicts tbody tr")`)
	until(t, ctx, "the replica health", `document.querySelectorAll("#health tbody tr").length === 2`)
	shot(t, ctx, "drive-2-conflict")
	copyPath := get(t, ctx, chromedp.Evaluate[string](`document.querySelector("#conflicts tbody td").textContent`))
	run(t, ctx, chromedp.Click(css(`button[aria-label="View `+copyPath+`"]`)))
	until(t, ctx, "the copy's text", `/edit/.test(document.getElementById("preview-text").textContent)`)
	kept := get(t, ctx, chromedp.Evaluate[string](`document.getElementById("preview-text").textContent`))
	run(t, ctx, chromedp.Click(css(`button[aria-label="Keep `+copyPath+`"]`)), chromedp.WaitVisible(css("#confirm")), chromedp.Click(css("#confirm-ok")))
	until(t, ctx, "no conflict left", `!!document.getElementById("no-conflicts")`)
	c, err := alice.DriveGet(bg, "home", "docs", api.DriveGetRequest{Path: "notes/plan.txt"})
	if err != nil || string(c.Content) != kept {
		t.Fatalf("after keeping the copy the file holds %q, %v; want %q", c.Content, err, kept)
	}
	until(t, ctx, "labels on the drive page", labelled)
	shot(t, ctx, "drive-3-resolved")
	phone(t, ctx, page, "drive")
}

// The consortium story in the browser: alice starts her validating node
// from a genesis file she uploads, proposes to add bob as a member with
// his certificate file, votes yes from the page, and sees the proposal
// accepted with her ballot and two members.
func TestBrowserConsortium(t *testing.T) {
	ctx := browser(t)
	bg := context.Background()
	home, alice := daemonOf(t, "alice", nil)
	netw, err := alice.CreateNetwork(bg, api.CreateNetworkRequest{Name: "bank", Kind: "consortium"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := alice.ConsortiumIdentity(bg, "bank")
	if err != nil {
		t.Fatal(err)
	}
	n := id.Node
	g := consortium.Genesis{Name: "bank", Members: [][]byte{id.Cert}, Envs: []string{consortium.EnvSoftware},
		Nodes: []consortium.NodeInfo{{ID: n.ID, PubKey: n.PubKey, CodeHash: n.CodeHash, Env: n.Env, Addr: n.Addr}},
		Code:  [][]byte{n.CodeHash}, Nonce: make([]byte, 16)}
	rand.Read(g.Nonce)
	gj, _ := json.Marshal(g)
	dir := t.TempDir()
	genesis := filepath.Join(dir, "genesis.json")
	os.WriteFile(genesis, gj, 0o600)
	seed, _ := identity.NewSeed()
	bobM, err := consnode.Member(&identity.Identity{Seed: seed, Name: "bob"}, ledger.NetworkID{})
	if err != nil {
		t.Fatal(err)
	}
	cert := filepath.Join(dir, "bob.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: bobM.Cert}), 0o600)

	base := serve(t, ctx, alice, home)
	page := base + "/n/" + netw.ID.String() + "/consortium"
	run(t, ctx, chromedp.Navigate(page), chromedp.WaitVisible(css("#cstart")))
	until(t, ctx, "labels on the start form", labelled)
	run(t, ctx, chromedp.SetUploadFiles(css("#genesis-file"), []string{genesis}), chromedp.Click(css(`#cstart button[type="submit"]`)))
	until(t, ctx, "the consortium's status", `!!document.getElementById("cstatus") && document.getElementById("cmembers").textContent.startsWith("1:")`)
	if got := get(t, ctx, chromedp.Text(css("#member-id"))); got != id.Member {
		t.Fatalf("the page's member ID %q, want %q", got, id.Member)
	}

	run(t, ctx, js(`document.getElementById("p-kind").value = "add_member"`),
		chromedp.SetUploadFiles(css("#p-file"), []string{cert}), chromedp.Click(css(`#propose button[type="submit"]`)))
	until(t, ctx, "the open proposal", `!!document.querySelector("#proposals .state-open")`)
	shot(t, ctx, "consortium-1-open")
	run(t, ctx, chromedp.Click(css(`#proposals button[aria-label^="Vote yes"]`)))
	until(t, ctx, "the proposal accepted", `!!document.querySelector("#proposals .state-accepted")`)
	until(t, ctx, "alice's ballot", `document.querySelector("#proposals").innerText.includes("(you): yes")`)
	until(t, ctx, "two members", `document.getElementById("cmembers").textContent.startsWith("2:")`)
	until(t, ctx, "labels on the consortium page", labelled)
	shot(t, ctx, "consortium-2-accepted")
	ps, err := alice.ConsortiumProposals(bg, "bank")
	if err != nil || len(ps) != 1 || ps[0].State != consortium.StateAccepted || len(ps[0].Actions) != 1 || string(ps[0].Actions[0].Cert) != string(bobM.Cert) {
		t.Fatalf("proposals: %+v, %v; want bob's certificate added", ps, err)
	}
	phone(t, ctx, page, "consortium")
}

// Usage against the plan, over time: the app samples the control plane's
// figures into its ring and draws them as a chart with the plan's limit;
// the page reads in dark mode too.
func TestBrowserUsageChart(t *testing.T) {
	ctx := browser(t)
	bg := context.Background()
	srv, err := control.New(control.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Dir: t.TempDir(), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(bg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	home, alice := daemonOf(t, "alice", func(d *daemon.Daemon) { d.Control = []string{srv.Addrs()[0].String()} })
	netw, err := alice.CreateNetwork(bg, api.CreateNetworkRequest{Name: "home"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the node registered", func() error {
		u, err := alice.Usage(bg, "home")
		if err == nil && u.Nodes < 1 {
			err = fmt.Errorf("usage %+v", u)
		}
		return err
	})
	base := serve(t, ctx, alice, home, func(s *web.Server) { s.UsageEvery = 10 * time.Millisecond })
	page := base + "/n/" + netw.ID.String() + "/usage"
	for i := 0; ; i++ { // each view samples too: the chart grows
		run(t, ctx, chromedp.Navigate(page), chromedp.WaitVisible(css("main")))
		if get(t, ctx, chromedp.Evaluate[bool](`(() => { const p = document.querySelector("svg.chart polyline.series"); return !!p && p.getAttribute("points").trim().split(/\s+/).length >= 3; })()`)) {
			break
		}
		if i > 100 {
			t.Fatal("the chart never shows three samples")
		}
		time.Sleep(100 * time.Millisecond)
	}
	until(t, ctx, "the plan's limit drawn", `document.querySelectorAll("svg.chart line.limit").length === 2`)
	until(t, ctx, "the charts named for screen readers", `[...document.querySelectorAll("svg.chart")].every(s => s.getAttribute("role") === "img" && s.getAttribute("aria-label"))`)
	shot(t, ctx, "usage-1-chart")
	run(t, ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
		return err
	}))
	until(t, ctx, "a dark page", `getComputedStyle(document.body).backgroundColor === "rgb(21, 24, 28)"`)
	until(t, ctx, "the chart's line light on dark", `getComputedStyle(document.querySelector("svg.chart polyline.series")).stroke === "rgb(122, 180, 255)"`)
	shot(t, ctx, "usage-2-dark")
	phone(t, ctx, page, "usage")
}

// The browser stays logged in across a restart of the daemon's app (a
// new server of the same home); "Log out everywhere" then ends it, and a
// restart does not bring it back.
func TestBrowserSessionSurvivesRestart(t *testing.T) {
	ctx := browser(t)
	home, alice := daemonOf(t, "alice", nil)
	start := func(addr string) *web.Server {
		s, err := web.New(alice, home, t.Logf)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(addr); err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := start("127.0.0.1:0")
	addr := strings.TrimPrefix(s.URL(), "http://")
	link, err := web.LoginURL(home)
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctx, chromedp.Navigate(link), chromedp.WaitVisible(css("#create-network")))
	s.Close()
	s = start(addr) // restarted, on the same address as `coco up` would be
	t.Cleanup(func() { s.Close() })
	run(t, ctx, chromedp.Navigate(s.URL()+"/"), chromedp.WaitVisible(css("#create-network")))
	run(t, ctx, chromedp.SendKeys(css("#net-name"), "after-restart"), chromedp.Click(css(`#create-network button[type="submit"]`)))
	until(t, ctx, "a network created after the restart", `[...document.querySelectorAll("table a")].some(a => a.textContent === "after-restart")`)

	run(t, ctx, chromedp.Click(chromedp.Search(`//button[text()="Log out everywhere"]`)), chromedp.WaitVisible(css("#confirm")), chromedp.Click(css("#confirm-ok")))
	until(t, ctx, "logged out", `document.body.innerText.includes("Logged out")`)
	s.Close()
	s = start(addr)
	run(t, ctx, chromedp.Navigate(s.URL()+"/"))
	until(t, ctx, "the old session refused after a restart", `document.body.innerText.includes("Not logged in")`)
}
