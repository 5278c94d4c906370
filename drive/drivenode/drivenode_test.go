package drivenode

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/coconet/coconet/drive"
	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/internal/enginetest"
	"github.com/coconet/coconet/internal/nettest"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

// The service, its listeners, sessions and loop stop on Close.
func TestMain(m *testing.M) { nettest.VerifyNoLeaks(m) }

func attach(t *testing.T, e *engine.Engine, every time.Duration) *Service {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "drives")
	s, err := engine.Attach(e, func(e *engine.Engine) (*Service, error) {
		return Start(e, dir, Options{Every: every, PeerTimeout: 10 * time.Second})
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAllowPeer: the drive's own rule, from this node's ledger: the
// owner's and admins' nodes sync; a guest, a device, a stranger and a
// removed admin do not.
func TestAllowPeer(t *testing.T) {
	n := enginetest.New(t, "alice")
	n.AddUser("bob", ledger.RoleAdmin)
	n.AddUser("dave", ledger.RoleGuest)
	dev := n.AddDevice("bulb")
	n.Stranger("eve")
	a := n.Start("alice", enginetest.Options{})
	s := attach(t, a, -1)
	for _, c := range []struct {
		who  string
		id   string
		want bool
	}{
		{"bob (admin)", n.NodeID("bob", node.DefaultApp).String(), true},
		{"dave (guest)", n.NodeID("dave", node.DefaultApp).String(), false},
		{"the owner's device", dev.String(), false},
		{"eve (stranger)", n.NodeID("eve", node.DefaultApp).String(), false},
		{"garbage", "not a peer", false},
	} {
		if got := s.allowPeer(drive.PeerID(c.id)); got != c.want {
			t.Errorf("allowPeer(%s) = %v, want %v", c.who, got, c.want)
		}
	}
	n.Remove("bob")
	if s.allowPeer(drive.PeerID(n.NodeID("bob", node.DefaultApp).String())) {
		t.Error("a removed admin is still allowed")
	}
}

// TestShareAndRemove: bob's node gets the drive's key from alice's and
// syncs her file; once removed, bob gets nothing written afterwards.
func TestShareAndRemove(t *testing.T) {
	n := enginetest.New(t, "alice")
	n.AddUser("bob", ledger.RoleAdmin)
	a := n.Start("alice", enginetest.Options{})
	b := n.Start("bob", enginetest.Options{})
	n.WaitConnected(a, b)
	sa, sb := attach(t, a, -1), attach(t, b, -1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if _, err := sb.Open(ctx, "docs"); !errors.Is(err, ErrNoDrive) {
		t.Fatalf("open of a drive nobody holds: %v, want ErrNoDrive", err)
	}
	if _, err := sa.Create("docs"); err != nil {
		t.Fatal(err)
	}
	if _, err := sa.Create("docs"); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	da, _ := sa.Member(ctx, "docs")
	if _, err := da.Drive.WriteFile("a.txt", []byte("from alice")); err != nil {
		t.Fatal(err)
	}
	db, err := sb.Member(ctx, "docs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Sync(ctx, "docs"); err != nil {
		t.Fatal(err)
	}
	if err := sb.Fetch(ctx, db, "a.txt"); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Drive.ReadFile("a.txt"); err != nil || string(got) != "from alice" {
		t.Fatalf("bob read %q, %v", got, err)
	}

	n.Remove("bob")
	if _, err := da.Drive.WriteFile("after.txt", []byte("not for bob")); err != nil {
		t.Fatal(err)
	}
	sb.Sync(ctx, "docs")
	if _, err := db.Drive.Stat("after.txt"); err == nil {
		t.Fatal("a removed member got a file written after the removal")
	}
	if _, err := askKey(ctx, b, a, da.Address); err == nil {
		t.Fatal("a removed member's node was handed the key")
	}
}

// askKey has from's node ask to's for the key of addr.
func askKey(ctx context.Context, from, to *engine.Engine, addr drive.Address) ([32]byte, error) {
	b, err := from.RPC().Request(ctx, to.PeerID(), KeyService, addr[:])
	if err != nil {
		return [32]byte{}, err
	}
	ks, err := decodeKeyring(b)
	if err != nil || len(ks) == 0 {
		return [32]byte{}, errors.New("no key")
	}
	return ks[0].Secret, nil
}

// TestLoopSyncs: with the loop on, bob's node learns alice's new file
// without being asked to sync.
func TestLoopSyncs(t *testing.T) {
	n := enginetest.New(t, "alice")
	n.AddUser("bob", ledger.RoleAdmin)
	a := n.Start("alice", enginetest.Options{})
	b := n.Start("bob", enginetest.Options{})
	n.WaitConnected(a, b)
	sa, sb := attach(t, a, 20*time.Millisecond), attach(t, b, 20*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := sa.Create("docs"); err != nil {
		t.Fatal(err)
	}
	db, err := sb.Member(ctx, "docs")
	if err != nil {
		t.Fatal(err)
	}
	da, _ := sa.Member(ctx, "docs")
	if _, err := da.Drive.WriteFile("a.txt", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for {
		db.Drive.Refresh()
		if _, err := db.Drive.Stat("a.txt"); err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatal("bob's node never synced the file")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBandwidthKept: a bad rate, schedule or zone is refused; a good one
// is kept across a restart.
func TestBandwidthKept(t *testing.T) {
	n := enginetest.New(t, "alice")
	a := n.Start("alice", enginetest.Options{})
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "drives")
	s, err := Start(a, dir, Options{Every: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create("docs"); err != nil {
		t.Fatal(err)
	}
	for _, b := range []Bandwidth{{Limit: "fast"}, {Schedule: "someday 19:00-07:00"}, {TZ: "Europe/Paris"}, {Schedule: "daily 19:00-07:00", TZ: "Mars/Base"}} {
		if _, err := s.SetBandwidth(ctx, "docs", b); err == nil {
			t.Errorf("SetBandwidth(%+v) accepted", b)
		}
	}
	good := Bandwidth{Limit: "2MB/s", Schedule: "mon-fri 19:00-07:00", TZ: "Europe/Paris"}
	if _, err := s.SetBandwidth(ctx, "docs", good); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Start(a, dir, Options{Every: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.GetBandwidth(ctx, "docs"); err != nil || got != good {
		t.Fatalf("after a restart: %+v, %v; want %+v", got, err, good)
	}
}

// TestStrangerRefused: a node with throwaway keys, not in the ledger, gets
// neither the key nor the logs of alice's drive.
func TestStrangerRefused(t *testing.T) {
	n := enginetest.New(t, "alice")
	n.Stranger("eve")
	a := n.Start("alice", enginetest.Options{})
	ev := n.Start("eve", enginetest.Options{})
	sa, se := attach(t, a, -1), attach(t, ev, -1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	da, err := sa.Create("docs")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := sa.Member(ctx, "docs")
	d.Drive.WriteFile("a.txt", []byte("x"))
	if _, err := askKey(ctx, ev, a, da.Address); err == nil {
		t.Fatal("a stranger was handed the key")
	}
	if _, err := se.Replicate("docs"); err != nil {
		t.Fatal(err)
	}
	r, _ := se.Open(ctx, "docs")
	if _, err := r.Replica.Sync(ctx, dialer{ev, r.service}, drive.PeerID(a.PeerID().String())); err == nil {
		t.Fatal("a stranger synced alice's drive")
	}
	if h := r.Store.Heads(); len(h) != 0 {
		t.Fatalf("the stranger holds %d logs", len(h))
	}
}
