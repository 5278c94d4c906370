package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/homedir"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/daemon"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/ota"
)

// otaStatus polls `coco ota status` until the one device reports state for
// target.
func otaStatus(t *testing.T, home, state, target string) ota.Status {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var ss []ota.Status
		out := mustCoco(t, "--home", home, "ota", "status", "home", "--json")
		if err := json.Unmarshal([]byte(out), &ss); err != nil {
			t.Fatalf("ota status --json printed %q: %v", out, err)
		}
		if len(ss) == 1 && ss[0].State == state && ss[0].Target == target {
			return ss[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("ota status = %+v, want one device %s v%s", ss, state, target)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func otaImage(t *testing.T, n int) (string, []byte) {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	p := filepath.Join(t.TempDir(), "fw.bin")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// otaOwnerDevice certifies a node of alice's for app in the network "home"
// and copies her home for it, as a second machine of hers would hold it.
// Call it before alice's daemon starts; start the node with otaStartOwnerDevice.
func otaOwnerDevice(t *testing.T, home, app string) string {
	t.Helper()
	id, err := homedir.LoadIdentity(home)
	if err != nil {
		t.Fatal(err)
	}
	l, err := homedir.OpenNetwork(home, "home")
	if err != nil {
		t.Fatal(err)
	}
	var key [32]byte
	copy(key[:], id.Seed.NodeKey(l.Network(), app).Public().(ed25519.PublicKey))
	if _, err := l.Append(id.Seed.UserKey(), ledger.Op{Kind: ledger.KindAddNode, Subject: id.ID(), Node: key, SubjectName: app}); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), app)
	err = filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(home, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// otaStartOwnerDevice runs the node of app from home with the updater a device
// daemon runs (ota.StartDevice), connected to the daemon d.
func otaStartOwnerDevice(t *testing.T, home, app, model string, d *daemon.Daemon) *ota.Updater {
	t.Helper()
	n, err := engine.StartIn(context.Background(), home, "home", engine.Config{App: app, ListenHost: "127.0.0.1", Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	u, err := ota.StartDevice(n, home, model, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	st, err := d.Status(context.Background())
	if err != nil || len(st.Networks) != 1 {
		t.Fatalf("daemon status: %v, %d networks", err, len(st.Networks))
	}
	var info peer.AddrInfo
	if info.ID, err = peer.Decode(st.Networks[0].Node); err != nil {
		t.Fatal(err)
	}
	for _, a := range st.Networks[0].Addrs {
		info.Addrs = append(info.Addrs, ma.StringCast(a))
	}
	n.Node().AddPeerAddrs([]peer.AddrInfo{info})
	return u
}

// TestOTACLIStory: the owner authorizes an image for a device and watches
// it applied; an image for another model is refused and the device keeps
// its version; an admin cannot authorize; status needs the node running.
func TestOTACLIStory(t *testing.T) {
	hh := homes(t, "alice", "bob")
	a, b := hh[0], hh[1]
	if out := mustCoco(t, "ota", "authorize", "--help"); !strings.Contains(out, "--version") {
		t.Fatalf("ota authorize --help printed %q", out)
	}
	dh := otaOwnerDevice(t, a, "lock1")
	d := startDaemon(t, a)
	otaStartOwnerDevice(t, dh, "lock1", "lock-a", d)
	if out := mustCoco(t, "--home", a, "ota", "list", "home"); !strings.Contains(out, "No firmware") {
		t.Fatalf("ota list before any = %q", out)
	}

	img, want := otaImage(t, 200<<10)
	var auth ota.Authorization
	out := mustCoco(t, "--home", a, "ota", "authorize", "home", "lock1", img, "--version", "1.1", "--model", "lock-a", "--json")
	if err := json.Unmarshal([]byte(out), &auth); err != nil || auth.Version != "1.1" || auth.Name != "lock1" || auth.Model != "lock-a" || auth.Size != int64(len(want)) {
		t.Fatalf("ota authorize printed %q (%v), want v1.1 for lock1, model lock-a", out, err)
	}
	s := otaStatus(t, a, ota.StateApplied, "1.1")
	if s.Version != "1.1" || s.Name != "lock1" || s.Model != "lock-a" {
		t.Fatalf("status = %+v, want lock1 running 1.1", s)
	}
	if got, err := os.ReadFile(filepath.Join(ota.FirmwareDir(dh), "1.1.bin")); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("device firmware 1.1.bin: %d bytes, %v; want the image", len(got), err)
	}
	if out := mustCoco(t, "--home", a, "ota", "status", "home"); !strings.Contains(out, "lock1") || !strings.Contains(out, "applied v1.1") {
		t.Fatalf("ota status = %q", out)
	}

	// An image for another model is refused; the device keeps 1.1.
	img2, _ := otaImage(t, 1000)
	mustCoco(t, "--home", a, "ota", "authorize", "home", "lock1", img2, "--version", "1.2", "--model", "bulb-x")
	s = otaStatus(t, a, ota.StateFailed, "1.2")
	if s.Version != "1.1" || !strings.Contains(s.Error, `model "bulb-x"`) {
		t.Fatalf("status = %+v, want refused for the model, running 1.1", s)
	}
	out = mustCoco(t, "--home", a, "ota", "status", "home")
	if !strings.Contains(out, "failed: refused v1.2") || !strings.Contains(out, "keeping v1.1") {
		t.Fatalf("ota status = %q, want the refusal", out)
	}
	list := mustCoco(t, "--home", a, "ota", "list", "home")
	if !strings.Contains(list, "1.1") || !strings.Contains(list, "bulb-x") {
		t.Fatalf("ota list = %q", list)
	}

	// Bob, an admin, cannot authorize (here with no daemon: the ledger in
	// his home refuses), and sees no status without his node running.
	code := jsonField(t, mustCoco(t, "--home", a, "invite", "home", "--role", "admin", "--json"), "code")
	mustCoco(t, "--home", b, "join", code)
	_, errOut, exit := coco(t, "", "--home", b, "ota", "authorize", "home", "lock1", img, "--version", "9.0")
	if exit != 1 || !strings.Contains(errOut, "admin bob cannot change ota records (the owner only)") || !strings.Contains(errOut, "ask alice") {
		t.Fatalf("admin authorize: exit %d, %q; want the ledger's refusal", exit, errOut)
	}
	if _, errOut, exit := coco(t, "", "--home", b, "ota", "status", "home"); exit == 0 || !strings.Contains(errOut, "coco up") {
		t.Fatalf("ota status without daemon: exit %d, %q", exit, errOut)
	}
	if out := mustCoco(t, "--home", b, "ota", "list", "home"); !strings.Contains(out, "lock1") {
		t.Fatalf("ota list offline = %q", out)
	}

	// Withdrawing: not by an admin; by the owner, once; the list loses it.
	if _, errOut, exit := coco(t, "", "--home", b, "ota", "withdraw", "home", "lock1", "1.2"); exit == 0 || !strings.Contains(errOut, "the owner only") {
		t.Fatalf("admin withdraw: exit %d, %q", exit, errOut)
	}
	if out := mustCoco(t, "--home", a, "ota", "withdraw", "home", "lock1", "1.2"); !strings.Contains(out, "Withdrew v1.2") {
		t.Fatalf("ota withdraw = %q", out)
	}
	if _, errOut, exit := coco(t, "", "--home", a, "ota", "withdraw", "home", "lock1", "1.2"); exit == 0 || !strings.Contains(errOut, "no firmware v1.2 is authorized") {
		t.Fatalf("second withdraw: exit %d, %q", exit, errOut)
	}
	if list := mustCoco(t, "--home", a, "ota", "list", "home"); strings.Contains(list, "bulb-x") || !strings.Contains(list, "1.1") {
		t.Fatalf("ota list after withdraw = %q", list)
	}
}

// TestOTADeviceDaemon: a device daemon (`coco up --device`) the owner
// claimed takes an image authorized with the model it announced, and
// installs it into <home>/firmware.
func TestOTADeviceDaemon(t *testing.T) {
	a := homes(t, "alice")[0]
	dh := filepath.Join(filepath.Dir(a), "door")
	startDaemon(t, a)
	_, codes := startDevice(t, dh, "Front door")
	if _, errOut, exit := coco(t, "", "--home", a, "device", "add", "home", nextCode(t, codes)); exit != 0 {
		t.Fatalf("device add: exit %d: %s", exit, errOut)
	}
	img, want := otaImage(t, 100<<10)
	out := mustCoco(t, "--home", a, "ota", "authorize", "home", "front door", img, "--version", "2.0")
	if !strings.Contains(out, `Authorized v2.0 for "Front door" (model coconet-device)`) {
		t.Fatalf("ota authorize printed %q", out)
	}
	s := otaStatus(t, a, ota.StateApplied, "2.0")
	if s.Version != "2.0" || s.Model != "coconet-device" || s.Name != "Front door" {
		t.Fatalf("status = %+v, want Front door running 2.0", s)
	}
	in, err := ota.ReadInstalled(ota.FirmwareDir(dh))
	got, _ := os.ReadFile(filepath.Join(ota.FirmwareDir(dh), "2.0.bin"))
	if err != nil || in.Version != "2.0" || !bytes.Equal(got, want) {
		t.Fatalf("device firmware: %+v, %v, %d bytes; want 2.0 and the image", in, err, len(got))
	}
}
