// Package benchpair starts the two-member network every benchmark begins with.
//
// It sets up what every coconet benchmark starts from: two users in temporary homes,
// alice owning a network and bob joined to it by an invite, both nodes started on
// 127.0.0.1 — done through the public library API, as users would.
package benchpair

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/homedir"

	"github.com/coconet/coconet/ledger"
)

// Pair is alice (owner) and bob (guest) with started nodes.
type Pair struct {
	Alice, Bob *engine.Engine
	dir        string
}

// Start creates the homes under a temporary directory named after prefix
// and starts both nodes; logf (may be nil) receives their diagnostics.
func Start(ctx context.Context, prefix string, logf func(string, ...any)) (_ *Pair, err error) {
	dir, err := os.MkdirTemp("", prefix+"-")
	if err != nil {
		return nil, err
	}
	p := &Pair{dir: dir}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	ah, bh := filepath.Join(dir, "alice"), filepath.Join(dir, "bob")
	if _, err := homedir.Init(ah, "alice"); err != nil {
		return nil, err
	}
	if _, err := homedir.Init(bh, "bob"); err != nil {
		return nil, err
	}
	if _, err := homedir.CreateNetwork(ah, "bench", "user", ""); err != nil {
		return nil, err
	}
	if p.Alice, err = engine.StartIn(ctx, ah, "bench", engine.Config{ListenHost: "127.0.0.1", Logf: logf}); err != nil {
		return nil, fmt.Errorf("start alice: %w", err)
	}
	// Bob is an admin: alice's streams, services and tunnels are open to
	// the owner and admins by default.
	code, _, err := p.Alice.Invite(engine.InviteOptions{Role: ledger.RoleAdmin, TTL: time.Hour})
	if err != nil {
		return nil, fmt.Errorf("invite: %w", err)
	}
	if _, _, err := homedir.Join(ctx, bh, code, homedir.JoinOptions{Logf: logf}); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	if p.Bob, err = engine.StartIn(ctx, bh, "bench", engine.Config{ListenHost: "127.0.0.1", Logf: logf}); err != nil {
		return nil, fmt.Errorf("start bob: %w", err)
	}
	return p, nil
}

// Close stops both nodes and removes the homes.
func (p *Pair) Close() {
	if p.Bob != nil {
		p.Bob.Close()
	}
	if p.Alice != nil {
		p.Alice.Close()
	}
	os.RemoveAll(p.dir)
}
