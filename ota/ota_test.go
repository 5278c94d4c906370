package ota

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/internal/nettest"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/stream"
)

func TestMain(m *testing.M) { nettest.VerifyNoLeaks(m) }

// testHome is an owner's network with device nodes: each device is a node
// of the owner (app = its name) run from a copy of the owner's home, as a
// second machine of the owner would.
type testHome struct {
	home  string // the owner's
	owner *engine.Engine
	store string
	srv   *Server
	devs  map[string]*engine.Engine
	homes map[string]string
}

func newHome(t *testing.T, devices ...string) *testHome {
	t.Helper()
	dir := t.TempDir()
	h := &testHome{home: filepath.Join(dir, "alice"), devs: map[string]*engine.Engine{}, homes: map[string]string{}}
	id, err := homedir.Init(h.home, "alice")
	if err != nil {
		t.Fatal(err)
	}
	l, err := homedir.CreateNetwork(h.home, "home", "user", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devices {
		var key [32]byte
		copy(key[:], id.Seed.NodeKey(l.Network(), d).Public().(ed25519.PublicKey))
		if _, err := l.Append(id.Seed.UserKey(), ledger.Op{Kind: ledger.KindAddNode, Subject: id.ID(), Node: key, SubjectName: d}); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range devices {
		h.homes[d] = filepath.Join(dir, d)
		copyTree(t, h.home, h.homes[d])
	}
	h.owner = startNode(t, h.home, "")
	h.store = StoreDir(h.home)
	h.srv = &Server{Engine: h.owner, Store: h.store, Logf: t.Logf}
	if err := h.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.srv.Close() })
	for _, d := range devices {
		n := startNode(t, h.homes[d], d)
		n.Node().AddPeerAddrs([]peer.AddrInfo{{ID: h.owner.PeerID(), Addrs: h.owner.Node().Host().Addrs()}})
		h.devs[d] = n
	}
	for _, n := range h.devs {
		waitConnected(t, n, h.owner.PeerID())
		waitConnected(t, h.owner, n.PeerID())
	}
	return h
}

