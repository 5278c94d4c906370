package devapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/coconet/coconet/internal/atomicfile"
	"github.com/coconet/coconet/ledger"
)

// Store keeps what the API needs between requests: each network's genesis
// (which names its owner), the owner-signed grants of API keys, and the
// IDs of revoked keys. It holds no secret: a grant has only the hash of
// its key. Everything read from it is checked again (the genesis hashes to
// the network ID, the owner signed the grant), so a store written by
// someone else — a shared etcd, another replica — cannot make a key.
type Store interface {
	Genesis(ctx context.Context, net ledger.NetworkID) ([]byte, error) // ErrNotFound if unknown
	PutGenesis(ctx context.Context, net ledger.NetworkID, genesis []byte) error
	Networks(ctx context.Context) (int, error)           // how many genesis operations it holds
	Grant(ctx context.Context, id KeyID) ([]byte, error) // ErrNotFound if unknown
	PutGrant(ctx context.Context, net ledger.NetworkID, id KeyID, grant []byte) error
	Grants(ctx context.Context, net ledger.NetworkID) ([][]byte, error)
	// Revoked reports whether id was revoked; Revoke keeps that until
	// until (the grant's expiry), and drops the grant.
	Revoked(ctx context.Context, id KeyID) (bool, error)
	Revoke(ctx context.Context, net ledger.NetworkID, id KeyID, until time.Time) error
	// Delegation is the owner's delegate_service op for the control
	// plane's service key (ErrNotFound if none).
	Delegation(ctx context.Context, net ledger.NetworkID) ([]byte, error)
	PutDelegation(ctx context.Context, net ledger.NetworkID, op []byte) error
	// AuthKeys lists the public records of the auth keys minted here.
	AuthKeys(ctx context.Context, net ledger.NetworkID) ([]AuthKeyInfo, error)
	PutAuthKey(ctx context.Context, net ledger.NetworkID, k AuthKeyInfo) error
	// Lists are the newest revocation list and policy the API made for a
	// network (encoded; nil for none); PutLists replaces those not nil.
	Lists(ctx context.Context, net ledger.NetworkID) (rev, pol []byte, err error)
	PutLists(ctx context.Context, net ledger.NetworkID, rev, pol []byte) error
}

// fileStore is a Store in memory, saved to a JSON file (write, fsync,
// rename) after each change when it has a path. Changes are rare: keys
// are made and revoked by hand.
type fileStore struct {
	path string
	now  func() time.Time

	mu sync.Mutex // guards following fields
	st storeFile
}

type storeFile struct {
	Genesis map[ledger.NetworkID][]byte        `json:"genesis"`
	Grants  map[string]storedGrant             `json:"grants"`  // by key ID
	Revoked map[string]revokedKey              `json:"revoked"` // by key ID
	Deleg   map[ledger.NetworkID][]byte        `json:"delegations"`
	Auth    map[ledger.NetworkID][]AuthKeyInfo `json:"authkeys"`
	Rev     map[ledger.NetworkID][]byte        `json:"revocations"`
	Pol     map[ledger.NetworkID][]byte        `json:"policies"`
}

type storedGrant struct {
	Net   ledger.NetworkID `json:"net"`
	Grant []byte           `json:"grant"`
}

type revokedKey struct {
	Net   ledger.NetworkID `json:"net"`
	Until time.Time        `json:"until"`
}

// OpenFileStore opens (or creates) the store saved at path; "" keeps it in
// memory only.
func OpenFileStore(path string, now func() time.Time) (Store, error) {
	if now == nil {
		now = time.Now
	}
	s := &fileStore{path: path, now: now}
	s.st = storeFile{Genesis: map[ledger.NetworkID][]byte{}, Grants: map[string]storedGrant{}, Revoked: map[string]revokedKey{}}
	if path == "" {
		s.init()
		return s, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		s.init()
		return s, os.MkdirAll(filepath.Dir(path), 0o700)
	}
	if err != nil {
		return nil, fmt.Errorf("devapi: open store: %w", err)
	}
	if err := json.Unmarshal(b, &s.st); err != nil {
		return nil, fmt.Errorf("devapi: store %s is damaged: %w", path, err)
	}
	if s.st.Genesis == nil {
		s.st.Genesis = map[ledger.NetworkID][]byte{}
	}
	if s.st.Grants == nil {
		s.st.Grants = map[string]storedGrant{}
	}
	if s.st.Revoked == nil {
		s.st.Revoked = map[string]revokedKey{}
	}
	s.init()
	return s, nil
}

