// Package nodetest starts the member nodes of a test network on loopback, below the face.
//
// It builds the ledger directly (the owner adds each user and node), gives
// every member a replica, starts a node.Node per member on 127.0.0.1 and
// connects them all: what tests and benchmarks of the packages on top of a
// node (rpc, msg, stream, pubsub) need, without the root package.
package nodetest

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

// User is one member to create: the first one given to Start owns the
// network, and its Role is ignored.
type User struct {
	Name string
	Role ledger.Role
}

// Member is a started member node.
type Member struct {
	Name string
	Seed identity.Seed
	Log  *ledger.Log
	Node *node.Node
}

// ID is the member's user ID.
func (m *Member) ID() identity.UserID { return m.Seed.UserID() }

// Net is a network of started members; Members[0] is the owner.
type Net struct {
	Members []*Member
}

// Start creates the network under dir (which must exist) and starts and
// connects a node for each user; logf (may be nil) receives the nodes'
// diagnostics, prefixed with the user's name.
func Start(ctx context.Context, dir string, logf func(string, ...any), users ...User) (_ *Net, err error) {
	if len(users) == 0 {
		return nil, errors.New("nodetest: no users")
	}
	net := &Net{}
	defer func() {
		if err != nil {
			net.Close()
		}
	}()
	var ms []*Member
	for _, u := range users {
		s, err := identity.NewSeed()
		if err != nil {
			return nil, err
		}
		ms = append(ms, &Member{Name: u.Name, Seed: s})
	}
	owner := ms[0]
	ol, err := ledger.Create(filepath.Join(dir, owner.Name, "ledger"), owner.Seed.UserKey(), owner.Name, "test", "user")
	if err != nil {
		return nil, err
	}
	owner.Log = ol
	okey := owner.Seed.UserKey()
	for i, m := range ms {
		if i > 0 {
			if _, err := ol.Append(okey, ledger.Op{Kind: ledger.KindAddUser, Subject: m.ID(), Role: users[i].Role, SubjectName: m.Name}); err != nil {
				return nil, fmt.Errorf("nodetest: add %s: %w", m.Name, err)
			}
		}
		if _, err := ol.Append(okey, ledger.Op{Kind: ledger.KindAddNode, Subject: m.ID(), Node: nodeKey(m.Seed, ol), SubjectName: node.DefaultApp}); err != nil {
			return nil, fmt.Errorf("nodetest: add %s's node: %w", m.Name, err)
		}
	}
	genesis, _ := ol.Get(ledger.ID(ol.Network()))
	for _, m := range ms[1:] {
		l, err := ledger.Init(filepath.Join(dir, m.Name, "ledger"), genesis, nil)
		if err != nil {
			return nil, err
		}
		if _, errs := l.AddAll(ol.Ops()); errors.Join(errs...) != nil {
			return nil, fmt.Errorf("nodetest: %s's replica: %w", m.Name, errors.Join(errs...))
		}
		m.Log = l
	}
	for _, m := range ms {
		cfg := node.Config{Seed: m.Seed, UserName: m.Name, Log: m.Log, Dir: filepath.Join(dir, m.Name, "node"), ListenHost: "127.0.0.1"}
		if logf != nil {
			name := m.Name
			cfg.Logf = func(f string, a ...any) { logf(name+": "+f, a...) }
		}
		if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
			return nil, err
		}
		n, err := node.New(cfg)
		if err != nil {
			return nil, err
		}
		if err := n.Start(ctx); err != nil {
			return nil, fmt.Errorf("nodetest: start %s: %w", m.Name, err)
		}
		m.Node = n
		net.Members = append(net.Members, m)
	}
	// Each member learns the addresses of those before it, as a joiner
	// learns its inviter's, and dials them: one connection per pair (two
	// nodes dialing each other at once can end up with two, over TCP and
	// QUIC).
	for j, b := range ms {
		for _, a := range ms[:j] {
			b.Node.AddPeerAddrs([]peer.AddrInfo{{ID: a.Node.ID(), Addrs: a.Node.Host().Addrs()}})
			if err := Link(ctx, b.Node, a.Node.ID()); err != nil {
				return nil, fmt.Errorf("nodetest: %s to %s: %w", b.Name, a.Name, err)
			}
			if err := link(ctx, a.Node, b.Node.ID(), false); err != nil {
				return nil, fmt.Errorf("nodetest: %s to %s: %w", a.Name, b.Name, err)
			}
		}
	}
	return net, nil
}

func nodeKey(s identity.Seed, l *ledger.Log) [32]byte {
	var k [32]byte
	copy(k[:], s.NodeKey(l.Network(), node.DefaultApp).Public().(ed25519.PublicKey))
	return k
}

// Link connects n to member node p and waits, up to 20 s within ctx, until
// n knows p as a member and holds a connection to it.
func Link(ctx context.Context, n *node.Node, p peer.ID) error { return link(ctx, n, p, true) }

// link is Link that, without dial, only waits for p's connection.
func link(ctx context.Context, n *node.Node, p peer.ID, dial bool) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		if n.IsMember(p) && n.Host().Network().Connectedness(p) == network.Connected {
			return nil
		}
		if dial {
			n.ConnectTo(ctx, p)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not connected to member %s: %w", p.ShortString(), ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Remove removes user m from the network in the owner's ledger, as an
// owner's `coco remove` does; the owner's node then cuts m's nodes off.
func (net *Net) Remove(m *Member) error {
	o := net.Members[0]
	_, err := o.Log.Append(o.Seed.UserKey(), ledger.Op{Kind: ledger.KindRemoveUser, Subject: m.ID()})
	return err
}

// Close stops every node.
func (net *Net) Close() {
	for i := len(net.Members) - 1; i >= 0; i-- {
		net.Members[i].Node.Close()
	}
}
