package coconet

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/invite"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

// logLines collects a node's log lines, for waiting on what it did.
type logLines struct {
	t  *testing.T
	mu sync.Mutex
	ls []string
}

func (l *logLines) Logf(format string, args ...any) {
	l.t.Helper()
	l.t.Logf(format, args...)
	l.mu.Lock()
	l.ls = append(l.ls, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *logLines) waitFor(sub string) {
	l.t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		l.mu.Lock()
		for _, s := range l.ls {
			if strings.Contains(s, sub) {
				l.mu.Unlock()
				return
			}
		}
		l.mu.Unlock()
	}
	l.t.Fatalf("no log line containing %q after 15s", sub)
}

// TestGuestRedeemsOwnersAdminInviteRefused: bob, a guest, runs a modified
// client that signs an add_user redeeming alice's unredeemed admin invite
// for a key he controls (mallory's), puts it in his ledger copy and syncs
// it. Alice and carol, the other members, refuse it: it carries no
// signature by the invite's key.
func TestGuestRedeemsOwnersAdminInviteRefused(t *testing.T) {
	alice, bob, carol := newUser(t, "alice"), newUser(t, "bob"), newUser(t, "carol")
	if _, err := CreateNetwork(alice.home, "home", "user", ""); err != nil {
		t.Fatal(err)
	}
	alog := &logLines{t: t}
	an := &Node{Home: alice.home, Network: "home", ListenHost: "127.0.0.1", Logf: alog.Logf}
	if err := an.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { an.Close() })
	bob.join(t, makeInvite(t, an, ledger.RoleGuest, 1))
	cp := carol.join(t, makeInvite(t, an, ledger.RoleAdmin, 1))
	clog := &logLines{t: t}
	cn := &Node{Home: carol.home, Network: "home", ListenHost: "127.0.0.1", Logf: clog.Logf}
	if err := cn.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cn.Close() })
	cn.Internal().AddPeerAddrs(cp)
	waitConnected(t, cn, "alice")

	// The admin invite alice keeps for someone; its code never leaves her.
	makeInvite(t, an, ledger.RoleAdmin, 1)
	var inv *ledger.InviteInfo
	for _, i := range an.Ledger().State().Invites {
		if i.Role == ledger.RoleAdmin && i.Used == 0 {
			inv = i
		}
	}
	if inv == nil {
		t.Fatal("no unredeemed admin invite")
	}

	// Bob's modified client: it waits for the invite, then writes the op
	// into his ledger directory, where his node will offer it in sync.
	bobID, err := LoadIdentity(bob.home)
	if err != nil {
		t.Fatal(err)
	}
	blog, err := OpenNetwork(bob.home, "home")
	if err != nil {
		t.Fatal(err)
	}
	blog.AddAll(an.Ledger().Ops())
	if !blog.Has(inv.ID) {
		t.Fatal("bob's copy lacks the invite")
	}
	mallory := identity.UserIDOf(ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey))
	op := &ledger.Op{V: ledger.Version, Net: blog.Network(), Parents: blog.Heads(), Time: time.Now().UnixMilli(),
		Kind: ledger.KindAddUser, Subject: mallory, SubjectName: "mallory", Role: ledger.RoleAdmin, Ref: inv.ID}
	op.Sign(bobID.Seed.UserKey())
	if err := blog.Add(op); err == nil || !strings.Contains(err.Error(), "only the holder of the invite code") {
		t.Fatalf("bob's own ledger Add = %v, want the refusal", err)
	}
	dir := filepath.Join(NetworkDir(bob.home, blog.Network()), "ledger", "ops")
	if err := os.WriteFile(filepath.Join(dir, op.ID().String()+".op"), op.Marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
	bn := bob.start(t, "home")
	if !bn.Ledger().Has(op.ID()) {
		t.Fatal("bob's node does not hold the forged op (the attack did not happen)")
	}
	bn.Internal().AddPeerAddrs([]peer.AddrInfo{
		{ID: an.PeerID(), Addrs: an.Internal().Host().Addrs()},
		{ID: cn.PeerID(), Addrs: cn.Internal().Host().Addrs()},
	})
	waitConnected(t, bn, "alice")
	waitConnected(t, bn, "carol")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, p := range []peer.ID{an.PeerID(), cn.PeerID()} {
		if err := bn.Internal().SyncWith(ctx, p); err != nil {
			t.Fatalf("bob syncs with %s: %v", p.ShortString(), err)
		}
	}
	alog.waitFor("only the holder of the invite code can use it")
	clog.waitFor("only the holder of the invite code can use it")
	for _, m := range []*Node{an, cn, bn} {
		st := m.Ledger().State()
		if st.Role(mallory) != ledger.RoleNone || st.Invites[inv.ID].Used != 0 {
			t.Errorf("%s: mallory is %s, the invite used %d times; want none, 0", m.Info().Name, st.Role(mallory), st.Invites[inv.ID].Used)
		}
	}
	if an.Ledger().Has(op.ID()) || cn.Ledger().Has(op.ID()) {
		t.Error("a member stored the forged redeem")
	}
}

