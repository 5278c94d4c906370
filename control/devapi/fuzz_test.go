package devapi_test

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/coconet/coconet/control/devapi"
	"github.com/coconet/coconet/ledger"
)

// FuzzSigned feeds the decoders of what a stranger may send the API (a
// grant, a key revocation, a bearer key): none panics, and what decodes
// encodes back to the same bytes.
func FuzzSigned(f *testing.F) {
	owner := ed25519.NewKeyFromSeed(make([]byte, 32))
	var net ledger.NetworkID
	k, _ := devapi.NewKey()
	sc, _ := devapi.ParseScopes("nodes:write,usage:read")
	g := devapi.NewGrant(owner, net, k, sc, time.Unix(1_800_000_000, 0), time.Hour)
	f.Add(g.Marshal(), k.String())
	f.Add(devapi.RevokeKey(owner, net, k.ID, time.Unix(1_800_000_000, 0)).Marshal(), "cak_x_y")
	f.Add([]byte{1}, "")
	f.Fuzz(func(t *testing.T, b []byte, key string) {
		if g, err := devapi.UnmarshalGrant(b); err == nil {
			if !bytes.Equal(g.Marshal(), b) {
				t.Errorf("grant %x re-encodes as %x", b, g.Marshal())
			}
			g.Verify(net, g.Issuer, time.Now())
		}
		if r, err := devapi.UnmarshalKeyRevocation(b); err == nil {
			if !bytes.Equal(r.Marshal(), b) {
				t.Errorf("revocation %x re-encodes as %x", b, r.Marshal())
			}
			r.Verify(net, r.Issuer, time.Now())
		}
		if k, err := devapi.ParseKey(key); err == nil {
			if k2, err := devapi.ParseKey(k.String()); err != nil || k2.ID != k.ID || !k2.Matches(k.Hash()) {
				t.Errorf("key %q does not round-trip: %v", key, err)
			}
		}
	})
}
