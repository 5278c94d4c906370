package pubsub_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/internal/nettest"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/pubsub"
)

func TestMain(m *testing.M) { nettest.VerifyNoLeaks(m) }

// member is one user of the test network with a running node and pub-sub.
type member struct {
	name string
	home string
	n    *engine.Engine
	ps   *pubsub.PubSub
	opts pubsub.Options
}

func (m *member) start(t testing.TB) {
	t.Helper()
	n, err := engine.StartIn(context.Background(), m.home, "home", engine.Config{ListenHost: "127.0.0.1", Logf: t.Logf})
	if err != nil {
		t.Fatalf("%s: Start: %v", m.name, err)
	}
	m.n = n
	opts := m.opts
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	ps, err := pubsub.New(m.n.Node(), opts)
	if err != nil {
		t.Fatalf("%s: pubsub.New: %v", m.name, err)
	}
	m.ps = ps
	t.Cleanup(func() { ps.Close(); n.Close() })
}

// stop closes pub-sub and the node (idempotently, as Close promises).
func (m *member) stop() {
	m.ps.Close()
	m.ps.Close()
	m.n.Close()
}

// cluster makes a network owned by the first name, joins the others as
// guests, starts everyone and waits until every pair is connected.
func cluster(t testing.TB, names []string, opts map[string]pubsub.Options) []*member {
	t.Helper()
	var ms []*member
	for _, name := range names {
		home := filepath.Join(t.TempDir(), name)
		if _, err := homedir.Init(home, name); err != nil {
			t.Fatalf("Init(%s): %v", name, err)
		}
		ms = append(ms, &member{name: name, home: home, opts: opts[name]})
	}
	owner := ms[0]
	if _, err := homedir.CreateNetwork(owner.home, "home", "user", ""); err != nil {
		t.Fatal(err)
	}
	owner.start(t)
	if len(ms) > 1 {
		code, _, err := owner.n.Invite(engine.InviteOptions{Role: ledger.RoleGuest, Uses: len(ms) - 1, TTL: time.Hour})
		if err != nil {
			t.Fatalf("Invite: %v", err)
		}
		for _, m := range ms[1:] {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			_, peers, err := homedir.Join(ctx, m.home, code, homedir.JoinOptions{Logf: t.Logf})
			cancel()
			if err != nil {
				t.Fatalf("%s: Join: %v", m.name, err)
			}
			m.start(t)
			m.n.Node().AddPeerAddrs(peers)
		}
	}
	for _, a := range ms {
		for _, b := range ms {
			if a != b {
				a.n.Node().AddPeerAddrs([]peer.AddrInfo{{ID: b.n.PeerID(), Addrs: b.n.Node().Host().Addrs()}})
			}
		}
	}
	for _, a := range ms {
		for _, b := range ms {
			if a != b {
				waitLinked(t, a, b)
			}
		}
	}
	return ms
}

// waitLinked waits until a knows b as a member and is connected to it.
func waitLinked(t testing.TB, a, b *member) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s connected to member %s", a.name, b.name), func() bool {
		in := a.n.Node()
		return in.IsMember(b.n.PeerID()) && in.Host().Network().Connectedness(b.n.PeerID()) == network.Connected
	})
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func subscribe(t *testing.T, m *member, pattern string, opts pubsub.SubscribeOptions) *pubsub.Subscription {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := m.ps.Subscribe(ctx, pattern, opts)
	if err != nil {
		t.Fatalf("%s: Subscribe(%q): %v", m.name, pattern, err)
	}
	return s
}

func publish(t *testing.T, m *member, topic, data string, opts pubsub.PublishOptions) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := m.ps.Publish(ctx, topic, []byte(data), opts); err != nil {
		t.Fatalf("%s: Publish(%q): %v", m.name, topic, err)
	}
}

// next receives one message or fails after a generous guard.
func next(t *testing.T, s *pubsub.Subscription) pubsub.Message {
	t.Helper()
	select {
	case m, ok := <-s.C():
		if !ok {
			t.Fatalf("subscription %q closed", s.Pattern())
		}
		return m
	case <-time.After(20 * time.Second):
		t.Fatalf("no message on %q after 20s", s.Pattern())
	}
	panic("unreachable")
}

func expectMsg(t *testing.T, s *pubsub.Subscription, topic, data string) pubsub.Message {
	t.Helper()
	m := next(t, s)
	if m.Topic != topic || string(m.Data) != data {
		t.Fatalf("received %q=%q on %q, want %q=%q", m.Topic, m.Data, s.Pattern(), topic, data)
	}
	return m
}

func expectNone(t *testing.T, s *pubsub.Subscription) {
	t.Helper()
	select {
	case m := <-s.C():
		t.Fatalf("received %q=%q on %q, want nothing", m.Topic, m.Data, s.Pattern())
	default:
	}
}
