package node_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/internal/nettest"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

// rewriteFirst is a stream whose first write (one frame: the member's
// join reply) goes through fn: a modified member.
type rewriteFirst struct {
	network.Stream
	done bool
	fn   func([]byte) []byte
}

func (s *rewriteFirst) Write(b []byte) (int, error) {
	if s.done {
		return s.Stream.Write(b)
	}
	s.done = true
	if _, err := s.Stream.Write(s.fn(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// joinEntry is a member node in a join reply, on the wire.
type joinEntry struct {
	ID     string   `json:"id"`
	Addrs  []string `json:"addrs,omitempty"` // the unsigned list of join replies before records
	Record []byte   `json:"record,omitempty"`
}

// trapListener is a TCP listener of the test's: nothing should connect to
// it. It returns its address and the count of connections it accepted.
func trapListener(t *testing.T) (ma.Multiaddr, *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var dialed atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			dialed.Add(1)
			c.Close()
		}
	}()
	return ma.StringCast("/ip4/127.0.0.1/tcp/" + strings.Split(l.Addr().String(), ":")[1]), &dialed
}

// TestJoinOnlySignedAddresses: a malicious inviter (alice's node, with its
// join reply rewritten) names an address of its choosing (a TCP listener of
// the test's) for another member, bob: unsigned, in a record of its own
// named for bob, in a record for bob it signed; and for a node that is no
// member, in that node's own record. Carol, who joins, drops each and says
// why, stores none of it in her peer book, and never dials it; bob's own
// record in the same reply is taken, and carol's node reaches bob. An
// honest join (erin) stores bob's signed addresses.
func TestJoinOnlySignedAddresses(t *testing.T) {
	alice, bob := nettest.Pair(t, ledger.RoleAdmin)
	trap, dialed := trapListener(t)
	ah := alice.Node().Host()
	waitFor(t, "alice to hold bob's signed peer record", func() bool { return alice.Node().HasPeerRecord(bob.PeerID()) })

	aliceKey := ah.Peerstore().PrivKey(ah.ID())
	seal := func(key crypto.PrivKey, id peer.ID) []byte {
		env, err := record.Seal(&peer.PeerRecord{PeerID: id, Addrs: []ma.Multiaddr{trap}, Seq: peer.TimestampSeq()}, key)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := env.Marshal()
		return b
	}
	strangerKey, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	stranger, _ := peer.IDFromPrivateKey(strangerKey)
	b, trapS := bob.PeerID().String(), []string{trap.String()}
	bad := []joinEntry{
		{ID: b, Addrs: trapS},                                        // unsigned
		{ID: b, Record: seal(aliceKey, ah.ID())},                     // alice's own record, named for bob
		{ID: b, Record: seal(aliceKey, bob.PeerID())},                // a record for bob signed by alice
		{ID: stranger.String(), Record: seal(strangerKey, stranger)}, // signed by itself, but no member
	}
	var rewrote atomic.Bool
	ah.SetStreamHandler(node.ProtoJoin, func(s network.Stream) {
		alice.Node().HandleJoin(&rewriteFirst{Stream: s, fn: func(frame []byte) []byte {
			l, n := binary.Uvarint(frame)
			var rep struct {
				Error string      `json:"error,omitempty"`
				Peers []joinEntry `json:"peers,omitempty"`
			}
			if n <= 0 || json.Unmarshal(frame[n:n+int(l)], &rep) != nil || rep.Error != "" {
				return frame
			}
			for i := range rep.Peers {
				rep.Peers[i].Addrs = trapS // next to every record, as before records
			}
			rep.Peers = append(bad, rep.Peers...) // before bob's own record, which would be taken first
			out, _ := json.Marshal(rep)
			rewrote.Store(true)
			return append(binary.AppendUvarint(nil, uint64(len(out))), out...)
		}})
	})

	var mu sync.Mutex
	var logged []string
	home, peers := joinHome(t, alice, "carol", func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, fmt.Sprintf(format, args...))
	})
	if !rewrote.Load() {
		t.Fatal("the join reply was not rewritten")
	}
	for _, ai := range peers {
		for _, a := range ai.Addrs {
			if a.Equal(trap) {
				t.Errorf("Join gives %s, named by alice, for %s", trap, ai.ID)
			}
		}
	}
	book, err := os.ReadFile(filepath.Join(homedir.NetworkDir(home, alice.NetworkID()), "peers.json"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(book, []byte(trap.String())) {
		t.Fatalf("carol's peer book keeps %s, named by alice:\n%s", trap, book)
	}
	if !bytes.Contains(book, []byte(bob.PeerID().String())) {
		t.Errorf("carol's peer book lacks bob, whose own record was in the reply:\n%s", book)
	}
	mu.Lock()
	all := strings.Join(logged, "\n")
	mu.Unlock()
	for _, want := range []string{"without the node's signed peer record", "the record is for another node", "not signed by the node it names", "not a member node"} {
		if !strings.Contains(all, want) {
			t.Errorf("carol's log does not say %q:\n%s", want, all)
		}
	}

	carol := startHome(t, home, nil)
	waitFor(t, "carol to reach bob", func() bool { return connected(carol, bob) })
	if n := dialed.Load(); n != 0 {
		t.Fatalf("the address alice named for bob was dialed %d times", n)
	}

	// An honest join: erin's peer book holds the addresses bob signed.
	ah.SetStreamHandler(node.ProtoJoin, alice.Node().HandleJoin)
	_, peers = joinHome(t, alice, "erin", nil)
	var got []ma.Multiaddr
	for _, ai := range peers {
		if ai.ID == bob.PeerID() {
			got = ai.Addrs
		}
	}
	if want := bob.Node().Host().Addrs(); len(got) == 0 || !ma.Contains(got, want[0]) {
		t.Errorf("erin's join gives bob the addresses %v, want those he signed, %v", got, want)
	}
	if n := dialed.Load(); n != 0 {
		t.Fatalf("the address alice named for bob was dialed %d times", n)
	}
}

// joinHome makes a home for name and joins alice's network with a guest
// invite of alice's; it returns the home and the member addresses Join
// stored.
func joinHome(t *testing.T, alice *engine.Engine, name string, logf func(string, ...any)) (string, []peer.AddrInfo) {
	t.Helper()
	home := filepath.Join(t.TempDir(), name)
	if _, err := homedir.Init(home, name); err != nil {
		t.Fatal(err)
	}
	code, _, err := alice.Invite(engine.InviteOptions{Role: ledger.RoleGuest, Uses: 1, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, peers, err := homedir.Join(ctx, home, code, homedir.JoinOptions{Logf: logf})
	if err != nil {
		t.Fatalf("Join(%s): %v", name, err)
	}
	return home, peers
}
