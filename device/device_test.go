package device

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/internal/nettest"
	"github.com/coconet/coconet/ledger"
)

func TestMain(m *testing.M) { nettest.VerifyNoLeaks(m) }

// newDevice makes a device home and its claimer on loopback.
func newDevice(t *testing.T, name string) (home string, c *Claimer) {
	t.Helper()
	home = filepath.Join(t.TempDir(), name)
	if _, err := homedir.Init(home, name); err != nil {
		t.Fatal(err)
	}
	c, err := NewClaimer(ClaimerConfig{Home: home, Name: name, Model: "test-lock", ListenHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return home, c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClaimAndRemove is the owner's story: a device shows a code, the owner
// adds it, it joins the network as a device (a guest's rights, never the
// owner's), and removing it cuts it off.
func TestClaimAndRemove(t *testing.T) {
	alice, bob := nettest.Pair(t, ledger.RoleAdmin)
	home, c := newDevice(t, "Front door")
	code := c.Code()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := Add(ctx, bob, code); err == nil || !strings.Contains(err.Error(), "only the owner") {
		t.Fatalf("admin Add: err = %v, want only the owner", err)
	}
	info, err := Add(ctx, alice, code)
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	if info.Name != "Front door" || info.Node != c.PeerID().String() || info.Model != "test-lock" {
		t.Errorf("Add = %+v", info)
	}
	cl, err := c.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cl.Network != alice.NetworkID() || cl.Name != "home" || cl.Owner != "alice" {
		t.Errorf("Claimed = %+v", cl)
	}
	c.Close()
	// Claimed once: the code is spent.
	if _, err := Add(ctx, alice, code); err == nil {
		t.Errorf("Add with a used code: err = nil")
	}

	dev, err := engine.StartIn(ctx, home, cl.Network.String(), engine.Config{ListenHost: "127.0.0.1", Device: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if dev.PeerID() != c.PeerID() {
		t.Fatalf("device node %s, claim host %s: want the same key", dev.PeerID(), c.PeerID())
	}
	waitFor(t, "the device connected to alice", func() bool {
		return alice.Node().IsMember(dev.PeerID()) && len(alice.Node().Host().Network().ConnsToPeer(dev.PeerID())) > 0
	})
	// Bob was never told where the device is: alice's node tells the device
	// where bob is (member address exchange), and they connect.
	waitFor(t, "the device and bob to find each other", func() bool {
		return len(bob.Node().Host().Network().ConnsToPeer(dev.PeerID())) > 0
	})
	// A message to alice goes to alice, never to her device; the device is
	// reached by its own name.
	msgs, stop := alice.Messages()
	defer stop()
	if err := bob.Send(ctx, "alice", []byte("hi")); err != nil {
		t.Fatalf("Send to alice: %v", err)
	}
	select {
	case m := <-msgs:
		if string(m.Data) != "hi" {
			t.Fatalf("alice got %q", m.Data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a message to alice did not reach alice's node (it went to her device?)")
	}
	devMsgs, stopDev := dev.Messages()
	defer stopDev()
	if err := bob.Send(ctx, "front door", []byte("knock")); err != nil {
		t.Fatalf("Send to the device by name: %v", err)
	}
	select {
	case m := <-devMsgs:
		if string(m.Data) != "knock" {
			t.Fatalf("device got %q", m.Data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a message to the device did not reach it")
	}
	s, ok := alice.Node().SenderOf(dev.PeerID())
	if !ok || !s.Device || s.Role != ledger.RoleGuest || s.Name != "Front door" {
		t.Errorf("SenderOf(device) = %+v, %v; want a device with a guest's role", s, ok)
	}
	if got := List(bob.Ledger().State()); len(got) != 1 || got[0].Name != "Front door" {
		waitFor(t, "bob sees the device", func() bool { return len(List(bob.Ledger().State())) == 1 })
	}

	if _, err := Remove(bob, "front door"); err == nil {
		t.Errorf("admin Remove: err = nil, want only the owner")
	}
	if _, err := Remove(alice, "front door"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	waitFor(t, "alice to drop the device", func() bool {
		return len(alice.Node().Host().Network().ConnsToPeer(dev.PeerID())) == 0
	})
	if got := List(alice.Ledger().State()); len(got) != 0 {
		t.Errorf("List after Remove = %+v", got)
	}
}

// TestClaimRefusals: bad codes, wrong secrets (the code stays the same),
// an unreachable device (nothing stays in the ledger).
func TestClaimRefusals(t *testing.T) {
	for _, bad := range []string{"", "hello", "coco1abcdef", Prefix + "zzzz", Prefix} {
		if _, err := ParseCode(bad); !errors.Is(err, ErrBadCode) {
			t.Errorf("ParseCode(%q): err = %v, want ErrBadCode", bad, err)
		}
	}
	alice, _ := nettest.Pair(t, ledger.RoleGuest)
	_, c := newDevice(t, "Lamp")
	good, _ := ParseCode(c.Code())
	tampered := strings.Replace(c.Code(), "a", "b", 1)
	if _, err := ParseCode(tampered); err == nil && tampered != c.Code() {
		t.Errorf("ParseCode(tampered): err = nil")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wrong := *good
	wrong.Secret[0] ^= 1
	before := len(alice.Ledger().Ops())
	for i := range 3 {
		_, err := Add(ctx, alice, wrong.String())
		if err == nil || !strings.Contains(err.Error(), "wrong claim code") {
			t.Fatalf("Add with a wrong secret (%d): err = %v", i, err)
		}
	}
	st := alice.Ledger().State()
	if len(List(st)) != 0 || st.IsMemberNode(good.Key) {
		t.Fatalf("a refused claim left the device in the ledger")
	}
	if after := len(alice.Ledger().Ops()); after != before+4*3 {
		t.Logf("ops: %d before, %d after", before, after)
	}
	// Wrong tries do not change the code: the one shown first still works.
	if _, err := Add(ctx, alice, good.String()); err != nil {
		t.Fatalf("Add with the code after wrong tries: %v", err)
	}

	// A device that is not there.
	_, gone := newDevice(t, "Gone")
	code := gone.Code()
	gone.Close()
	old := ClaimTimeout
	ClaimTimeout = 3 * time.Second
	defer func() { ClaimTimeout = old }()
	if _, err := Add(ctx, alice, code); err == nil || !strings.Contains(err.Error(), "cannot reach the device") {
		t.Fatalf("Add of an unreachable device: err = %v", err)
	}
	if d, err := Find(alice.Ledger().State(), "Gone"); err == nil {
		t.Fatalf("unreachable device left in the ledger: %+v", d)
	}
}

func FuzzParseCode(f *testing.F) {
	c := &Code{Key: [32]byte{1}, Name: "x", Addrs: [][]byte{}}
	f.Add(c.String())
	f.Add(Prefix + "aaaa")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCode(s)
		if err != nil {
			return
		}
		if _, err := ParseCode(c.String()); err != nil {
			t.Fatalf("re-encoded code does not parse: %v", err)
		}
	})
}

// TestClaimHostStranger: a stranger who reaches the claim host can make it
// read one small frame, no more; a huge announced frame or junk is refused
// and the device can still be claimed.
func TestClaimHostStranger(t *testing.T) {
	_, c := newDevice(t, "Lamp")
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Connect(ctx, peer.AddrInfo{ID: c.PeerID(), Addrs: c.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	for _, junk := range [][]byte{
		{0x40, 0, 0, 0},          // announces a 1 GiB frame
		{0, 0, 1, 0},             // 256 bytes: at the limit, but not CBOR
		{0, 0, 0, 3, 0xff, 1, 2}, // junk
	} {
		s, err := h.NewStream(ctx, c.PeerID(), Protocol)
		if err != nil {
			t.Fatal(err)
		}
		s.Write(junk)
		s.CloseWrite()
		var rep claimReply
		if err := readFrame(s, &rep, maxReplyFrame); err == nil && rep.OK {
			t.Fatalf("junk %x: the device answered OK", junk)
		}
		s.Close()
	}
	alice, _ := nettest.Pair(t, ledger.RoleGuest)
	if _, err := Add(ctx, alice, c.Code()); err != nil {
		t.Fatalf("Add after the stranger's tries: %v", err)
	}
}

// TestRemovedWhileOffline: a device removed while it was off learns it when
// it comes back: the owner's node lets it in only to push it the ledger.
func TestRemovedWhileOffline(t *testing.T) {
	alice, _ := nettest.Pair(t, ledger.RoleGuest)
	home, c := newDevice(t, "Garage")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := Add(ctx, alice, c.Code()); err != nil {
		t.Fatal(err)
	}
	cl, err := c.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	start := func() *engine.Engine {
		dev, err := engine.StartIn(ctx, home, cl.Network.String(), engine.Config{ListenHost: "127.0.0.1", Device: true})
		if err != nil {
			t.Fatal(err)
		}
		return dev
	}
	dev := start()
	waitFor(t, "the device to connect", func() bool {
		return len(alice.Node().Host().Network().ConnsToPeer(dev.PeerID())) > 0
	})
	pid := dev.PeerID()
	dev.Close()
	waitFor(t, "alice to see the device gone", func() bool {
		return len(alice.Node().Host().Network().ConnsToPeer(pid)) == 0
	})
	if _, err := Remove(alice, "Garage"); err != nil {
		t.Fatal(err)
	}
	dev = start() // its ledger still lists it
	defer dev.Close()
	key := dev.Node().NodeKey()
	if !dev.Ledger().State().IsMemberNode(key) {
		t.Fatal("the device's own ledger already knew of its removal")
	}
	waitFor(t, "the device to learn it was removed", func() bool {
		return !dev.Ledger().State().IsMemberNode(key)
	})
	waitFor(t, "alice to close the connection", func() bool {
		return len(alice.Node().Host().Network().ConnsToPeer(dev.PeerID())) == 0
	})
	// Still nothing but that: its streams are refused.
	if _, err := dev.Node().Host().NewStream(ctx, alice.PeerID(), "/coco/msg/1.0.0"); err == nil {
		t.Error("a removed device opened a message stream to alice")
	}
}
