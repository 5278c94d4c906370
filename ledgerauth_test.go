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

	"github.com/coconet/coconet/homedir"
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

// startLogged starts u's node on network, keeping its log lines.
func startLogged(t *testing.T, u *user, network string) (*Node, *logLines) {
	t.Helper()
	lines := &logLines{t: t}
	n := &Node{Home: u.home, Network: network, ListenHost: "127.0.0.1", Logf: lines.Logf}
	if err := n.Start(context.Background()); err != nil {
		t.Fatalf("%s: Start: %v", u.name, err)
	}
	t.Cleanup(func() { n.Close() })
	return n, lines
}

// smuggle is a member's modified client: with u's node stopped, it brings
// u's ledger copy up to date from src, signs the op mk makes with u's user
// key, checks that u's own ledger would refuse it, and writes it into the
// ledger directory, where u's node, once started, offers it in sync.
func smuggle(t *testing.T, u *user, src *ledger.Log, mk func(l *ledger.Log) ledger.Op) *ledger.Op {
	t.Helper()
	id, err := homedir.LoadIdentity(u.home)
	if err != nil {
		t.Fatal(err)
	}
	l, err := homedir.OpenNetwork(u.home, "home")
	if err != nil {
		t.Fatal(err)
	}
	l.AddAll(src.Ops())
	op := mk(l)
	op.V, op.Net, op.Parents, op.Time = ledger.Version, l.Network(), l.Heads(), time.Now().UnixMilli()
	op.Sign(id.Seed.UserKey())
	if err := l.Add(&op); err == nil {
		t.Fatalf("%s's own ledger accepts %s (the attack proves nothing)", u.name, op.Describe())
	}
	dir := filepath.Join(homedir.NetworkDir(u.home, l.Network()), "ledger", "ops")
	if err := os.WriteFile(filepath.Join(dir, op.ID().String()+".op"), op.Marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
	return &op
}

// offerSmuggled starts u's node, which holds smuggled ops, connects it to the
// targets and syncs with each.
func offerSmuggled(t *testing.T, u *user, ops []*ledger.Op, targets ...*Node) *Node {
	t.Helper()
	n := u.start(t, "home")
	for _, op := range ops {
		if !n.Ledger().Has(op.ID()) {
			t.Fatalf("%s's node does not hold the smuggled op (the attack did not happen)", u.name)
		}
	}
	for _, m := range targets {
		n.engine().Node().AddPeerAddrs([]peer.AddrInfo{{ID: m.PeerID(), Addrs: m.engine().Node().Host().Addrs()}})
		waitConnected(t, n, m.Ledger().State().Members[m.User()].Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, m := range targets {
		if err := syncWith(ctx, n, m); err != nil {
			t.Fatalf("%s syncs with %s: %v", u.name, m.PeerID().ShortString(), err)
		}
	}
	return n
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
	an, alog := startLogged(t, alice, "home")
	bob.join(t, makeInvite(t, an, ledger.RoleGuest, 1))
	cp := carol.join(t, makeInvite(t, an, ledger.RoleAdmin, 1))
	cn, clog := startLogged(t, carol, "home")
	cn.engine().Node().AddPeerAddrs(cp)
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
	mallory := identity.UserIDOf(ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey))
	op := smuggle(t, bob, an.Ledger(), func(*ledger.Log) ledger.Op {
		return ledger.Op{Kind: ledger.KindAddUser, Subject: mallory, SubjectName: "mallory", Role: ledger.RoleAdmin, Ref: inv.ID}
	})
	bn := offerSmuggled(t, bob, []*ledger.Op{op}, an, cn)
	alog.waitFor("only the holder of the invite code can use it")
	clog.waitFor("only the holder of the invite code can use it")
	for _, m := range []*Node{an, cn, bn} {
		st := m.Ledger().State()
		if st.Role(mallory) != ledger.RoleNone || st.Invites[inv.ID].Used != 0 {
			t.Errorf("%s: mallory is %s, the invite used %d times; want none, 0", st.Members[m.User()].Name, st.Role(mallory), st.Invites[inv.ID].Used)
		}
	}
	if an.Ledger().Has(op.ID()) || cn.Ledger().Has(op.ID()) {
		t.Error("a member stored the forged redeem")
	}
}

// TestAdminAndGuestCannotTouchOwnersDevices: bob, an admin, syncs the
// removal of alice's device node; carol, a guest, syncs an add_node binding
// to herself the key of a device not yet claimed. Alice refuses both.
func TestAdminAndGuestCannotTouchOwnersDevices(t *testing.T) {
	alice, bob, carol := newUser(t, "alice"), newUser(t, "bob"), newUser(t, "carol")
	if _, err := CreateNetwork(alice.home, "home", "user", ""); err != nil {
		t.Fatal(err)
	}
	an, alog := startLogged(t, alice, "home")
	bob.join(t, makeInvite(t, an, ledger.RoleAdmin, 1))
	carol.join(t, makeInvite(t, an, ledger.RoleGuest, 1))
	// A claimed device: a node of alice's with its record, bound by her
	// from its claim code.
	lamp := [32]byte(ed25519.NewKeyFromSeed(bytes32(1)).Public().(ed25519.PublicKey))
	if _, err := an.Append(ledger.Op{Kind: ledger.KindAddNode, Subject: an.User(), Node: lamp, SubjectName: "lamp"}); err != nil {
		t.Fatal(err)
	}
	lampID, _ := node.PeerIDOf(lamp)
	if _, err := an.Append(ledger.Op{Kind: ledger.KindPut, Table: ledger.TableDevice, Key: lampID.String(), Value: []byte(`{"name":"lamp"}`)}); err != nil {
		t.Fatal(err)
	}
	unclaimed := [32]byte(ed25519.NewKeyFromSeed(bytes32(2)).Public().(ed25519.PublicKey))

	rm := smuggle(t, bob, an.Ledger(), func(*ledger.Log) ledger.Op {
		return ledger.Op{Kind: ledger.KindRemoveNode, Node: lamp}
	})
	squat := smuggle(t, carol, an.Ledger(), func(*ledger.Log) ledger.Op {
		return ledger.Op{Kind: ledger.KindAddNode, Subject: mustID(t, carol.home), Node: unclaimed, SubjectName: "lamp2"}
	})
	offerSmuggled(t, bob, []*ledger.Op{rm}, an)
	offerSmuggled(t, carol, []*ledger.Op{squat}, an)
	alog.waitFor("the owner's nodes and devices are the owner's alone to remove")
	alog.waitFor("carries no signature by that node's key")
	st := an.Ledger().State()
	if !st.IsMemberNode(lamp) || st.IsMemberNode(unclaimed) {
		t.Errorf("alice's ledger: lamp a member node %v, unclaimed key bound %v; want true, false", st.IsMemberNode(lamp), st.IsMemberNode(unclaimed))
	}
}

func bytes32(b byte) []byte {
	s := make([]byte, 32)
	s[0] = b
	return s
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
	target := peer.AddrInfo{ID: an.PeerID(), Addrs: an.engine().Node().Host().Addrs()}

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
