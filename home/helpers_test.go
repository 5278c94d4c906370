package home

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/internal/nettest"
	"github.com/coconet/coconet/ledger"
)

func TestMain(m *testing.M) { nettest.VerifyNoLeaks(m) }

// user is one person with a home directory.
type user struct {
	name string
	home string
}

func newUser(t testing.TB, name string) *user {
	t.Helper()
	home := filepath.Join(t.TempDir(), name)
	if _, err := homedir.Init(home, name); err != nil {
		t.Fatalf("Init(%s): %v", name, err)
	}
	return &user{name, home}
}

func (u *user) start(t testing.TB, app string) *engine.Engine {
	t.Helper()
	n, err := engine.StartIn(context.Background(), u.home, "home", engine.Config{App: app, ListenHost: "127.0.0.1"})
	if err != nil {
		t.Fatalf("%s/%s: Start: %v", u.name, app, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// network makes alice the owner of "home" with her node started.
func network(t testing.TB) (*user, *engine.Engine) {
	t.Helper()
	alice := newUser(t, "alice")
	if _, err := homedir.CreateNetwork(alice.home, "home", "user", ""); err != nil {
		t.Fatal(err)
	}
	return alice, alice.start(t, "")
}

// member invites a new user with role through an's node and starts her node.
func member(t *testing.T, an *engine.Engine, name string, role ledger.Role) *engine.Engine {
	t.Helper()
	u := newUser(t, name)
	code, _, err := an.Invite(engine.InviteOptions{Role: role, TTL: time.Hour})
	if err != nil {
		t.Fatalf("Invite: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, peers, err := homedir.Join(ctx, u.home, code, homedir.JoinOptions{})
	if err != nil {
		t.Fatalf("%s: Join: %v", name, err)
	}
	n := u.start(t, "")
	n.Node().AddPeerAddrs(peers)
	return n
}

// device starts another node of the owner's, as a device is: a copy of
// her home (so it keeps its own ledger copy) running the node of app,
// which her node certifies first.
func device(t testing.TB, owner *user, on *engine.Engine, app string) *engine.Engine {
	t.Helper()
	id, err := homedir.LoadIdentity(owner.home)
	if err != nil {
		t.Fatal(err)
	}
	var key [32]byte
	copy(key[:], id.Seed.NodeKey(on.NetworkID(), app).Public().(ed25519.PublicKey))
	if _, err := on.Append(ledger.Op{Kind: ledger.KindAddNode, Subject: on.User(), Node: key, SubjectName: app}); err != nil {
		t.Fatalf("certify %s: %v", app, err)
	}
	dir := filepath.Join(t.TempDir(), app)
	if err := os.CopyFS(dir, os.DirFS(owner.home)); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "daemon.lock"))
	// The node remembers its ports per network, not per app: with the
	// owner's ports.json the copy would bind her node's ports (libp2p
	// reuses ports) and take some of her connections.
	os.Remove(filepath.Join(homedir.NetworkDir(dir, on.NetworkID()), "ports.json"))
	return (&user{owner.name + "/" + app, dir}).start(t, app)
}

// mesh connects the nodes to the owner's node an, waits until their
// ledgers hold everything an's does (so they admit each other), then
// teaches every node where every other one listens.
func mesh(t testing.TB, an *engine.Engine, nodes ...*engine.Engine) {
	t.Helper()
	for _, n := range nodes {
		n.Node().AddPeerAddrs([]peer.AddrInfo{{ID: an.PeerID(), Addrs: an.Node().Host().Addrs()}})
	}
	synced(t, an, nodes...)
	meshAll(append([]*engine.Engine{an}, nodes...)...)
}

func meshAll(nodes ...*engine.Engine) {
	for _, a := range nodes {
		var infos []peer.AddrInfo
		for _, b := range nodes {
			if a != b {
				infos = append(infos, peer.AddrInfo{ID: b.PeerID(), Addrs: b.Node().Host().Addrs()})
			}
		}
		a.Node().AddPeerAddrs(infos)
	}
}

// waitFor polls cond until it holds or 15 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 15s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// synced waits until every node's ledger holds the records of table as n's does.
func synced(t testing.TB, n *engine.Engine, others ...*engine.Engine) {
	t.Helper()
	want := len(n.Ledger().IDs())
	for _, o := range others {
		waitFor(t, "ledger sync", func() bool { return len(o.Ledger().IDs()) >= want })
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// clock is an injectable clock for hosts.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// direct asks the host on node to for actions from n, bypassing the
// client's lookup: the host's own decision.
func direct(t *testing.T, n *engine.Engine, to peer.ID, actions ...Action) []Result {
	t.Helper()
	req, _ := json.Marshal(cmdRequest{Actions: actions})
	b, err := n.RPC().Request(ctxT(t), to, ServiceCommand, req)
	if err != nil {
		t.Fatalf("request %s: %v", ServiceCommand, err)
	}
	var rep cmdReply
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return rep.Results
}

// directCompact is direct with the request in the compact encoding.
func directCompact(t *testing.T, n *engine.Engine, to peer.ID, actions ...Action) []Result {
	t.Helper()
	b, err := n.RPC().Request(ctxT(t), to, ServiceCommand, encodeCmdRequest(nil, actions))
	if err != nil {
		t.Fatalf("request %s: %v", ServiceCommand, err)
	}
	res, err := decodeCmdReply(b, len(actions))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func listDirect(t *testing.T, n *engine.Engine, to peer.ID) listReply {
	t.Helper()
	b, err := n.RPC().Request(ctxT(t), to, ServiceList, nil)
	if err != nil {
		t.Fatalf("request %s: %v", ServiceList, err)
	}
	var rep listReply
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

func act(s string) Action {
	a, err := ParseAction(s)
	if err != nil {
		panic(err)
	}
	return a
}
