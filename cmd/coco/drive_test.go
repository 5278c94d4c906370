package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coconet/coconet/daemon"
)

// startDriveDaemon starts a daemon whose drives sync only when told
// (`coco drive sync`, or a read of a file not known yet), so that edits
// made while "offline" stay concurrent until the test syncs.
func startDriveDaemon(t *testing.T, home string) *daemon.Daemon {
	t.Helper()
	d := &daemon.Daemon{Home: home, ListenHost: "127.0.0.1", Logf: t.Logf, DriveSyncEvery: -1}
	if err := d.Start(context.Background()); err != nil {
		t.Fatalf("daemon %s: %v", home, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// eventually retries f until it returns "" or the deadline passes.
func eventually(t *testing.T, what string, f func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// connected waits until home's node is connected to n other member nodes
// and its ledger lists them.
func connected(t *testing.T, home string, n int) {
	t.Helper()
	eventually(t, home+" connects", func() string {
		out := mustCoco(t, "--home", home, "peers", "home", "--json")
		if c := strings.Count(out, `"connected": true`); c < n {
			return out
		}
		return ""
	})
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDriveStory: alice and bob, admins of one network, share a drive;
// carol's node replicates it blind. Alice writes a file and bob reads it;
// both edit it without syncing and, once synced, both see the same one
// conflict copy. Carol's store holds neither the content nor the names.
// Bob, never online with alice, gets her later file through carol alone.
// Dave, a guest, is refused the key and the logs.
func TestDriveStory(t *testing.T) {
	hh := homes(t, "alice", "bob", "carol", "dave")
	a, b, c, g := hh[0], hh[1], hh[2], hh[3]
	tmp := t.TempDir()
	da := startDriveDaemon(t, a)
	for _, m := range []struct{ home, role string }{{b, "admin"}, {c, "admin"}, {g, "guest"}} {
		code := jsonField(t, mustCoco(t, "--home", a, "invite", "home", "--role", m.role, "--json"), "code")
		mustCoco(t, "--home", m.home, "join", code)
	}
	db := startDriveDaemon(t, b)
	startDriveDaemon(t, c)
	startDriveDaemon(t, g)
	for _, h := range []string{a, b, c, g} {
		connected(t, h, 3)
	}

	// Alice creates the drive and writes; carol replicates it blind.
	mustCoco(t, "--home", a, "drive", "create", "docs", "--net", "home")
	mustCoco(t, "--home", c, "drive", "replicate", "home/docs")
	mustCoco(t, "--home", a, "drive", "put", "home/docs", "notes/plan.txt", writeFile(t, tmp, "plan", "secret plan from alice"))

	// Bob reads it: his node gets the key from alice's and the file.
	if got := mustCoco(t, "--home", b, "drive", "get", "home/docs", "notes/plan.txt"); got != "secret plan from alice" {
		t.Fatalf("bob read %q", got)
	}
	if out := mustCoco(t, "--home", b, "drive", "ls", "home/docs", "--json"); !strings.Contains(out, `"notes/plan.txt"`) {
		t.Fatalf("bob's ls: %s", out)
	}

	// Both edit it while not syncing: concurrent versions.
	mustCoco(t, "--home", a, "drive", "put", "home/docs", "notes/plan.txt", writeFile(t, tmp, "a2", "alice's edit"))
	mustCoco(t, "--home", b, "drive", "put", "home/docs", "notes/plan.txt", writeFile(t, tmp, "b2", "bob's edit"))
	mustCoco(t, "--home", a, "drive", "sync", "home/docs")
	mustCoco(t, "--home", b, "drive", "sync", "home/docs")
	mustCoco(t, "--home", c, "drive", "sync", "home/docs")
	var ca, cb []map[string]any
	json.Unmarshal([]byte(mustCoco(t, "--home", a, "drive", "conflicts", "home/docs", "--json")), &ca)
	json.Unmarshal([]byte(mustCoco(t, "--home", b, "drive", "conflicts", "home/docs", "--json")), &cb)
	if len(ca) != 1 || len(cb) != 1 || ca[0]["path"] != cb[0]["path"] || !strings.Contains(ca[0]["path"].(string), ".sync-conflict-") {
		t.Fatalf("conflicts: alice %v, bob %v; want the same one conflict copy", ca, cb)
	}
	la := mustCoco(t, "--home", a, "drive", "ls", "home/docs", "--json")
	lb := mustCoco(t, "--home", b, "drive", "ls", "home/docs", "--json")
	if la != lb {
		t.Fatalf("trees differ:\nalice %s\nbob %s", la, lb)
	}
	copyPath := ca[0]["path"].(string)
	both := mustCoco(t, "--home", a, "drive", "get", "home/docs", "notes/plan.txt") + "|" + mustCoco(t, "--home", a, "drive", "get", "home/docs", copyPath)
	if !strings.Contains(both, "alice's edit") || !strings.Contains(both, "bob's edit") {
		t.Fatalf("file and conflict copy hold %q; want both edits", both)
	}

	// The blind replicator holds neither plaintext nor names.
	held := 0
	filepath.WalkDir(c, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.Contains(p, string(filepath.Separator)+"drives"+string(filepath.Separator)) {
			return nil
		}
		data, _ := os.ReadFile(p)
		held += len(data)
		for _, s := range []string{"secret plan", "alice's edit", "bob's edit", "plan.txt", "notes/"} {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("replicator's %s holds %q", p, s)
			}
		}
		return nil
	})
	if held == 0 {
		t.Fatal("the replicator holds nothing")
	}
	if _, errOut, code := coco(t, "", "--home", c, "drive", "get", "home/docs", "notes/plan.txt"); code == 0 || !strings.Contains(errOut, "blind") {
		t.Fatalf("replicator read: exit %d, %q", code, errOut)
	}

	// Dave, a guest, gets neither the key nor the logs.
	if _, errOut, code := coco(t, "", "--home", g, "drive", "ls", "home/docs"); code == 0 || !strings.Contains(errOut, "guest") {
		t.Fatalf("guest ls: exit %d, %q", code, errOut)
	}
	mustCoco(t, "--home", g, "drive", "replicate", "home/docs")
	out := mustCoco(t, "--home", g, "drive", "sync", "home/docs", "--json")
	if strings.Contains(out, `"blocks_received": 1`) || !strings.Contains(out, `"error"`) {
		t.Fatalf("guest sync: %s", out)
	}
	if st := mustCoco(t, "--home", g, "drive", "status", "home/docs", "--json"); strings.Contains(st, `"size": `) {
		t.Fatalf("guest holds logs: %s", st)
	}

	// Bandwidth: set, kept, refused when bad.
	mustCoco(t, "--home", a, "drive", "bandwidth", "home/docs", "--limit", "2MB/s")
	if out := mustCoco(t, "--home", a, "drive", "bandwidth", "home/docs", "--schedule", "mon-fri 19:00-07:00", "--json"); !strings.Contains(out, `"limit": "2MB/s"`) || !strings.Contains(out, `"schedule": "mon-fri 19:00-07:00"`) {
		t.Fatalf("bandwidth: %s", out)
	}
	if _, errOut, code := coco(t, "", "--home", a, "drive", "bandwidth", "home/docs", "--limit", "fast"); code == 0 || errOut == "" {
		t.Fatalf("bad limit: exit %d, %q", code, errOut)
	}
	mustCoco(t, "--home", a, "drive", "bandwidth", "home/docs", "--limit", "none", "--schedule", "none")

	// Bob goes offline; alice writes; carol syncs; alice goes offline; bob
	// comes back and gets the file from carol alone.
	db.Close()
	mustCoco(t, "--home", a, "drive", "put", "home/docs", "later.txt", writeFile(t, tmp, "later", "written while bob was away"))
	mustCoco(t, "--home", c, "drive", "sync", "home/docs")
	da.Close()
	startDriveDaemon(t, b)
	connected(t, b, 1)
	if got := mustCoco(t, "--home", b, "drive", "get", "home/docs", "later.txt"); got != "written while bob was away" {
		t.Fatalf("bob read %q through the replicator", got)
	}

}
