package node

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch/pb"
	"github.com/libp2p/go-msgio/pbio"
	ma "github.com/multiformats/go-multiaddr"
)

// Hole punching on loopback: plain libp2p hosts with the node's puncher,
// a circuit relay, and loopback addresses counted as public. The NAT lab
// (package lab) tests the same code behind real NAT routers.

type punchHost struct {
	h       host.Host
	p       *puncher
	public  atomic.Bool // whether its addresses count as public yet
	direct  atomic.Bool // whether direct connections are allowed (gater)
	strange atomic.Bool // whether the puncher takes every peer for a stranger
}

// relayOnlyGater refuses direct connections while its host's direct flag is off.
type relayOnlyGater struct{ ph *punchHost }

func (g relayOnlyGater) InterceptPeerDial(peer.ID) bool { return true }
func (g relayOnlyGater) InterceptAddrDial(_ peer.ID, a ma.Multiaddr) bool {
	return g.ph.direct.Load() || isRelayAddr(a)
}
func (g relayOnlyGater) InterceptAccept(c network.ConnMultiaddrs) bool {
	return g.ph.direct.Load() || isRelayAddr(c.RemoteMultiaddr())
}
func (g relayOnlyGater) InterceptSecured(_ network.Direction, _ peer.ID, c network.ConnMultiaddrs) bool {
	return g.ph.direct.Load() || isRelayAddr(c.RemoteMultiaddr())
}
func (g relayOnlyGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}

func newRelay(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	if _, err := relayv2.New(h); err != nil {
		t.Fatal(err)
	}
	return h
}

func newPunchHost(t *testing.T, relay host.Host, name string) *punchHost {
	t.Helper()
	ph := &punchHost{}
	ph.direct.Store(true)
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"),
		libp2p.EnableRelay(), libp2p.ConnectionGater(relayOnlyGater{ph}))
	if err != nil {
		t.Fatal(err)
	}
	ph.h = h
	ph.p = newPuncher(h, func(peer.ID) bool { return !ph.strange.Load() }, func(f string, a ...any) { t.Logf(name+": "+f, a...) })
	ph.p.addrOK = func(ma.Multiaddr) bool { return ph.public.Load() }
	t.Cleanup(func() { ph.p.close(); h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ri := peer.AddrInfo{ID: relay.ID(), Addrs: relay.Addrs()}
	if err := h.Connect(ctx, ri); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, h, ri); err != nil {
		t.Fatal(err)
	}
	return ph
}

// relayTo connects from to to through relay, as a node reaching a member
// through its control plane. Only to's relay address is known.
func relayTo(t *testing.T, relay host.Host, from, to *punchHost) {
	t.Helper()
	circuit := ma.StringCast("/p2p/" + relay.ID().String() + "/p2p-circuit")
	var addrs []ma.Multiaddr
	for _, a := range relay.Addrs() {
		addrs = append(addrs, a.Encapsulate(circuit))
	}
	ctx, cancel := context.WithTimeout(network.WithAllowLimitedConn(context.Background(), "test"), 10*time.Second)
	defer cancel()
	if err := from.h.Connect(ctx, peer.AddrInfo{ID: to.h.ID(), Addrs: addrs}); err != nil {
		t.Fatal(err)
	}
}