// inviteHost is a libp2p host keyed with a code's invite key, as a joiner is.
func inviteHost(t *testing.T, code string) (*invite.Code, func(ctx context.Context, target peer.AddrInfo) error) {
	t.Helper()
	c, err := invite.Decode(code)
	if err != nil {
		t.Fatal(err)
	}
	lk, err := crypto.UnmarshalEd25519PrivateKey(identity.InviteKey(c.Secret[:]))
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(lk), libp2p.NoListenAddrs, libp2p.Transport(tcp.NewTCPTransport), libp2p.Security(noise.ID, noise.New))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	// openJoin reports whether the member lets this key open the join
	// protocol.
	return c, func(ctx context.Context, target peer.AddrInfo) error {
		if err := h.Connect(ctx, target); err != nil {
			return err
		}
		s, err := h.NewStream(ctx, target.ID, protoID(node.ProtoJoin))
		if err != nil {
			return err
		}
		s.Close()
		return nil
	}
}

// TestDeadInviteKeysRefusedAtTransport: the holder of a code that is used
// up, revoked or expired cannot even connect to a member; a live code's key
// opens the join protocol.
func TestDeadInviteKeysRefusedAtTransport(t *testing.T) {
	alice, bob := newUser(t, "alice"), newUser(t, "bob")
	if _, err := CreateNetwork(alice.home, "home", "user", ""); err != nil {
		t.Fatal(err)
	}
	an := alice.start(t, "home")
	target := peer.AddrInfo{ID: an.PeerID(), Addrs: an.Internal().Host().Addrs()}

	usedUp := makeInvite(t, an, ledger.RoleGuest, 1)
	bob.join(t, usedUp)
	revoked := makeInvite(t, an, ledger.RoleGuest, 1)
	c, _ := invite.Decode(revoked)
	inv, ok := an.Ledger().State().InviteByKey([32]byte(identity.InviteKey(c.Secret[:]).Public().(ed25519.PublicKey)))
	if !ok {
		t.Fatal("revoked invite not in the ledger")
	}
	if _, err := an.Append(ledger.Op{Kind: ledger.KindRevokeInvite, Ref: inv.ID}); err != nil {
		t.Fatal(err)
	}
	expired, _, err := an.Invite(InviteOptions{Role: ledger.RoleGuest, TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	live := makeInvite(t, an, ledger.RoleGuest, 1)
	// Wait for the short invite to expire by alice's clock.
	ce, _ := invite.Decode(expired)
	time.Sleep(time.Until(time.Unix(ce.Expires+1, 0)))

	for _, tt := range []struct {
		name, code string
		admitted   bool
	}{
		{"used up", usedUp, false},
		{"revoked", revoked, false},
		{"expired", expired, false},
		{"live", live, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, open := inviteHost(t, tt.code)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := open(ctx, target)
			if tt.admitted && err != nil {
				t.Fatalf("a live code's key cannot open the join protocol: %v", err)
			}
			if !tt.admitted && err == nil {
				t.Fatalf("the key of a %s code opened the join protocol", tt.name)
			}
		})
	}
}
