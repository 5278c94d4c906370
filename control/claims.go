package control

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/coconet/coconet/devnet"
	"github.com/coconet/coconet/ledger"
)

// storeClaims keeps the first node of each one-off auth key in the
// control plane's store, so that replicas sharing one etcd agree on it:
// the claim is an atomic create (KV.Create), and a second node of the same
// key is refused at whichever replica it registers.
type storeClaims struct{ kv KV }

const claimsNS = "devclaims"

// Claim implements devnet.Claims.
func (c storeClaims) Claim(net ledger.NetworkID, authKey, node [32]byte, until time.Time) error {
	ttl := time.Until(until)
	if ttl <= 0 {
		return nil // the key can enrol no one any more: nothing to remember
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := hex.EncodeToString(net[:]) + "." + hex.EncodeToString(authKey[:])
	held, created, err := c.kv.Create(ctx, claimsNS, key, node[:], ttl)
	if err != nil {
		return fmt.Errorf("control: remembering the one-off auth key's node: %w", err)
	}
	if created || string(held) == string(node[:]) {
		return nil
	}
	return fmt.Errorf("%w: auth key %x… enrolled node %x… first", devnet.ErrUsed, authKey[:4], held[:min(4, len(held))])
}
