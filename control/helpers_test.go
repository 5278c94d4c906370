package control_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"

	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/member"
	"github.com/coconet/coconet/msg"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/rpc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// libp2p and quic-go keep package-level workers alive.
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/transport/quicreuse.(*reuse).gc"),
		goleak.IgnoreTopFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/host/resource-manager.(*resourceManager).background"),
		goleak.IgnoreAnyFunction("github.com/quic-go/quic-go.(*Transport).listen"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/net/swarm.(*Swarm).dialWorkerLoop"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/host/basic.(*BasicHost).background"),
		goleak.IgnoreAnyFunction("net.(*netFD).Read"),
		goleak.IgnoreAnyFunction("internal/poll.runtime_pollWait"),
	)
}

// tuser is a member of a test network.
type tuser struct {
	name string
	seed identity.Seed
	log  *ledger.Log
	dir  string
}

func (u *tuser) id() identity.UserID { return u.seed.UserID() }

func (u *tuser) nodeKey() [32]byte {
	var k [32]byte
	copy(k[:], u.seed.NodeKey(u.log.Network(), node.DefaultApp).Public().(ed25519.PublicKey))
	return k
}

// newNet makes a network owned by the first name; the others join with the
// roles given ("admin" or "guest"), each with one node. Every user gets a
// replica of the whole ledger.
func newNet(t *testing.T, owner string, others ...string) []*tuser {
	t.Helper()
	mk := func(name string) *tuser {
		s, err := identity.NewSeed()
		if err != nil {
			t.Fatal(err)
		}
		return &tuser{name: name, seed: s, dir: filepath.Join(t.TempDir(), name)}
	}
	o := mk(owner)
	l, err := ledger.Create(filepath.Join(o.dir, "ledger"), o.seed.UserKey(), owner, "home", "user")
	if err != nil {
		t.Fatal(err)
	}
	o.log = l
	users := []*tuser{o}
	if _, err := l.Append(o.seed.UserKey(), ledger.Op{Kind: ledger.KindAddNode, Subject: o.id(), Node: o.nodeKey(), SubjectName: "coco"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(others); i += 2 {
		u := mk(others[i])
		role, err := ledger.ParseRole(others[i+1])
		if err != nil {
			t.Fatal(err)
		}
		u.log = l // for nodeKey
		if _, err := l.Append(o.seed.UserKey(), ledger.Op{Kind: ledger.KindAddUser, Subject: u.id(), Role: role, SubjectName: u.name}); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(o.seed.UserKey(), ledger.Op{Kind: ledger.KindAddNode, Subject: u.id(), Node: u.nodeKey(), SubjectName: "coco"}); err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	genesis, _ := l.Get(ledger.ID(l.Network()))
	for _, u := range users[1:] {
		ul, err := ledger.Init(filepath.Join(u.dir, "ledger"), genesis, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, errs := ul.AddAll(l.Ops()); len(errs) > 0 {
			for _, e := range errs {
				if e != nil {
					t.Fatalf("replica of %s: %v", u.name, e)
				}
			}
		}
		u.log = ul
	}
	return users
}

// proof makes a proof for u's node signed by the network's owner.
func (u *tuser) proof(owner *tuser, from time.Time, validity time.Duration) *member.Proof {
	g, _ := owner.log.Get(ledger.ID(owner.log.Network()))
	role := owner.log.State().Role(u.id())
	return &member.Proof{Genesis: g, Cert: member.IssueCert(owner.seed.UserKey(), owner.log.Network(), u.nodeKey(), u.id(), role, from, validity)}
}

// giveProof stores a proof in u's node directory, as if u's node had been
// given it earlier by an owner's node.
func (u *tuser) giveProof(t *testing.T, owner *tuser) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(u.dir, "node"), 0o700); err != nil {
		t.Fatal(err)
	}
	p := u.proof(owner, time.Now(), time.Hour)
	if err := os.WriteFile(filepath.Join(u.dir, "node", "control-proof.bin"), p.Marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// relayOnly is a DialFilter that refuses direct dials while on is set.
type relayOnly struct{ on atomic.Bool }

func (r *relayOnly) filter(peer.ID, ma.Multiaddr) bool { return !r.on.Load() }

func startNode(t *testing.T, u *tuser, srv *control.Server, filter *relayOnly) *node.Node {
	t.Helper()
	cfg := node.Config{Seed: u.seed, UserName: u.name, Log: u.log, Dir: filepath.Join(u.dir, "node"),
		ListenHost: "127.0.0.1", Logf: prefixed(t, u.name)}
	for _, a := range srv.Addrs() {
		cfg.Control = append(cfg.Control, a.String())
	}
	if filter != nil {
		cfg.DialFilter = filter.filter
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	r, err := rpc.New(n, rpc.Options{Logf: cfg.Logf})
	if err != nil {
		t.Fatal(err)
	}
	m, err := msg.New(r, msg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	msgsMu.Lock()
	msgs[n] = m
	msgsMu.Unlock()
	t.Cleanup(func() {
		msgsMu.Lock()
		delete(msgs, n)
		msgsMu.Unlock()
		m.Close()
		r.Close()
	})
	return n
}

// msgs is the messaging service of each node startNode started.
var (
	msgsMu sync.Mutex
	msgs   = map[*node.Node]*msg.Service{}
)

// msgOf returns n's messaging service.
func msgOf(n *node.Node) *msg.Service {
	msgsMu.Lock()
	defer msgsMu.Unlock()
	return msgs[n]
}

func prefixed(t *testing.T, name string) func(string, ...any) {
	return func(format string, a ...any) { t.Logf(name+": "+format, a...) }
}

type tap struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (tp *tap) record(_ peer.ID, b []byte) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if tp.buf.Len() < 64<<20 {
		tp.buf.Write(b)
	}
}

func (tp *tap) bytes() []byte {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return bytes.Clone(tp.buf.Bytes())
}

func startServer(t *testing.T, cfg control.Config) *control.Server {
	t.Helper()
	if cfg.Listen == nil {
		cfg.Listen = []string{"/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0"}
	}
	cfg.Logf = prefixed(t, "control")
	s, err := control.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// stranger is a plain libp2p host with an Ed25519 key of its own.
func stranger(t *testing.T) (host.Host, ed25519.PrivateKey) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := crypto.UnmarshalEd25519PrivateKey(priv)
	h, err := libp2p.New(libp2p.Identity(k), libp2p.NoListenAddrs, libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport), libp2p.Security(noise.ID, noise.New), libp2p.EnableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, priv
}

func connectTo(t *testing.T, h host.Host, srv *control.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, peer.AddrInfo{ID: srv.ID(), Addrs: srv.Host().Addrs()}); err != nil {
		t.Fatalf("connect to control plane: %v", err)
	}
}

// waitFor polls cond until it holds or 30 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// pathTo returns how n is connected to p's node: "", "direct" or "relayed".
func pathTo(n *node.Node, p peer.ID) string {
	for _, pi := range n.Peers(context.Background()) {
		if pi.Node == p && pi.Connected {
			return pi.Path
		}
	}
	return ""
}

func sendRecv(t *testing.T, from, to *node.Node, text string) error {
	t.Helper()
	ch, cancel := msgOf(to).Subscribe()
	defer cancel()
	ctx, c2 := context.WithTimeout(context.Background(), 15*time.Second)
	defer c2()
	if err := msgOf(from).Send(ctx, to.ID(), []byte(text)); err != nil {
		return err
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-ch:
			if string(m.Data) == text {
				return nil
			}
		case <-timeout:
			return fmt.Errorf("message %q not received", text)
		}
	}
}
