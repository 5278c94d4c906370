package devapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/ledger"
)

// Namespaces of the control plane's KV that the API keeps its records in.
const (
	nsGenesis = "devapi.genesis"  // net → genesis
	nsGrants  = "devapi.grants"   // net/id → grant
	nsKeyIDs  = "devapi.keyids"   // id → net
	nsRevoked = "devapi.revoked"  // id → net, until the grant's expiry
	nsDeleg   = "devapi.deleg"    // net → delegate_service op
	nsAuth    = "devapi.authkeys" // net/id → AuthKeyInfo (JSON), until its NodeUntil
	nsLists   = "devapi.lists"    // net.rev, net.pol → chunk count; net.rev.N… → chunks
)

// listChunk is the most bytes of a list kept under one KV key (a KV value
// is at most control.MaxKVValue).
const listChunk = control.MaxKVValue - 1024

// KVStore keeps the API's records in the control plane's store (etcd when
// its replicas share one): every replica then knows every API key, and a
// revocation made on one holds on all.
func KVStore(kv control.KV, now func() time.Time) Store {
	if now == nil {
		now = time.Now
	}
	return &kvStore{kv: kv, now: now}
}

type kvStore struct {
	kv  control.KV
	now func() time.Time
}

func notFound(err error) error {
	if errors.Is(err, control.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

func (s *kvStore) Genesis(ctx context.Context, net ledger.NetworkID) ([]byte, error) {
	b, err := s.kv.Get(ctx, nsGenesis, net.String())
	return b, notFound(err)
}

func (s *kvStore) PutGenesis(ctx context.Context, net ledger.NetworkID, genesis []byte) error {
	return s.kv.Put(ctx, nsGenesis, net.String(), genesis, 0)
}

func (s *kvStore) Networks(ctx context.Context) (int, error) {
	m, err := s.kv.List(ctx, nsGenesis, "")
	if errors.Is(err, control.ErrTooMany) {
		return control.MaxKVList, nil
	}
	return len(m), err
}

func (s *kvStore) Grant(ctx context.Context, id KeyID) ([]byte, error) {
	net, err := s.kv.Get(ctx, nsKeyIDs, id.String())
	if err != nil {
		return nil, notFound(err)
	}
	b, err := s.kv.Get(ctx, nsGrants, string(net)+"/"+id.String())
	return b, notFound(err)
}

func (s *kvStore) PutGrant(ctx context.Context, net ledger.NetworkID, id KeyID, grant []byte) error {
	if err := s.kv.Put(ctx, nsGrants, net.String()+"/"+id.String(), grant, 0); err != nil {
		return err
	}
	return s.kv.Put(ctx, nsKeyIDs, id.String(), []byte(net.String()), 0)
}

func (s *kvStore) Grants(ctx context.Context, net ledger.NetworkID) ([][]byte, error) {
	m, err := s.kv.List(ctx, nsGrants, net.String()+"/")
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, len(m))
	for _, b := range m {
		out = append(out, b)
	}
	return out, nil
}

func (s *kvStore) Revoked(ctx context.Context, id KeyID) (bool, error) {
	_, err := s.kv.Get(ctx, nsRevoked, id.String())
	if errors.Is(err, control.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (s *kvStore) Revoke(ctx context.Context, net ledger.NetworkID, id KeyID, until time.Time) error {
	ttl := until.Sub(s.now()) + time.Hour
	if err := s.kv.Put(ctx, nsRevoked, id.String(), []byte(net.String()), ttl); err != nil {
		return err
	}
	return s.kv.Delete(ctx, nsGrants, net.String()+"/"+id.String())
}

func (s *kvStore) Delegation(ctx context.Context, net ledger.NetworkID) ([]byte, error) {
	b, err := s.kv.Get(ctx, nsDeleg, net.String())
	return b, notFound(err)
}

func (s *kvStore) PutDelegation(ctx context.Context, net ledger.NetworkID, op []byte) error {
	return s.kv.Put(ctx, nsDeleg, net.String(), op, 0)
}

func (s *kvStore) AuthKeys(ctx context.Context, net ledger.NetworkID) ([]AuthKeyInfo, error) {
	m, err := s.kv.List(ctx, nsAuth, net.String()+"/")
	if err != nil {
		return nil, err
	}
	out := make([]AuthKeyInfo, 0, len(m))
	for k, b := range m {
		var a AuthKeyInfo
		if json.Unmarshal(b, &a) == nil && strings.HasSuffix(k, a.ID) {
			out = append(out, a)
		}
	}
	return out, nil
}

func (s *kvStore) PutAuthKey(ctx context.Context, net ledger.NetworkID, k AuthKeyInfo) error {
	b, err := json.Marshal(k)
	if err != nil {
		return err
	}
	return s.kv.Put(ctx, nsAuth, net.String()+"/"+k.ID, b, k.NodeUntil.Sub(s.now()))
}

func (s *kvStore) Lists(ctx context.Context, net ledger.NetworkID) (rev, pol []byte, err error) {
	if rev, err = s.getChunked(ctx, net.String()+".rev"); err != nil {
		return nil, nil, err
	}
	if pol, err = s.getChunked(ctx, net.String()+".pol"); err != nil {
		return nil, nil, err
	}
	return rev, pol, nil
}

func (s *kvStore) PutLists(ctx context.Context, net ledger.NetworkID, rev, pol []byte) error {
	if rev != nil {
		if err := s.putChunked(ctx, net.String()+".rev", rev); err != nil {
			return err
		}
	}
	if pol != nil {
		return s.putChunked(ctx, net.String()+".pol", pol)
	}
	return nil
}

// putChunked writes b in chunks under name.<gen>.<i>, then the header
// name = "<gen> <n>", so a reader never sees a half-written list; the
// previous generation's chunks are deleted after.
func (s *kvStore) putChunked(ctx context.Context, name string, b []byte) error {
	old, _ := s.kv.Get(ctx, nsLists, name)
	gen := s.now().UnixNano()
	n := 0
	for off := 0; off < len(b) || n == 0; off += listChunk {
		end := min(off+listChunk, len(b))
		if err := s.kv.Put(ctx, nsLists, fmt.Sprintf("%s.%d.%d", name, gen, n), b[off:end], 0); err != nil {
			return err
		}
		n++
	}
	if err := s.kv.Put(ctx, nsLists, name, []byte(fmt.Sprintf("%d %d", gen, n)), 0); err != nil {
		return err
	}
	var og, on int64
	if _, err := fmt.Sscanf(string(old), "%d %d", &og, &on); err == nil && og != gen {
		for i := range on {
			s.kv.Delete(ctx, nsLists, fmt.Sprintf("%s.%d.%d", name, og, i))
		}
	}
	return nil
}

func (s *kvStore) getChunked(ctx context.Context, name string) ([]byte, error) {
	h, err := s.kv.Get(ctx, nsLists, name)
	if errors.Is(err, control.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var gen, n int64
	if _, err := fmt.Sscanf(string(h), "%d %d", &gen, &n); err != nil || n <= 0 || n > 64 {
		return nil, fmt.Errorf("%w: list header %q", ErrMalformed, h)
	}
	var out []byte
	for i := range n {
		b, err := s.kv.Get(ctx, nsLists, fmt.Sprintf("%s.%d.%d", name, gen, i))
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, nil
}
