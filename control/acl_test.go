package control

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	ma "github.com/multiformats/go-multiaddr"
	protobuf "google.golang.org/protobuf/proto"

	"github.com/coconet/coconet/identity"
)

func randomPeer(t *testing.T) peer.ID {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := crypto.UnmarshalEd25519PrivateKey(priv)
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestJoinRules: the relay's rules for peers without a proof, decided
// without a network: a join circuit only to a proof holder, one
// destination per allowance, none once the destination's network is over
// its plan, and never a reservation.
func TestJoinRules(t *testing.T) {
	plans := DefaultPlans()
	s, err := New(Config{Plans: plans, Relay: RelayLimits{JoinData: 1000, JoinDuration: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var netA, netB [32]byte
	netA[0], netB[0] = 1, 2
	var owner identity.UserID
	until := time.Now().Add(time.Hour)
	memberA, memberA2, memberB := randomPeer(t), randomPeer(t), randomPeer(t)
	s.holders[memberA] = &holder{key: netA, until: until}
	s.holders[memberA2] = &holder{key: netA, until: until}
	s.holders[memberB] = &holder{key: netB, until: until}
	s.nets[netA] = &netState{owner: owner}
	s.nets[netB] = &netState{owner: owner}
	a := acl{s}

	stranger, other := randomPeer(t), randomPeer(t)
	if a.AllowReserve(stranger, nil) {
		t.Errorf("AllowReserve(stranger) = true, want false")
	}
	if !a.AllowConnect(stranger, nil, memberA) {
		t.Errorf("AllowConnect(stranger → member) = false, want a join circuit")
	}
	if !a.AllowConnect(stranger, nil, memberA) {
		t.Errorf("AllowConnect(stranger → same member again) = false, want true within the allowance")
	}
	if a.AllowConnect(stranger, nil, memberA2) {
		t.Errorf("AllowConnect(stranger → a second member) = true, want one destination per allowance")
	}
	if a.AllowConnect(other, nil, other) || a.AllowConnect(other, nil, randomPeer(t)) {
		t.Errorf("AllowConnect(stranger → peer without a proof) = true, want false")
	}
	if a.AllowConnect(memberA, nil, memberB) {
		t.Errorf("AllowConnect(member of A → member of B) = true, want false")
	}
	g := s.joinOf(stranger)
	if g == nil || !g.use(999) || g.use(2) {
		t.Errorf("join allowance of 1000 bytes: use(999), use(2) did not stop at the cap")
	}
	if !g.isDone() {
		g.cut()
	}
	if a.AllowConnect(stranger, nil, memberA) {
		t.Errorf("AllowConnect(stranger) after its allowance was spent = true, want false until it ends")
	}
	// Over its plan, a network gets no join circuits.
	_, plan := plans.For(owner)
	s.meter.get(netB, s.cfg.Now()).Relay.Add(plan.Bytes)
	if a.AllowConnect(other, nil, memberB) {
		t.Errorf("AllowConnect(stranger → member of a network over its plan) = true, want false")
	}
	if !a.AllowConnect(other, nil, memberA) {
		t.Errorf("AllowConnect(another stranger → member of a network within its plan) = false, want true")
	}
}

// TestJoinDuration: a join allowance ends by itself after JoinDuration.
func TestJoinDuration(t *testing.T) {
	s, err := New(Config{Relay: RelayLimits{JoinDuration: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	member, stranger := randomPeer(t), randomPeer(t)
	s.holders[member] = &holder{until: time.Now().Add(time.Hour)}
	if !(acl{s}).AllowConnect(stranger, nil, member) {
		t.Fatal("AllowConnect(stranger → member) = false, want a join circuit")
	}
	g := s.joinOf(stranger)
	for deadline := time.Now().Add(10 * time.Second); !g.isDone(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("join allowance still open 10 s after its 50 ms duration")
		}
	}
	if (acl{s}).AllowConnect(stranger, nil, member) {
		t.Errorf("AllowConnect(stranger) right after its allowance ended = true, want false")
	}
}

// TestJoinsPerIP: throwaway keys from one address cannot open join
// allowances without bound; another address is not affected.
func TestJoinsPerIP(t *testing.T) {
	s, err := New(Config{Plans: DefaultPlans(), Relay: RelayLimits{JoinsPerIP: 3, JoinDuration: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var net [32]byte
	member := randomPeer(t)
	s.holders[member] = &holder{key: net, until: time.Now().Add(time.Hour)}
	s.nets[net] = &netState{}
	a := acl{s}
	from := ma.StringCast("/ip4/11.0.0.9/udp/4001/quic-v1")
	for i := 0; i < 3; i++ {
		if !a.AllowConnect(randomPeer(t), from, member) {
			t.Fatalf("join %d from one IP refused, want allowed up to 3", i+1)
		}
	}
	if a.AllowConnect(randomPeer(t), from, member) {
		t.Fatal("a 4th throwaway key from the same IP got a join allowance, want refused")
	}
	if !a.AllowConnect(randomPeer(t), ma.StringCast("/ip4/11.0.0.10/tcp/4001"), member) {
		t.Fatal("another IP was refused a join allowance")
	}
}

// TestJoinsPerDest: strangers from many addresses cannot open join
// allowances to one destination without bound (a budget of its own,
// outside the plan); another destination is not affected.
func TestJoinsPerDest(t *testing.T) {
	s, err := New(Config{Plans: DefaultPlans(), Relay: RelayLimits{JoinsPerDest: 3, JoinDuration: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var net [32]byte
	dest, other := randomPeer(t), randomPeer(t)
	s.holders[dest] = &holder{key: net, until: time.Now().Add(time.Hour)}
	s.holders[other] = &holder{key: net, until: time.Now().Add(time.Hour)}
	s.nets[net] = &netState{}
	a := acl{s}
	for i := 0; i < 3; i++ {
		from := ma.StringCast(fmt.Sprintf("/ip4/11.0.%d.9/tcp/4001", i))
		if !a.AllowConnect(randomPeer(t), from, dest) {
			t.Fatalf("join %d to one destination refused, want allowed up to 3", i+1)
		}
	}
	if a.AllowConnect(randomPeer(t), ma.StringCast("/ip4/11.0.9.9/tcp/4001"), dest) {
		t.Fatal("a 4th join allowance to the same destination (from a new address) was granted, want refused")
	}
	if !a.AllowConnect(randomPeer(t), ma.StringCast("/ip4/11.0.9.9/tcp/4001"), other) {
		t.Fatal("another destination was refused a join allowance")
	}
	if _, plan := s.plans.For(identity.UserID{}); s.meter.peek(net, time.Now()).bytes() != 0 || plan.Bytes == 0 {
		t.Fatal("join allowances counted against the network's plan")
	}
}

// TestJoinDestBytes: the join circuits to one destination share a byte
// budget; past it, every one is cut.
func TestJoinDestBytes(t *testing.T) {
	s, err := New(Config{Relay: RelayLimits{JoinData: 1000, JoinDestData: 1500, JoinDuration: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dest := randomPeer(t)
	s.holders[dest] = &holder{until: time.Now().Add(time.Hour)}
	a := acl{s}
	p1, p2 := randomPeer(t), randomPeer(t)
	if !a.AllowConnect(p1, ma.StringCast("/ip4/11.0.0.1/tcp/1"), dest) || !a.AllowConnect(p2, ma.StringCast("/ip4/11.0.0.2/tcp/1"), dest) {
		t.Fatal("join allowances refused")
	}
	if !s.joinOf(p1).use(900) {
		t.Fatal("use(900) of a 1000-byte allowance refused")
	}
	if s.joinOf(p2).use(900) {
		t.Fatal("use(900) past the destination's 1500-byte join budget allowed")
	}
}

// TestJoinsPerIPv6Subnet: addresses of one IPv6 /64 share the per-source
// join limit; another /64 does not.
func TestJoinsPerIPv6Subnet(t *testing.T) {
	s, err := New(Config{Plans: DefaultPlans(), Relay: RelayLimits{JoinsPerIP: 2, JoinDuration: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var net [32]byte
	dest := randomPeer(t)
	s.holders[dest] = &holder{key: net, until: time.Now().Add(time.Hour)}
	s.nets[net] = &netState{}
	a := acl{s}
	for i, addr := range []string{"/ip6/2001:db8:1:2::1/tcp/1", "/ip6/2001:db8:1:2:ffff::9/udp/1/quic-v1"} {
		if !a.AllowConnect(randomPeer(t), ma.StringCast(addr), dest) {
			t.Fatalf("join %d from one /64 refused, want allowed up to 2", i+1)
		}
	}
	if a.AllowConnect(randomPeer(t), ma.StringCast("/ip6/2001:db8:1:2:abcd::1/tcp/1"), dest) {
		t.Fatal("a 3rd join allowance from the same IPv6 /64 was granted, want refused")
	}
	if !a.AllowConnect(randomPeer(t), ma.StringCast("/ip6/2001:db8:1:3::1/tcp/1"), dest) {
		t.Fatal("another /64 was refused a join allowance")
	}
}

func FuzzStopSource(f *testing.F) {
	id := randomPeer(&testing.T{})
	msg := &pbv2.StopMessage{Type: pbv2.StopMessage_CONNECT.Enum(), Peer: &pbv2.Peer{Id: []byte(id)}}
	b, _ := protobuf.Marshal(msg)
	f.Add(append(binary.AppendUvarint(nil, uint64(len(b))), b...))
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		stopSource(b)
	})
}

func TestStopSource(t *testing.T) {
	id := randomPeer(t)
	msg := &pbv2.StopMessage{Type: pbv2.StopMessage_CONNECT.Enum(), Peer: &pbv2.Peer{Id: []byte(id)}}
	b, _ := protobuf.Marshal(msg)
	full := append(binary.AppendUvarint(nil, uint64(len(b))), b...)
	if got, err := stopSource(full); err != nil || got != id {
		t.Fatalf("stopSource(message) = %v, %v; want %v", got, err, id)
	}
	if _, err := stopSource(full[:len(full)-1]); err != errShort {
		t.Fatalf("stopSource(part of a message) = %v, want errShort", err)
	}
}

// fakeStream is a stream from peer p whose reads return queued chunks.
type fakeStream struct {
	network.Stream
	conn   fakeConn
	reads  [][]byte
	wrote  int
	resets int
}

type fakeConn struct {
	network.Conn
	p peer.ID
}

func (c fakeConn) RemotePeer() peer.ID { return c.p }

func (f *fakeStream) Conn() network.Conn { return f.conn }
func (f *fakeStream) Read(b []byte) (int, error) {
	if len(f.reads) == 0 {
		return 0, io.EOF
	}
	n := copy(b, f.reads[0])
	f.reads = f.reads[1:]
	return n, nil
}
func (f *fakeStream) Write(b []byte) (int, error) { f.wrote += len(b); return len(b), nil }
func (f *fakeStream) Reset() error                { f.resets++; return nil }

// TestJoinCountsAfterAccept: on a stranger's hop stream, the bytes before
// the relay's answer (its request, and whatever it sends while the
// destination has not accepted) do not count against its allowance; the
// bytes after it do, both ways, and nothing counts against the plan.
func TestJoinCountsAfterAccept(t *testing.T) {
	s, err := New(Config{Relay: RelayLimits{JoinData: 1000, JoinDuration: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var net [32]byte
	dest, src := randomPeer(t), randomPeer(t)
	s.holders[dest] = &holder{key: net, until: time.Now().Add(time.Hour)}
	s.nets[net] = &netState{}
	f := &fakeStream{conn: fakeConn{p: src}, reads: [][]byte{make([]byte, 900), make([]byte, 300)}}
	m := &meteredStream{Stream: f, s: s}
	// The allowance exists already (a first circuit); this is a second
	// circuit's hop stream.
	if !(acl{s}).AllowConnect(src, nil, dest) {
		t.Fatal("join circuit refused")
	}
	buf := make([]byte, 1024)
	if _, err := m.Read(buf); err != nil { // its request, before the destination accepted
		t.Fatal(err)
	}
	if _, err := m.Write(make([]byte, 20)); err != nil { // the relay's answer
		t.Fatal(err)
	}
	g := s.joinOf(src)
	if g == nil || g.used.Load() != 0 {
		t.Fatalf("join allowance used %d bytes before the destination accepted, want 0", g.used.Load())
	}
	if _, err := m.Read(buf); err != nil {
		t.Fatalf("Read(300 bytes after the answer) = %v", err)
	}
	if _, err := m.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if got := g.used.Load(); got != 400 {
		t.Fatalf("join allowance used %d bytes, want 400 (300 read + 100 written after the answer)", got)
	}
	if s.meter.peek(net, time.Now()).bytes() != 0 {
		t.Fatal("join bytes counted against the destination network's plan")
	}
}

// TestJoinStopStreamNotInPlan: the relay's stream to the destination of a
// join circuit (what the member sends back to the stranger) counts against
// neither the plan nor, twice, the allowance; a circuit between members
// still counts against the plan.
func TestJoinStopStreamNotInPlan(t *testing.T) {
	s, err := New(Config{Relay: RelayLimits{JoinDuration: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var net [32]byte
	dest, stranger, mate := randomPeer(t), randomPeer(t), randomPeer(t)
	s.holders[dest] = &holder{key: net, until: time.Now().Add(time.Hour)}
	s.holders[mate] = &holder{key: net, until: time.Now().Add(time.Hour)}
	s.nets[net] = &netState{}
	if !(acl{s}).AllowConnect(stranger, nil, dest) {
		t.Fatal("join circuit refused")
	}
	stop := func(src peer.ID) int64 {
		f := &fakeStream{conn: fakeConn{p: dest}, reads: [][]byte{make([]byte, 1000)}}
		m := &meteredStream{Stream: f, s: s, stop: true}
		b, _ := protobuf.Marshal(&pbv2.StopMessage{Type: pbv2.StopMessage_CONNECT.Enum(), Peer: &pbv2.Peer{Id: []byte(src)}})
		msg := append(binary.AppendUvarint(nil, uint64(len(b))), b...)
		m.Write(msg[:1]) // the relay may write the length and the message apart
		m.Write(msg[1:])
		before := s.meter.peek(net, time.Now()).bytes()
		m.Read(make([]byte, 1024))
		return s.meter.peek(net, time.Now()).bytes() - before
	}
	if n := stop(stranger); n != 0 {
		t.Errorf("the destination's %d bytes back to a stranger counted against the plan, want 0", n)
	}
	if n := stop(mate); n != 1000 {
		t.Errorf("the destination's 1000 bytes back to a member counted %d against the plan, want 1000", n)
	}
}

// TestJoinPromoted: a join circuit whose source registers with a proof of
// the destination's network becomes a members' circuit (issue 15, item 3):
// past its byte cap it goes on, counted against the plan, and its end does
// not cut it; its stop stream counts too. A source that registers in
// ANOTHER network is still cut at the cap, after the short wait for
// promotion.
func TestJoinPromoted(t *testing.T) {
	defer func(d time.Duration) { joinPromoteWait = d }(joinPromoteWait)
	joinPromoteWait = 200 * time.Millisecond
	s, err := New(Config{Relay: RelayLimits{JoinData: 1000, JoinDuration: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var netA, netB [32]byte
	netA[0], netB[0] = 1, 2
	until := time.Now().Add(time.Hour)
	dest, src, other := randomPeer(t), randomPeer(t), randomPeer(t)
	s.holders[dest] = &holder{key: netA, until: until}
	s.nets[netA] = &netState{}
	s.nets[netB] = &netState{}
	hop := func(p peer.ID) (*fakeStream, *meteredStream) {
		if !(acl{s}).AllowConnect(p, nil, dest) {
			t.Fatalf("join circuit from %s refused", p.ShortString())
		}
		f := &fakeStream{conn: fakeConn{p: p}, reads: [][]byte{make([]byte, 10), make([]byte, 900), make([]byte, 900)}}
		m := &meteredStream{Stream: f, s: s}
		m.Read(make([]byte, 1024)) // the request
		m.Write(make([]byte, 20))  // the relay's answer
		m.Read(make([]byte, 1024)) // 900 bytes: within the cap
		return f, m
	}

	f, m := hop(src)
	s.mu.Lock()
	s.holders[src] = &holder{key: netA, until: until} // src got its certificate and registered
	s.mu.Unlock()
	before := s.meter.peek(netA, time.Now()).bytes()
	if _, err := m.Read(make([]byte, 1024)); err != nil {
		t.Fatalf("Read past the cap after the source registered = %v, want the circuit to go on", err)
	}
	if got := s.meter.peek(netA, time.Now()).bytes() - before; got != 900 {
		t.Errorf("bytes past promotion counted %d against the plan, want 900", got)
	}
	stopF := &fakeStream{conn: fakeConn{p: dest}, reads: [][]byte{make([]byte, 500)}}
	stop := &meteredStream{Stream: stopF, s: s, stop: true, skip: true, decided: true, skipped: s.joinOf(src)}
	before = s.meter.peek(netA, time.Now()).bytes()
	stop.Read(make([]byte, 1024))
	if got := s.meter.peek(netA, time.Now()).bytes() - before; got != 500 {
		t.Errorf("the destination's bytes back to a promoted source counted %d, want 500", got)
	}
	time.Sleep(300 * time.Millisecond) // past the allowance's end
	if f.resets != 0 {
		t.Errorf("a promoted join circuit was reset %d times at the allowance's end, want 0", f.resets)
	}

	// A member of network B holds no key to A's plan through a join circuit.
	f2, m2 := hop(other)
	s.mu.Lock()
	s.holders[other] = &holder{key: netB, until: until}
	s.mu.Unlock()
	if _, err := m2.Read(make([]byte, 1024)); err == nil {
		t.Errorf("Read past the cap by a member of another network = nil, want the join circuit cut")
	}
	if f2.resets == 0 {
		t.Errorf("the join circuit of a member of another network was not reset")
	}
}
