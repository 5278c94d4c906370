package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coconet/coconet/daemon"
	"github.com/coconet/coconet/home"
)

// homeStory is alice (owner, her daemon simulating a Zigbee gateway) and
// bob (a guest) with their daemons connected.
func homeStory(t *testing.T) (a, b string, stopAlice func()) {
	t.Helper()
	hh := homes(t, "alice", "bob")
	a, b = hh[0], hh[1]
	d := &daemon.Daemon{Home: a, ListenHost: "127.0.0.1", Sim: "zigbee", Logf: t.Logf}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	code := jsonField(t, mustCoco(t, "--home", a, "invite", "home", "--role", "guest", "--json"), "code")
	mustCoco(t, "--home", b, "join", code)
	startDaemon(t, b)
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(mustCoco(t, "--home", b, "peers", "home", "--json"), `"connected": true`) {
		if time.Now().After(deadline) {
			t.Fatal("bob never connected")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return a, b, func() { d.Close() }
}

// cocoFails runs a command that must fail and returns its stderr.
func cocoFails(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := coco(t, "", args...)
	if code == 0 {
		t.Fatalf("coco %s succeeded: %s", strings.Join(args, " "), out)
	}
	return errOut
}

func TestCLIHomeStory(t *testing.T) {
	a, b, stopAlice := homeStory(t)

	// The owner sees the simulated home and runs commands.
	var l home.Listing
	if err := json.Unmarshal([]byte(mustCoco(t, "--home", a, "resource", "list", "home", "--json")), &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Resources) != 6 {
		t.Fatalf("alice lists %d resources, want 6 (5 devices and the gateway)", len(l.Resources))
	}
	table := mustCoco(t, "--home", a, "resource", "list", "home")
	if !strings.Contains(table, "front-door") || !strings.Contains(table, "lock.state=locked") {
		t.Errorf("resource list:\n%s", table)
	}
	if out := mustCoco(t, "--home", a, "cmd", "home", "living-lamp", "level", "set", "level=40"); !strings.Contains(out, "level.level=40") {
		t.Errorf("cmd level set: %q", out)
	}
	if e := cocoFails(t, "--home", a, "cmd", "home", "living-lamp", "level", "set", "level=140"); !strings.Contains(e, "level.set: level 140 is above the maximum 100") {
		t.Errorf("level 140: %q", e)
	}
	if out := mustCoco(t, "--home", a, "cmd", "home", "zigbee", "bridge", "add", "kind=bulb", "id=porch", "name=Porch"); !strings.Contains(out, "done") {
		t.Errorf("bridge add: %q", out)
	}

	// Zones.
	mustCoco(t, "--home", a, "zone", "create", "home", "Entrance")
	mustCoco(t, "--home", a, "zone", "add", "home", "Entrance", "front-door", "porch")
	mustCoco(t, "--home", a, "zone", "create", "home", "Garden")
	if out := mustCoco(t, "--home", a, "zone", "move", "home", "garden", "porch"); !strings.Contains(out, `Moved porch from "Entrance" to "Garden"`) {
		t.Errorf("zone move: %q", out)
	}
	if out := mustCoco(t, "--home", a, "zone", "list", "home"); !strings.Contains(out, "front-door") || !strings.Contains(out, "porch") {
		t.Errorf("zone list:\n%s", out)
	}
	if out := mustCoco(t, "--home", a, "resource", "list", "home", "--zone", "Garden"); !strings.Contains(out, "porch") || strings.Contains(out, "front-door") {
		t.Errorf("resource list --zone Garden:\n%s", out)
	}

	// The guest sees nothing until granted; a grant outside its window
	// does not open the door.
	if out := mustCoco(t, "--home", b, "resource", "list", "home"); !strings.Contains(out, "No resources") {
		t.Errorf("bob lists before any grant:\n%s", out)
	}
	tomorrow := strings.ToLower(time.Now().UTC().Add(24 * time.Hour).Weekday().String()[:3])
	mustCoco(t, "--home", a, "grant", "home", "bob", "--resource", "front-door", "--capability", "lock", "--command", "unlock", "--days", tomorrow, "--tz", "UTC")
	waitCoco(t, "bob sees the front door", func() bool {
		return strings.Contains(mustCoco(t, "--home", b, "resource", "list", "home"), "front-door")
	})
	if e := cocoFails(t, "--home", b, "cmd", "home", "front-door", "lock", "unlock"); !strings.Contains(e, "outside the grant's hours") {
		t.Errorf("bob unlocks outside his window: %q", e)
	}
	out := mustCoco(t, "--home", a, "grant", "home", "bob", "--zone", "entrance", "--capability", "lock", "--command", "unlock", "--json")
	var g home.Grant
	json.Unmarshal([]byte(out), &g)
	waitCoco(t, "the zone grant reaches the gateway", func() bool {
		_, _, code := coco(t, "", "--home", b, "cmd", "home", "front-door", "lock", "unlock")
		return code == 0
	})
	if e := cocoFails(t, "--home", b, "cmd", "home", "front-door", "lock", "lock"); !strings.Contains(e, "no grant for lock.lock") {
		t.Errorf("bob locks: %q", e)
	}
	if e := cocoFails(t, "--home", b, "cmd", "home", "living-lamp", "on_off", "on"); !strings.Contains(e, "no resource living-lamp") {
		t.Errorf("bob turns on the lamp: %q", e)
	}
	if out := mustCoco(t, "--home", a, "grant", "list", "home"); strings.Count(out, "bob") != 2 {
		t.Errorf("grant list:\n%s", out)
	}
	if e := cocoFails(t, "--home", b, "grant", "home", "bob", "--resource", "living-lamp", "--capability", "on_off"); !strings.Contains(e, "guest") {
		t.Errorf("bob grants himself: %q", e)
	}

	// Bob watches the door; alice locks it.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wout, werr homeBuf
	done := make(chan int)
	go func() { done <- run(ctx, []string{"--home", b, "watch", "home", "front-door"}, nil, &wout, &werr) }()
	waitCoco(t, "bob's watch starts", func() bool { return strings.Contains(wout.String(), "(current)") })
	mustCoco(t, "--home", a, "cmd", "home", "front-door", "lock", "lock")
	waitCoco(t, "bob sees the door locked", func() bool {
		return strings.Contains(wout.String(), "lock.state = locked  [") && strings.Count(wout.String(), "lock.state") >= 2
	})
	cancel()
	<-done
	if strings.Contains(wout.String(), "battery") {
		t.Errorf("bob watched the battery he was not granted:\n%s", wout.String())
	}

	// Revoking: bob's unlock fails again.
	mustCoco(t, "--home", a, "revoke", "home", g.ID[:6])
	waitCoco(t, "the revocation reaches the gateway", func() bool {
		_, errOut, code := coco(t, "", "--home", b, "cmd", "home", "front-door", "lock", "unlock")
		return code != 0 && strings.Contains(errOut, "outside the grant's hours")
	})

	// Scenes.
	mustCoco(t, "--home", a, "scene", "create", "home", "evening",
		"--action", "living-lamp:on_off:on", "--action", "kitchen-light:level:set:level=30",
		"--action", "coffee-plug:on_off:off", "--action", "front-door:lock:lock")
	if out := mustCoco(t, "--home", a, "scene", "run", "home", "evening"); !strings.Contains(out, `Scene "evening": 4 of 4 action(s) done`) {
		t.Errorf("scene run:\n%s", out)
	}
	mustCoco(t, "--home", a, "scene", "create", "home", "broken",
		"--action", "living-lamp:on_off:off", "--action", "living-lamp:level:set:level=140", "--action", "nothing:on_off:on")
	out, errOut, code := coco(t, "", "--home", a, "scene", "run", "home", "broken")
	if code == 0 || !strings.Contains(out, "FAIL") || !strings.Contains(out, "level 140 is above the maximum 100") ||
		!strings.Contains(out, "no resource nothing") || !strings.Contains(errOut, "2 of 3 action(s) of scene \"broken\" failed (1 invalid, 1 not_found)") {
		t.Errorf("broken scene: exit %d\n%s%s", code, out, errOut)
	}
	if out := mustCoco(t, "--home", a, "scene", "list", "home"); !strings.Contains(out, "evening (4 action(s))") {
		t.Errorf("scene list:\n%s", out)
	}
	if e := cocoFails(t, "--home", b, "scene", "create", "home", "mine", "--action", "front-door:lock:unlock"); !strings.Contains(e, "guest") {
		t.Errorf("bob creates a scene: %q", e)
	}
	// Bob may run a scene: each action is decided by the device.
	if _, _, code := coco(t, "", "--home", b, "scene", "run", "home", "evening"); code == 0 {
		t.Error("bob ran alice's evening scene without grants")
	}

	// Offline: records are edited in the ledger, the network needs coco up.
	stopAlice()
	mustCoco(t, "--home", a, "zone", "create", "home", "Attic")
	if out := mustCoco(t, "--home", a, "zone", "list", "home", "--json"); !strings.Contains(out, "Attic") {
		t.Errorf("offline zone list: %s", out)
	}
	if e := cocoFails(t, "--home", a, "resource", "list", "home"); !strings.Contains(e, "coco up") {
		t.Errorf("offline resource list: %q", e)
	}
}

// waitCoco polls cond for up to 15 s.
func waitCoco(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 45s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// homeBuf is a bytes.Buffer safe for a writer and a reader goroutine.
type homeBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *homeBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *homeBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
