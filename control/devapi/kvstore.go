package devapi

import (
	"context"
	"encoding/json"
	"errors"
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
)

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
