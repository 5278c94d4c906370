package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// KeyStore maps account keys to accounts. Ids live in an account: a push
// reaches only ids of the sender's account.
type KeyStore interface {
	// Lookup returns the account of key, or ok false for an unknown or
	// revoked key.
	Lookup(key string) (account string, ok bool)
}

// Directory holds the groups and aliases of each account: a tree of ids
// (roots, parents, children), mesh routers with the ids attached to them,
// and aliases naming an id. Methods must be safe for concurrent use.
type Directory interface {
	// Parent returns the parent of id, or ok false for a root or an id
	// outside the tree.
	Parent(account, id string) (parent string, ok bool)
	// Children returns the direct children of id.
	Children(account, id string) []string
	// Roots returns the ids of the tree that have no parent.
	Roots(account string) []string
	// Router returns the ids attached to a mesh router, or ok false if
	// there is no router of that name.
	Router(account, name string) (ids []string, ok bool)
	// Alias returns the id an alias names, or ok false if name is no alias.
	Alias(account, name string) (id string, ok bool)
}

// Push is a push for ids not connected to this server.
type Push struct {
	Account string
	From    string   // the sender's id, "" if it has none
	To      []string // resolved ids (aliases already replaced)
	Data    []byte
	// Loose is set for FRIENDS of an id outside the tree or at its root:
	// the push also goes to every id connected to the far server that is
	// outside the tree (From excepted).
	Loose bool
}

// Forwarder carries pushes to ids that are not connected to this server,
// e.g. to the other push servers of a network.
type Forwarder interface {
	// Forward returns how many of p.To it delivered. ErrOffline (or any
	// error) with zero delivered makes a RID push fail with OFFLINE.
	Forward(ctx context.Context, p Push) (delivered int, err error)
}

// AsyncForwarder is a Forwarder that does not make the device wait: the
// server queues the reply to a forwarded push behind the device's earlier
// replies and goes on reading its lines.
type AsyncForwarder interface {
	Forwarder
	// ForwardAsync starts forwarding p and calls done once, from another
	// goroutine or before it returns, with what Forward would return. The
	// pushes of successive calls reach each far server in that order.
	ForwardAsync(p Push, done func(delivered int, err error))
}

// ErrOffline is what a Forwarder returns when no receiver is connected anywhere.
var ErrOffline = errors.New("gateway: receiver offline")

// MemKeyStore is an in-memory KeyStore. The zero value is empty and ready.
type MemKeyStore struct {
	mu   sync.RWMutex
	keys map[string]string // key → account
}

// Add makes key a key of account.
func (m *MemKeyStore) Add(key, account string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys == nil {
		m.keys = make(map[string]string)
	}
	m.keys[key] = account
}

// Remove revokes key.
func (m *MemKeyStore) Remove(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, key)
}

// Lookup implements KeyStore.
func (m *MemKeyStore) Lookup(key string) (string, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	a, ok := m.keys[key]
	return a, ok
}

// MemDirectory is an in-memory Directory. The zero value is empty and
// ready. LedgerStore is the Directory shared by every push server of a
// network.
type MemDirectory struct {
	mu       sync.RWMutex
	accounts map[string]*memAccount
}

type memAccount struct {
	parent  map[string]string   // id → parent; "" for a root
	routers map[string][]string // router → attached ids
	aliases map[string]string   // alias → id
}

func (m *MemDirectory) accountLocked(a string) *memAccount {
	if m.accounts == nil {
		m.accounts = make(map[string]*memAccount)
	}
	acc := m.accounts[a]
	if acc == nil {
		acc = &memAccount{parent: map[string]string{}, routers: map[string][]string{}, aliases: map[string]string{}}
		m.accounts[a] = acc
	}
	return acc
}

// SetParent puts id in the tree under parent ("" makes id a root). A new
// parent becomes a root. It refuses a move that would make a cycle.
func (m *MemDirectory) SetParent(account, id, parent string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	acc := m.accountLocked(account)
	for p := parent; p != ""; p = acc.parent[p] {
		if p == id {
			return fmt.Errorf("gateway: %s under %s would make a cycle", id, parent)
		}
	}
	if _, ok := acc.parent[parent]; parent != "" && !ok {
		acc.parent[parent] = ""
	}
	acc.parent[id] = parent
	return nil
}

// AddRouter creates a mesh router with no ids attached.
func (m *MemDirectory) AddRouter(account, name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	acc := m.accountLocked(account)
	if _, ok := acc.routers[name]; !ok {
		acc.routers[name] = nil
	}
}

// Attach attaches id to router.
func (m *MemDirectory) Attach(account, router, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	acc := m.accountLocked(account)
	ids, ok := acc.routers[router]
	if !ok {
		return fmt.Errorf("gateway: no router %q; add it first", router)
	}
	if !slices.Contains(ids, id) {
		acc.routers[router] = append(ids, id)
	}
	return nil
}

// SetAlias makes name an alias of id; id "" removes the alias.
func (m *MemDirectory) SetAlias(account, name, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	acc := m.accountLocked(account)
	if id == "" {
		delete(acc.aliases, name)
		return
	}
	acc.aliases[name] = id
}

func (m *MemDirectory) read(account string) *memAccount {
	if m.accounts == nil {
		return nil
	}
	return m.accounts[account]
}

// Parent implements Directory.
func (m *MemDirectory) Parent(account, id string) (string, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	acc := m.read(account)
	if acc == nil {
		return "", false
	}
	p := acc.parent[id]
	return p, p != ""
}

// Children implements Directory; the ids are sorted.
func (m *MemDirectory) Children(account, id string) []string {
	return m.collect(account, func(_, p string) bool { return p == id })
}

// Roots implements Directory; the ids are sorted.
func (m *MemDirectory) Roots(account string) []string {
	return m.collect(account, func(_, p string) bool { return p == "" })
}

func (m *MemDirectory) collect(account string, keep func(id, parent string) bool) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	acc := m.read(account)
	if acc == nil {
		return nil
	}
	var out []string
	for id, p := range acc.parent {
		if keep(id, p) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Router implements Directory.
func (m *MemDirectory) Router(account, name string) ([]string, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	acc := m.read(account)
	if acc == nil {
		return nil, false
	}
	ids, ok := acc.routers[name]
	return slices.Clone(ids), ok
}

// Alias implements Directory.
func (m *MemDirectory) Alias(account, name string) (string, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	acc := m.read(account)
	if acc == nil {
		return "", false
	}
	id, ok := acc.aliases[name]
	return id, ok
}
