// Package nettest holds helpers shared by tests of packages built on a node.
//
// It holds the helpers that tests of the packages built on a node share: two members
// on loopback, and a goroutine leak check that knows which go-libp2p workers outlive a
// host by design.
package nettest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/homedir"

	"go.uber.org/goleak"

	"github.com/coconet/coconet/ledger"
)

// LeakOptions ignore the package-level workers of libp2p and quic-go.
func LeakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/transport/quicreuse.(*reuse).gc"),
		goleak.IgnoreTopFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/host/resource-manager.(*resourceManager).background"),
		goleak.IgnoreAnyFunction("github.com/quic-go/quic-go.(*Transport).listen"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/net/swarm.(*Swarm).dialWorkerLoop"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/host/basic.(*BasicHost).background"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/host/autorelay.(*AutoRelay).background"),
		goleak.IgnoreAnyFunction("net.(*netFD).Read"),
		goleak.IgnoreAnyFunction("internal/poll.runtime_pollWait"),
	}
}

// VerifyNoLeaks runs the package's tests and fails if goroutines leak.
func VerifyNoLeaks(m *testing.M) { goleak.VerifyTestMain(m, LeakOptions()...) }

// Pair starts alice (owner of network "home") and bob (a member with role)
// on loopback and waits until they are connected.
func Pair(t *testing.T, role ledger.Role) (alice, bob *engine.Engine) {
	t.Helper()
	dir := t.TempDir()
	ah, bh := filepath.Join(dir, "alice"), filepath.Join(dir, "bob")
	for _, u := range []struct{ home, name string }{{ah, "alice"}, {bh, "bob"}} {
		if _, err := homedir.Init(u.home, u.name); err != nil {
			t.Fatalf("Init(%s): %v", u.name, err)
		}
	}
	if _, err := homedir.CreateNetwork(ah, "home", "user", ""); err != nil {
		t.Fatal(err)
	}
	alice = Start(t, ah)
	code, _, err := alice.Invite(engine.InviteOptions{Role: role, Uses: 1, TTL: time.Hour})
	if err != nil {
		t.Fatalf("Invite: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, peers, err := homedir.Join(ctx, bh, code, homedir.JoinOptions{})
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	bob = Start(t, bh)
	bob.Node().AddPeerAddrs(peers)
	deadline := time.Now().Add(15 * time.Second)
	for !bob.Connected(alice.PeerID()) || !alice.Node().IsMember(bob.PeerID()) || !bob.Node().IsMember(alice.PeerID()) {
		if time.Now().After(deadline) {
			t.Fatal("bob not connected to alice after 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return alice, bob
}

// Start starts the engine of home in network "home" on loopback until the
// test ends.
func Start(t *testing.T, home string) *engine.Engine {
	t.Helper()
	e, err := engine.StartIn(context.Background(), home, "home", engine.Config{ListenHost: "127.0.0.1"})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}
