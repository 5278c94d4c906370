package device

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/internal/nettest"
	"github.com/coconet/coconet/ledger"
)

// strangerHost is a libp2p host with a throwaway key on ip (a 127.0.0.x
// address models another machine on the LAN: it dials from there).
func strangerHost(t *testing.T, ip string) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/" + ip + "/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// tryClaim sends one claim proof made with a secret of its own from h to
// c, and returns the device's answer.
func tryClaim(ctx context.Context, t *testing.T, h host.Host, c *Claimer) string {
	t.Helper()
	if err := h.Connect(ctx, peer.AddrInfo{ID: c.PeerID(), Addrs: c.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	s, err := h.NewStream(ctx, c.PeerID(), Protocol)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var guess [SecretSize]byte
	rand.Read(guess[:])
	if err := writeFrame(s, claimProof{Proof: Proof(guess, h.ID(), c.PeerID())}); err != nil {
		t.Fatal(err)
	}
	var rep claimReply
	if err := readFrame(s, &rep, maxReplyFrame); err != nil {
		t.Fatalf("reading the device's answer: %v", err)
	}
	if rep.OK {
		t.Fatal("the device took a guessed proof")
	}
	return rep.Error
}

// TestClaimNeighbourCannotLockOut: a neighbour on the LAN sends wrong
// proofs, first with one key, then with a fresh key per try; the device
// refuses them (soon without looking at them), and the owner, from another
// address, still claims the device with the code it showed first.
func TestClaimNeighbourCannotLockOut(t *testing.T) {
	_, c := newDevice(t, "Front door")
	code := c.Code()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	count := func(answers []string) (wrong, limited int) {
		for _, a := range answers {
			switch a {
			case ErrWrongCode.Error():
				wrong++
			case ErrTooManyTries.Error():
				limited++
			default:
				t.Fatalf("the device answered %q", a)
			}
		}
		return
	}
	// One key, many tries.
	h := strangerHost(t, "127.0.0.2")
	var answers []string
	for range 3 * int(peerTries.burst) {
		answers = append(answers, tryClaim(ctx, t, h, c))
	}
	if conns := c.host.Network().ConnsToPeer(h.ID()); len(conns) == 0 || !strings.HasPrefix(conns[0].RemoteMultiaddr().String(), "/ip4/127.0.0.2/") {
		t.Fatalf("the stranger's connection does not come from 127.0.0.2: %v", conns)
	}
	if wrong, limited := count(answers); wrong != int(peerTries.burst) || limited != len(answers)-wrong {
		t.Fatalf("one key: %d wrong-code and %d too-many answers, want %d and the rest", wrong, limited, int(peerTries.burst))
	}
	// A fresh key for every try, from the same address.
	answers = answers[:0]
	for range int(addrTries.burst) + 10 {
		answers = append(answers, tryClaim(ctx, t, strangerHost(t, "127.0.0.2"), c))
	}
	if wrong, limited := count(answers); wrong != int(addrTries.burst-peerTries.burst) || limited != len(answers)-wrong {
		t.Fatalf("throwaway keys: %d wrong-code and %d too-many answers, want %d and the rest", wrong, limited, int(addrTries.burst-peerTries.burst))
	}

	// The owner, on 127.0.0.1, claims with the code shown before all that.
	if c.Code() != code {
		t.Error("the claim code changed after a stranger's wrong tries")
	}
	alice, _ := nettest.Pair(t, ledger.RoleGuest)
	if _, err := Add(ctx, alice, code); err != nil {
		t.Fatalf("the owner's claim after a neighbour's tries: %v", err)
	}
	if _, err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestClaimLimiterBounded: a thousand throwaway keys from one address, then
// thousands of keys from as many addresses, make the claim host's limiter
// hold no more than its bound, and the owner from an address of its own is
// not locked out.
func TestClaimLimiterBounded(t *testing.T) {
	_, c := newDevice(t, "Lamp")
	code := c.Code()
	key := func() peer.ID {
		_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := peer.IDFromPublicKey(pub)
		return id
	}
	from := func(ip string) ma.Multiaddr { return ma.StringCast("/ip4/" + ip + "/tcp/4001") }

	allowed := 0
	for range 1000 {
		if c.limit.allow(key(), from("127.0.0.2")) == nil {
			allowed++
		}
	}
	if peers, addrs := c.limit.size(); allowed != int(addrTries.burst) || peers != allowed || addrs != 1 {
		t.Fatalf("1000 keys from one address: %d allowed, limiter holds %d peers and %d addresses; want %d, %d, 1", allowed, peers, addrs, int(addrTries.burst), int(addrTries.burst))
	}
	for i := range 3 * maxTable {
		ip := fmt.Sprintf("127.%d.%d.%d", 1+i/65536, i/256%256, i%256)
		if err := c.limit.allow(key(), from(ip)); err != nil {
			t.Fatalf("the first try of a fresh key from a fresh address %s: %v", ip, err)
		}
	}
	if peers, addrs := c.limit.size(); peers > maxTable || addrs > maxTable {
		t.Fatalf("after %d keys from as many addresses the limiter holds %d peers and %d addresses, more than %d", 3*maxTable, peers, addrs, maxTable)
	}

	alice, _ := nettest.Pair(t, ledger.RoleGuest)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := Add(ctx, alice, code); err != nil {
		t.Fatalf("the owner's claim after the strangers' tries: %v", err)
	}
}

func TestAddrKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/ip4/192.168.1.7/tcp/1", "192.168.1.7"},
		{"/ip6/2001:db8:1:2:3:4:5:6/tcp/1", "2001:db8:1:2::/64"},
		{"/ip6/2001:db8:1:2:ffff::1/udp/1/quic-v1", "2001:db8:1:2::/64"},
		{"/dns4/example.com/tcp/1", ""},
	} {
		if got := addrKey(ma.StringCast(tc.in)); got != tc.want {
			t.Errorf("addrKey(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// BenchmarkClaimLimiterFull: one try by a fresh key from a fresh address
// against full tables, the limiter's worst case (an eviction scan in each).
func BenchmarkClaimLimiterFull(b *testing.B) {
	l := newLimiter(func() time.Time { return time.Unix(1e9, 0) })
	ids := make([]peer.ID, 4096)
	for i := range ids {
		ids[i] = peer.ID(fmt.Sprintf("key-%d", i))
	}
	addr := func(i int) ma.Multiaddr {
		return ma.StringCast(fmt.Sprintf("/ip4/10.%d.%d.%d/tcp/1", i/65536%256, i/256%256, i%256))
	}
	addrs := make([]ma.Multiaddr, 4096)
	for i := range addrs {
		addrs[i] = addr(i)
	}
	for i := range 2 * maxTable {
		l.allow(ids[i%len(ids)], addrs[i%len(addrs)])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		l.allow(peer.ID(fmt.Sprintf("k%d", i)), addrs[i%len(addrs)])
	}
	b.StopTimer()
	if p, a := l.size(); p > maxTable || a > maxTable {
		b.Fatalf("limiter holds %d peers, %d addresses", p, a)
	}
}