func waitCond(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(within); ; time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestPunchOnRelayedConnect: bob reaches alice through the relay; alice,
// who accepted the relayed connection, starts DCUtR at once and they get a
// direct connection with one exchange. Bob, who cannot start it, never
// does, however often his control loop asks.
func TestPunchOnRelayedConnect(t *testing.T) {
	relay := newRelay(t)
	alice, bob := newPunchHost(t, relay, "alice"), newPunchHost(t, relay, "bob")
	alice.public.Store(true)
	bob.public.Store(true)
	relayTo(t, relay, bob, alice)
	for range 5 {
		bob.p.punch(alice.h.ID()) // what bob's control loop does while relayed
	}
	waitCond(t, 10*time.Second, "a direct connection", func() bool { return direct(bob.h, alice.h.ID()) })
	if n := alice.p.initiated.Load(); n != 1 {
		t.Errorf("alice started %d exchanges, want 1", n)
	}
	if n := bob.p.initiated.Load(); n != 0 {
		t.Errorf("bob, who dialed through the relay, started %d exchanges, want none (the receiver refuses them)", n)
	}
}

// TestPunchWaitsForAddress: the receiver does not know its public address
// yet when the initiator's exchange arrives (its control plane has not
// answered): it waits for it instead of failing the exchange, which then
// succeeds the first time (go-libp2p's service answered "protocols not
// supported" and the next try came 10 s later).
func TestPunchWaitsForAddress(t *testing.T) {
	relay := newRelay(t)
	alice, bob := newPunchHost(t, relay, "alice"), newPunchHost(t, relay, "bob")
	alice.public.Store(true)
	relayTo(t, relay, bob, alice)
	waitCond(t, 5*time.Second, "alice's exchange", func() bool { return alice.p.initiated.Load() == 1 })
	time.Sleep(200 * time.Millisecond)
	if direct(bob.h, alice.h.ID()) {
		t.Fatal("direct before bob knew a public address")
	}
	bob.public.Store(true)
	bob.p.addrsChanged()
	waitCond(t, 10*time.Second, "a direct connection", func() bool { return direct(bob.h, alice.h.ID()) })
	if n := alice.p.initiated.Load(); n != 1 {
		t.Errorf("alice started %d exchanges, want 1", n)
	}
}

// TestPunchBackoff: where no direct path can form, the initiator's
// attempts back off (2 s doubling to 5 min) instead of repeating at a
// fixed pace, and a change of its public address retries at once.
func TestPunchBackoff(t *testing.T) {
	relay := newRelay(t)
	alice, bob := newPunchHost(t, relay, "alice"), newPunchHost(t, relay, "bob")
	alice.public.Store(true)
	bob.public.Store(true)
	alice.direct.Store(false)
	bob.direct.Store(false)
	var clock atomic.Int64 // seconds added to the real clock
	alice.p.now = func() time.Time { return time.Now().Add(time.Duration(clock.Load()) * time.Second) }
	relayTo(t, relay, bob, alice)
	attemptDone := func(fails int) func() bool {
		return func() bool {
			alice.p.mu.Lock()
			defer alice.p.mu.Unlock()
			st := alice.p.peers[bob.h.ID()]
			return st != nil && !st.active && st.fails == fails
		}
	}
	waitCond(t, 30*time.Second, "the first attempt to fail", attemptDone(1))
	n := alice.p.initiated.Load()
	if n != punchTries {
		t.Errorf("one attempt ran %d exchanges, want %d", n, punchTries)
	}
	alice.p.punch(bob.h.ID()) // too soon: nothing
	clock.Add(1)
	alice.p.punch(bob.h.ID())
	if got := alice.p.initiated.Load(); got != n {
		t.Fatalf("retried %d exchanges within the back-off", got-n)
	}
	clock.Add(2)
	alice.p.punch(bob.h.ID())
	waitCond(t, 30*time.Second, "the second attempt to fail", attemptDone(2))
	alice.p.mu.Lock()
	wait := alice.p.peers[bob.h.ID()].next.Sub(alice.p.now())
	alice.p.mu.Unlock()
	if wait < 3*time.Second || wait > 4*time.Second {
		t.Errorf("after two failures the next try is in %v, want 4 s", wait)
	}
	for i, want := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second} {
		if got := punchBackoff(i + 1); got != want {
			t.Errorf("punchBackoff(%d) = %v, want %v", i+1, got, want)
		}
	}
	if got := punchBackoff(100); got != punchRetryMax {
		t.Errorf("punchBackoff(100) = %v, want %v", got, punchRetryMax)
	}
	// A new public address: try again at once; now it works.
	alice.direct.Store(true)
	bob.direct.Store(true)
	alice.p.addrsChanged()
	alice.p.punch(bob.h.ID())
	waitCond(t, 10*time.Second, "a direct connection", func() bool { return direct(bob.h, alice.h.ID()) })
}

// TestPunchStrangerRefused: a peer that is not a member cannot use the
// receiver's side to make this node send packets to addresses it names.
func TestPunchStrangerRefused(t *testing.T) {
	relay := newRelay(t)
	node, stranger := newPunchHost(t, relay, "node"), newPunchHost(t, relay, "stranger")
	node.public.Store(true)
	stranger.public.Store(true)
	node.strange.Store(true)
	stranger.p.close() // the stranger runs the protocol by hand
	relayTo(t, relay, node, stranger)
	ctx, cancel := context.WithTimeout(network.WithAllowLimitedConn(context.Background(), "test"), 5*time.Second)
	defer cancel()
	s, err := stranger.h.NewStream(ctx, node.h.ID(), holepunch.Protocol)
	if err != nil {
		return // refused outright
	}
	defer s.Reset()
	s.SetDeadline(time.Now().Add(5 * time.Second))
	victim := ma.StringCast("/ip4/127.0.0.1/udp/9/quic-v1")
	w, r := pbio.NewDelimitedWriter(s), pbio.NewDelimitedReader(s, punchMaxMsg)
	w.WriteMsg(&pb.HolePunch{Type: pb.HolePunch_CONNECT.Enum(), ObsAddrs: [][]byte{victim.Bytes()}})
	var msg pb.HolePunch
	if err := r.ReadMsg(&msg); err == nil {
		t.Fatalf("the node answered a stranger's CONNECT with %v", msg.GetType())
	}
}

// TestPunchNudge: the side that dialed the relayed connection cannot start
// DCUtR; when the other side has not (here: it did not take bob for a
// member yet; after roaming: it holds a dead direct connection), bob
// nudges it once punchNudgeAfter has passed, and it punches. Nudges back
// off like attempts.
func TestPunchNudge(t *testing.T) {
	relay := newRelay(t)
	alice, bob := newPunchHost(t, relay, "alice"), newPunchHost(t, relay, "bob")
	alice.public.Store(true)
	bob.public.Store(true)
	alice.strange.Store(true) // alice does not punch on the relayed connection
	var clock atomic.Int64
	bob.p.now = func() time.Time { return time.Now().Add(time.Duration(clock.Load()) * time.Second) }
	relayTo(t, relay, bob, alice)
	bob.p.punch(alice.h.ID()) // too early: alice may still start by herself
	if n := bob.p.nudges.Load(); n != 0 {
		t.Fatalf("bob nudged %d times before punchNudgeAfter", n)
	}
	alice.strange.Store(false)
	clock.Add(int64(punchNudgeAfter/time.Second) + 1)
	bob.p.punch(alice.h.ID())
	waitCond(t, 10*time.Second, "a direct connection", func() bool { return direct(bob.h, alice.h.ID()) })
	if n := bob.p.nudges.Load(); n != 1 {
		t.Errorf("bob nudged %d times, want 1", n)
	}
	if n := alice.p.initiated.Load(); n != 1 {
		t.Errorf("alice started %d exchanges, want 1", n)
	}
	if n := bob.p.initiated.Load(); n != 0 {
		t.Errorf("bob started %d exchanges, want none", n)
	}
}