func (s *fileStore) saveLocked() error {
	now := s.now()
	for id, r := range s.st.Revoked {
		if now.After(r.Until) {
			delete(s.st.Revoked, id)
		}
	}
	if s.path == "" {
		return nil
	}
	b, err := json.Marshal(&s.st)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(s.path, b, 0o600); err != nil {
		return fmt.Errorf("devapi: save store: %w", err)
	}
	return nil
}

func (s *fileStore) Genesis(_ context.Context, net ledger.NetworkID) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.st.Genesis[net]
	if !ok {
		return nil, ErrNotFound
	}
	return g, nil
}

func (s *fileStore) PutGenesis(_ context.Context, net ledger.NetworkID, genesis []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Genesis[net] = genesis
	return s.saveLocked()
}

func (s *fileStore) Networks(_ context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.st.Genesis), nil
}

func (s *fileStore) Grant(_ context.Context, id KeyID) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.st.Grants[id.String()]
	if !ok {
		return nil, ErrNotFound
	}
	return g.Grant, nil
}

func (s *fileStore) PutGrant(_ context.Context, net ledger.NetworkID, id KeyID, grant []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Grants[id.String()] = storedGrant{Net: net, Grant: grant}
	return s.saveLocked()
}

func (s *fileStore) Grants(_ context.Context, net ledger.NetworkID) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]byte
	for _, g := range s.st.Grants {
		if g.Net == net {
			out = append(out, g.Grant)
		}
	}
	return out, nil
}

func (s *fileStore) Revoked(_ context.Context, id KeyID) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.st.Revoked[id.String()]
	return ok, nil
}

func (s *fileStore) Revoke(_ context.Context, net ledger.NetworkID, id KeyID, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Revoked[id.String()] = revokedKey{Net: net, Until: until}
	delete(s.st.Grants, id.String())
	return s.saveLocked()
}

func (s *fileStore) init() {
	if s.st.Deleg == nil {
		s.st.Deleg = map[ledger.NetworkID][]byte{}
	}
	if s.st.Auth == nil {
		s.st.Auth = map[ledger.NetworkID][]AuthKeyInfo{}
	}
	if s.st.Rev == nil {
		s.st.Rev = map[ledger.NetworkID][]byte{}
	}
	if s.st.Pol == nil {
		s.st.Pol = map[ledger.NetworkID][]byte{}
	}
}

func (s *fileStore) Lists(_ context.Context, net ledger.NetworkID) (rev, pol []byte, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Rev[net], s.st.Pol[net], nil
}

func (s *fileStore) PutLists(_ context.Context, net ledger.NetworkID, rev, pol []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rev != nil {
		s.st.Rev[net] = rev
	}
	if pol != nil {
		s.st.Pol[net] = pol
	}
	return s.saveLocked()
}

func (s *fileStore) Delegation(_ context.Context, net ledger.NetworkID) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.st.Deleg[net]
	if !ok {
		return nil, ErrNotFound
	}
	return b, nil
}

func (s *fileStore) PutDelegation(_ context.Context, net ledger.NetworkID, op []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Deleg[net] = op
	return s.saveLocked()
}

func (s *fileStore) AuthKeys(_ context.Context, net ledger.NetworkID) ([]AuthKeyInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]AuthKeyInfo(nil), s.st.Auth[net]...), nil
}

func (s *fileStore) PutAuthKey(_ context.Context, net ledger.NetworkID, k AuthKeyInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	keep := s.st.Auth[net][:0]
	for _, o := range s.st.Auth[net] {
		if now.Before(o.NodeUntil) && o.ID != k.ID {
			keep = append(keep, o)
		}
	}
	s.st.Auth[net] = append(keep, k)
	return s.saveLocked()
}
