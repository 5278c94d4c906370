package node_test

import (
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

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/record"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/internal/nettest"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

// joinOnly makes a new member name of the network, invited by inviter,
// that knows where only knows is (no other member's address), and starts
// its node with logf.
func joinOnly(t *testing.T, inviter *engine.Engine, name string, knows *engine.Engine, logf func(string, ...any)) *engine.Engine {
	t.Helper()
	home := filepath.Join(t.TempDir(), name)
	if _, err := homedir.Init(home, name); err != nil {
		t.Fatal(err)
	}
	code, _, err := inviter.Invite(engine.InviteOptions{Role: ledger.RoleGuest, Uses: 1, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, _, err := homedir.Join(ctx, home, code, homedir.JoinOptions{}); err != nil {
		t.Fatalf("Join(%s): %v", name, err)
	}
	// The join's answer named the members the inviter is connected to:
	// forget them.
	dir := homedir.NetworkDir(home, inviter.NetworkID())
	os.Remove(filepath.Join(dir, "peers.json"))
	only := []peer.AddrInfo{{ID: knows.PeerID(), Addrs: knows.Node().Host().Addrs()}}
	if err := node.WritePeerBook(dir, only); err != nil {
		t.Fatal(err)
	}
	return startHome(t, home, logf)
}

// startHome starts the node of home in network "home" on loopback, logging
// to logf, until the test ends.
func startHome(t *testing.T, home string, logf func(string, ...any)) *engine.Engine {
	t.Helper()
	e, err := engine.StartIn(context.Background(), home, "home", engine.Config{ListenHost: "127.0.0.1", Logf: logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func connected(a, b *engine.Engine) bool {
	return len(a.Node().Host().Network().ConnsToPeer(b.PeerID())) > 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPexOnlySignedAddresses: a malicious member answers pex naming an
// address of its choosing (a TCP listener of the test's) for another
// member, unsigned, in a record it signed itself, and in a record of
// another node; the asking member drops each, says why, and never dials
// the address. A genuine record in the same answer is taken, and members
// still find each other through honest pex.
func TestPexOnlySignedAddresses(t *testing.T) {
	alice, bob := nettest.Pair(t, ledger.RoleAdmin)
	dave := joinOnly(t, alice, "dave", alice, nil)
	waitFor(t, "dave to connect to alice and, through alice's pex, to bob", func() bool {
		return connected(dave, alice) && connected(dave, bob)
	})

	// The address bob will name: nothing should ever connect to it.
	trap, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer trap.Close()
	var dialed atomic.Int32
	go func() {
		for {
			c, err := trap.Accept()
			if err != nil {
				return
			}
			dialed.Add(1)
			c.Close()
		}
	}()
	trapAddr := ma.StringCast("/ip4/127.0.0.1/tcp/" + strings.Split(trap.Addr().String(), ":")[1])

	bh := bob.Node().Host()
	bobKey := bh.Peerstore().PrivKey(bh.ID())
	seal := func(id peer.ID) []byte {
		env, err := record.Seal(&peer.PeerRecord{PeerID: id, Addrs: []ma.Multiaddr{trapAddr}, Seq: peer.TimestampSeq()}, bobKey)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := env.Marshal()
		return b
	}
	dcab, _ := peerstore.GetCertifiedAddrBook(dave.Node().Host().Peerstore())
	daveRec, err := dcab.GetPeerRecord(dave.PeerID()).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		ID     string   `json:"id"`
		Addrs  []string `json:"addrs"`
		Record []byte   `json:"record,omitempty"`
	}
	a, trapS := alice.PeerID().String(), []string{trapAddr.String()}
	answer := []entry{
		{ID: a, Addrs: trapS},                                       // unsigned
		{ID: a, Addrs: trapS, Record: seal(bh.ID())},                // bob's own record, named for alice
		{ID: a, Addrs: trapS, Record: seal(alice.PeerID())},         // a record for alice signed by bob
		{ID: dave.PeerID().String(), Addrs: trapS, Record: daveRec}, // genuine: dave signed it
	}
	bh.SetStreamHandler(node.ProtoPex, func(s network.Stream) {
		defer s.Close()
		b, _ := json.Marshal(answer)
		s.Write(append(binary.AppendUvarint(nil, uint64(len(b))), b...))
	})

	// carol knows only bob, who answers her pex.
	var logged []string
	var mu sync.Mutex
	carol := joinOnly(t, bob, "carol", bob, func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, fmt.Sprintf(format, args...))
	})
	waitFor(t, "carol to find dave through bob's pex (a genuine record)", func() bool { return connected(carol, dave) })
	for _, got := range carol.Node().Host().Peerstore().Addrs(alice.PeerID()) {
		if got.Equal(trapAddr) {
			t.Fatalf("carol keeps %s, named by bob, as alice's address", trapAddr)
		}
	}
	for _, got := range carol.Node().Host().Peerstore().Addrs(dave.PeerID()) {
		if got.Equal(trapAddr) {
			t.Fatalf("carol keeps %s, from the unsigned list next to dave's record, as dave's address", trapAddr)
		}
	}
	mu.Lock()
	all := strings.Join(logged, "\n")
	mu.Unlock()
	for _, want := range []string{"without the node's signed peer record", "the record is for another node", "not signed by the node it names"} {
		if !strings.Contains(all, want) {
			t.Errorf("carol's log does not say %q:\n%s", want, all)
		}
	}
	if n := dialed.Load(); n != 0 {
		t.Fatalf("the address bob named for alice was dialed %d times", n)
	}

	// Honest pex: erin knows only alice; alice passes on the records bob,
	// carol and dave gave her, and erin reaches them.
	erin := joinOnly(t, alice, "erin", alice, nil)
	waitFor(t, "erin to find dave through alice's pex", func() bool { return connected(erin, dave) })
	if n := dialed.Load(); n != 0 {
		t.Fatalf("the address bob named for alice was dialed %d times", n)
	}
}
