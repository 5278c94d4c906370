package control

import (
	"crypto/ed25519"
	"crypto/rand"
	ma "github.com/multiformats/go-multiaddr"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

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
