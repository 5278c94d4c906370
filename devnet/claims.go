package devnet

import (
	"fmt"
	"sync"
	"time"

	"github.com/coconet/coconet/ledger"
)

// Claims remembers which node first used each one-off auth key: the hook a
// control plane calls at registration (a control plane keeping its state
// elsewhere, such as etcd, implements it there). Claim returns nil if
// node may use authKey (the first to claim it, or the same node again) and
// ErrUsed if another node did; until is when the claim may be forgotten
// (the auth key's NodeUntil: no credential made with it is valid later).
type Claims interface {
	Claim(net ledger.NetworkID, authKey, node [32]byte, until time.Time) error
}

// MemClaims is Claims in memory, forgetting claims past their until. Safe
// for concurrent use.
type MemClaims struct {
	Now func() time.Time // nil: time.Now

	mu sync.Mutex // guards following fields
	m  map[claimKey]claim
}

type claimKey struct {
	net ledger.NetworkID
	key [32]byte
}

type claim struct {
	node  [32]byte
	until time.Time
}

// Claim implements Claims.
func (c *MemClaims) Claim(net ledger.NetworkID, authKey, node [32]byte, until time.Time) error {
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[claimKey]claim)
	}
	k := claimKey{net, authKey}
	if cl, ok := c.m[k]; ok && now.Before(cl.until) && cl.node != node {
		return fmt.Errorf("%w: auth key %s enrolled node %s first", ErrUsed, shortKey(authKey), shortKey(cl.node))
	}
	c.m[k] = claim{node: node, until: until}
	if len(c.m)%1024 == 0 { // sweep now and then
		for k, cl := range c.m {
			if !now.Before(cl.until) {
				delete(c.m, k)
			}
		}
	}
	return nil
}

// Check is what a control plane does with a verified member at
// registration: a one-off auth key's first node only.
func Check(c Claims, m *Member) error {
	if m.Reusable || c == nil {
		return nil
	}
	return c.Claim(m.Net, m.AuthKey, m.Node, m.KeyUntil)
}
