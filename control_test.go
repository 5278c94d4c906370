package coconet

import (
	"context"
	"testing"
	"time"

	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/ledger"
)

// TestControlPlaneGone: with the control plane gone, members that are
// connected directly stay connected and keep talking.
func TestControlPlaneGone(t *testing.T) {
	srv, err := control.New(control.Config{
		Listen: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
		Dir:    t.TempDir(), Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctl := []string{srv.Addrs()[0].String()}

	alice, bob := newUser(t, "alice"), newUser(t, "bob")
	if _, err := CreateNetwork(alice.home, "home", "user", ""); err != nil {
		t.Fatal(err)
	}
	startWith := func(u *user) *Node {
		n := &Node{Home: u.home, Network: "home", ListenHost: "127.0.0.1", Control: ctl, Logf: t.Logf}
		if err := n.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	an := startWith(alice)
	code := makeInvite(t, an, ledger.RoleGuest, 1)
	bob.join(t, code)
	bn := startWith(bob)
	waitConnected(t, bn, "alice")
	send(t, bn, "alice", "before")
	expect(t, an, "bob", "before")

	srv.Close()
	time.Sleep(3 * time.Second) // the nodes notice and retry the control plane meanwhile
	for _, p := range bn.Peers(context.Background()) {
		if p.UserName == "alice" && (!p.Connected || p.Path != "direct") {
			t.Fatalf("after the control plane went away, bob sees alice as %+v, want connected directly", p)
		}
	}
	send(t, bn, "alice", "after")
	expect(t, an, "bob", "after")
	send(t, an, "bob", "still here")
	expect(t, bn, "alice", "still here")
}