func startNode(t *testing.T, home, app string) *engine.Engine {
	t.Helper()
	n, err := engine.StartIn(context.Background(), home, "home", engine.Config{App: app, ListenHost: "127.0.0.1", Logf: t.Logf})
	if err != nil {
		t.Fatalf("start %s/%s: %v", home, app, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
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
}

func waitConnected(t *testing.T, n *engine.Engine, p peer.ID) {
	t.Helper()
	waitFor(t, "connection to "+p.ShortString(), func() bool {
		for _, q := range n.Node().ConnectedMembers() {
			if q == p {
				return true
			}
		}
		return false
	})
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 20s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSynced waits until n's ledger holds the record put by a.
func waitSynced(t *testing.T, n *engine.Engine, a Authorization) {
	t.Helper()
	waitFor(t, "authorization "+a.Key()+" on "+n.PeerID().ShortString(), func() bool {
		got, ok := Lookup(n.Ledger().State(), a.Key())
		return ok && got.Op == a.Op
	})
}

func writeImage(t *testing.T, size int) (string, []byte) {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	p := filepath.Join(t.TempDir(), "image.bin")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, b
}

func (h *testHome) authorize(t *testing.T, dev, image, version, model string) Authorization {
	t.Helper()
	a, err := Authorize(h.owner, h.store, Request{Device: dev, Image: image, Version: version, Model: model})
	if err != nil {
		t.Fatalf("Authorize(%s v%s): %v", dev, version, err)
	}
	return a
}

// recorder is an apply hook that keeps what it applied.
type recorder struct {
	mu      sync.Mutex
	applied map[string][]byte // version → image
}

func (r *recorder) apply(ctx context.Context, path string, a Authorization) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.applied == nil {
		r.applied = map[string][]byte{}
	}
	r.applied[a.Version] = b
	return nil
}

func (r *recorder) get(v string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applied[v]
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.applied)
}

func startUpdater(t *testing.T, n *engine.Engine, model, version string, rec *recorder) *Updater {
	t.Helper()
	u := &Updater{Engine: n, Dir: t.TempDir(), Model: model, Version: version, Apply: rec.apply, Logf: t.Logf, RetryDelay: 50 * time.Millisecond}
	if err := u.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// waitStatus waits until the updater is in state for target.
func waitStatus(t *testing.T, u *Updater, state, target string) Status {
	t.Helper()
	var s Status
	waitFor(t, "status "+state+" v"+target, func() bool {
		s = u.Status()
		return s.State == state && s.Target == target
	})
	return s
}

// TestGoodImageApplied: the owner authorizes an image for a device run as
// the daemon runs it (StartDevice: DirHook into <home>/firmware); the device
// fetches, verifies and applies it, and the owner reads its status.
func TestGoodImageApplied(t *testing.T) {
	h := newHome(t, "dev1")
	dev := h.devs["dev1"]
	u, err := StartDevice(dev, h.homes["dev1"], "", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	img, want := writeImage(t, 300<<10)
	a := h.authorize(t, "dev1", img, "1.1.0", "lock-a")
	if a.Device != dev.PeerID().String() || a.Size != int64(len(want)) || a.Source != h.owner.PeerID().String() {
		t.Fatalf("Authorize = %+v, want device %s, size %d, source %s", a, dev.PeerID(), len(want), h.owner.PeerID())
	}
	if _, err := os.Stat(filepath.Join(h.store, a.SHA256)); err != nil {
		t.Fatalf("image not kept in the owner's store: %v", err)
	}
	s := waitStatus(t, u, StateApplied, "1.1.0")
	if s.Version != "1.1.0" || s.Model != "lock-a" || s.String() != "applied v1.1.0" {
		t.Fatalf("Status = %+v (%q), want running 1.1.0 of lock-a", s, s)
	}
	got, err := os.ReadFile(filepath.Join(FirmwareDir(h.homes["dev1"]), "1.1.0.bin"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("installed image: %d bytes, %v; want the authorized %d bytes", len(got), err, len(want))
	}
	in, err := ReadInstalled(FirmwareDir(h.homes["dev1"]))
	if err != nil || in.Version != "1.1.0" || in.SHA256 != a.SHA256 {
		t.Fatalf("ReadInstalled = %+v, %v; want 1.1.0 %s", in, err, a.SHA256)
	}
	if left, _ := os.ReadDir(UpdaterDir(h.homes["dev1"])); len(left) != 0 {
		t.Fatalf("updater dir keeps %d files after applying, want none", len(left))
	}
	// The owner sees it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	all := CollectStatus(ctx, h.owner, nil)
	if len(all) != 1 || all[0].Device != dev.PeerID().String() || all[0].State != StateApplied || all[0].Version != "1.1.0" || all[0].Name != "dev1" {
		t.Fatalf("CollectStatus = %+v, want dev1 applied 1.1.0", all)
	}
	if l := List(h.owner.Ledger().State()); len(l) != 1 || l[0].Key() != a.Key() {
		t.Fatalf("List = %+v, want the one authorization", l)
	}
	// A restarted device knows what it runs and does nothing more.
	u.Close()
	u2, err := StartDevice(dev, h.homes["dev1"], "", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer u2.Close()
	if s := u2.Status(); s.Version != "1.1.0" || s.Model != "lock-a" {
		t.Fatalf("after restart: Status = %+v, want 1.1.0 lock-a", s)
	}
}

// TestRefused: wrong model, older version, tampered bytes and images
// authorized for another device or not at all are refused, and the device
// keeps its version; then a good image still goes in.
func TestRefused(t *testing.T) {
	h := newHome(t, "dev1", "dev2")
	dev := h.devs["dev1"]
	rec := &recorder{}
	u := startUpdater(t, dev, "lock-a", "1.0", rec)
	img, _ := writeImage(t, 64<<10)

	expectRefused := func(t *testing.T, a Authorization, reason string) {
		t.Helper()
		waitSynced(t, dev, a)
		s := waitStatus(t, u, StateFailed, a.Version)
		if !strings.Contains(s.Error, reason) || !strings.Contains(s.Error, "keeping v1.0") {
			t.Fatalf("Status.Error = %q, want it to say %q and keeping v1.0", s.Error, reason)
		}
		if s.Version != "1.0" || rec.count() != 0 {
			t.Fatalf("after refusal: running %s, %d images applied; want 1.0 and none", s.Version, rec.count())
		}
	}

	t.Run("nothing authorized for the node", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sum, _, _, err := storeImage(h.store, img)
		if err != nil {
			t.Fatal(err)
		}
		_, err = rawFetch(ctx, h.devs["dev2"], h.owner.PeerID(), sum, 0)
		if !errors.Is(err, stream.ErrNotAllowed) || !strings.Contains(err.Error(), "no firmware is authorized for your node") {
			t.Fatalf("fetch by a node with no authorization: %v, want not allowed", err)
		}
	})
	t.Run("wrong model", func(t *testing.T) {
		a := h.authorize(t, "dev1", img, "1.1", "bulb-b")
		expectRefused(t, a, `for model "bulb-b"`)
	})
	t.Run("older version", func(t *testing.T) {
		a := h.authorize(t, "dev1", img, "0.9", "lock-a")
		expectRefused(t, a, "older than the running v1.0")
	})
	t.Run("tampered", func(t *testing.T) {
		// The serving node's copy is altered on disk before it serves it.
		h.srv.Close()
		a := h.authorize(t, "dev1", img, "1.2", "lock-a")
		p := filepath.Join(h.store, a.SHA256)
		b, _ := os.ReadFile(p)
		b[len(b)/2] ^= 0xff
		os.WriteFile(p, b, 0o600)
		h.srv = &Server{Engine: h.owner, Store: h.store, Logf: t.Logf}
		if err := h.srv.Start(); err != nil {
			t.Fatal(err)
		}
		expectRefused(t, a, "SHA-256")
		if left, _ := filepath.Glob(filepath.Join(u.Dir, "*")); len(left) != 0 {
			t.Fatalf("tampered bytes kept in %v, want none", left)
		}
	})
	t.Run("for another device", func(t *testing.T) {
		img2, _ := writeImage(t, 1000)
		other := h.authorize(t, "dev2", img2, "2.0", "lock-a")
		waitSynced(t, dev, other)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// dev1's updater ignores it; asked to install it, dev1 refuses.
		err := u.Install(ctx, other)
		if !IsRefusal(err) || !strings.Contains(err.Error(), "authorized for dev2") {
			t.Fatalf("Install(dev2's image) = %v, want a refusal naming dev2", err)
		}
		// The server refuses dev1 the image of dev2.
		rep, err := rawFetch(ctx, dev, h.owner.PeerID(), other.SHA256, 0)
		if err != nil || !strings.Contains(rep.Error, "not authorized for your node") {
			t.Fatalf("dev1 fetching dev2's image: %+v, %v; want refused", rep, err)
		}
		if s := u.Status(); s.Version != "1.0" || rec.count() != 0 {
			t.Fatalf("running %s with %d applied, want 1.0 and none", s.Version, rec.count())
		}
	})
	t.Run("not in the ledger", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// An image in the owner's store that nobody authorized.
		img3, _ := writeImage(t, 2000)
		sum, size, _, err := storeImage(h.store, img3)
		if err != nil {
			t.Fatal(err)
		}
		forged := Authorization{V: 1, Device: dev.PeerID().String(), Version: "9.9", Size: size, SHA256: sum, Source: h.owner.PeerID().String()}
		if err := u.Install(ctx, forged); !IsRefusal(err) || !strings.Contains(err.Error(), "no authorization") {
			t.Fatalf("Install(forged) = %v, want refused: no authorization", err)
		}
		// Nor does the server send it.
		rep, err := rawFetch(ctx, dev, h.owner.PeerID(), sum, 0)
		if err != nil || !strings.Contains(rep.Error, "not authorized for your node") {
			t.Fatalf("fetching an unauthorized image: %+v, %v; want refused", rep, err)
		}
		if s := u.Status(); s.Version != "1.0" || rec.count() != 0 {
			t.Fatalf("running %s with %d applied, want 1.0 and none", s.Version, rec.count())
		}
	})
	t.Run("good after all", func(t *testing.T) {
		good, want := writeImage(t, 10<<10)
		a := h.authorize(t, "dev1", good, "1.3", "lock-a")
		waitSynced(t, dev, a)
		s := waitStatus(t, u, StateApplied, "1.3")
		if s.Version != "1.3" || !bytes.Equal(rec.get("1.3"), want) {
			t.Fatalf("running %s, applied %d bytes; want 1.3 and the image", s.Version, len(rec.get("1.3")))
		}
	})
}

// rawFetch asks src for an image the way an updater does and returns the
// server's answer.
func rawFetch(ctx context.Context, n *engine.Engine, src peer.ID, sum string, off int64) (fetchReply, error) {
	c, err := n.Streams().Dial(ctx, src, ServiceImage)
	if err != nil {
		return fetchReply{}, err
	}
	defer c.Close()
	if err := writeFrame(c, fetchRequest{SHA256: sum, Offset: off}); err != nil {
		return fetchReply{}, err
	}
	b, err := readFrame(bufio.NewReader(c))
	if err != nil {
		return fetchReply{}, err
	}
	return decodeReply(b)
}

// TestResume: the server cuts the first transfer; the device keeps the
// partial file and asks again from where it stopped, and the image it
// applies verifies.
func TestResume(t *testing.T) {
	h := newHome(t, "dev1")
	h.srv.Close()
	var mu sync.Mutex
	var served []Served
	h.srv = &Server{Engine: h.owner, Store: h.store, Logf: t.Logf,
		cut: func(n int) int64 {
			if n == 1 {
				return 100 << 10
			}
			return -1
		},
		OnServe: func(s Served) {
			mu.Lock()
			served = append(served, s)
			mu.Unlock()
		}}
	if err := h.srv.Start(); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	var smu sync.Mutex
	var statuses []Status
	u := &Updater{Engine: h.devs["dev1"], Dir: t.TempDir(), Version: "1.0", Apply: rec.apply, Logf: t.Logf, RetryDelay: 50 * time.Millisecond,
		OnStatus: func(s Status) {
			smu.Lock()
			statuses = append(statuses, s)
			smu.Unlock()
		}}
	if err := u.Start(); err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	img, want := writeImage(t, 512<<10)
	h.authorize(t, "dev1", img, "1.1", "")
	waitStatus(t, u, StateApplied, "1.1")
	if !bytes.Equal(rec.get("1.1"), want) {
		t.Fatal("applied bytes differ from the image")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(served) != 2 {
		t.Fatalf("served %d transfers (%+v), want 2", len(served), served)
	}
	if served[0].Offset != 0 || served[0].Sent != 100<<10 {
		t.Fatalf("first transfer = %+v, want offset 0, cut after %d bytes", served[0], 100<<10)
	}
	if served[1].Offset != 100<<10 || served[1].Sent != int64(len(want))-100<<10 {
		t.Fatalf("second transfer = %+v, want it to resume at %d and send the rest", served[1], 100<<10)
	}
	// The device said it was interrupted and retrying.
	smu.Lock()
	defer smu.Unlock()
	retried := false
	for _, s := range statuses {
		if s.State == StateDownloading && strings.Contains(s.String(), "retrying: download from") {
			retried = true
		}
	}
	if !retried {
		t.Fatalf("no status said the download was interrupted and retried: %+v", statuses)
	}
}

// TestOnlyOwnerAuthorizes: an admin's authorization is refused by the
// ledger with a reason, and firmware goes only to the owner's nodes.
func TestOnlyOwnerAuthorizes(t *testing.T) {
	h := newHome(t)
	bobHome := filepath.Join(t.TempDir(), "bob")
	if _, err := homedir.Init(bobHome, "bob"); err != nil {
		t.Fatal(err)
	}
	code, _, err := h.owner.Invite(engine.InviteOptions{Role: ledger.RoleAdmin, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, _, err := homedir.Join(ctx, bobHome, code, homedir.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	bob := startNode(t, bobHome, "")
	img, _ := writeImage(t, 1000)
	store := StoreDir(bobHome)
	// Bob names one of alice's nodes: the ledger refuses him.
	_, err = Authorize(bob, store, Request{Device: "coco", Image: img, Version: "1.0"})
	var rej *ledger.Rejection
	if !errors.As(err, &rej) || !strings.Contains(err.Error(), "admin bob cannot change ota records (the owner only)") || !strings.Contains(err.Error(), "ask alice") {
		t.Fatalf("Authorize by admin = %v, want the ledger's refusal", err)
	}
	if left, _ := os.ReadDir(store); len(left) != 0 {
		t.Fatalf("refused authorization left %d files in bob's store", len(left))
	}
	// Alice cannot send firmware to bob's node.
	_, err = Authorize(h.owner, h.store, Request{Device: bob.PeerID().String(), Image: img, Version: "1.0"})
	if err == nil || !strings.Contains(err.Error(), "belongs to bob") {
		t.Fatalf("Authorize for bob's node = %v, want refused", err)
	}
	// Nor to a device that does not exist; the error lists the devices.
	_, err = Authorize(h.owner, h.store, Request{Device: "toaster", Image: img, Version: "1.0"})
	if err == nil || !strings.Contains(err.Error(), `no device "toaster"`) || !strings.Contains(err.Error(), "coco") {
		t.Fatalf("Authorize for toaster = %v, want no such device", err)
	}
}

// TestWithdraw: the owner withdraws an authorization while the device cannot
// finish the download; the device stops, says so, keeps its version and
// drops the partial file.
func TestWithdraw(t *testing.T) {
	h := newHome(t, "dev1")
	h.srv.Close()
	h.srv = &Server{Engine: h.owner, Store: h.store, Logf: t.Logf, cut: func(int) int64 { return 64 << 10 }} // never finishes
	if err := h.srv.Start(); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	u := &Updater{Engine: h.devs["dev1"], Dir: t.TempDir(), Version: "1.0", Apply: rec.apply, Logf: t.Logf, RetryDelay: 50 * time.Millisecond}
	if err := u.Start(); err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	img, _ := writeImage(t, 512<<10)
	a := h.authorize(t, "dev1", img, "1.1", "")
	deadline := time.Now().Add(15 * time.Second)
	for {
		if parts, _ := filepath.Glob(filepath.Join(u.Dir, "*.part")); len(parts) > 0 && u.Status().State == StateDownloading {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no partial download: status %s", u.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := Withdraw(h.owner.Ledger(), h.owner.Node().UserKey(), "dev1", "1.1"); err != nil {
		t.Fatal(err)
	}
	for {
		s := u.Status()
		parts, _ := filepath.Glob(filepath.Join(u.Dir, "*.part"))
		if s.State == StateIdle && strings.Contains(s.String(), "v1.1 was withdrawn") && len(parts) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the withdrawal: status %q, partial files %v", s, parts)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rec.get("1.1") != nil {
		t.Fatal("a withdrawn image was applied")
	}
	if _, err := Withdraw(h.owner.Ledger(), h.owner.Node().UserKey(), "dev1", a.Version); err == nil {
		t.Fatal("withdrawing twice succeeded")
	}
}
