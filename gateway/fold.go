package gateway

import "strings"

// The P2Pcluster dialect is case-insensitive: names a device sends are
// matched against the directory whatever their case. A Directory that
// implements Folder says how a name is spelled in it; a KeyStore that
// implements AccountKeys gives the key of an account user id (STCP names
// the account, not the key).

// Folder is a Directory that finds names whatever their case.
type Folder interface {
	// FoldID returns the spelling of an id or alias of account that
	// equals name when both are upper-cased (ok false: none does).
	FoldID(account, name string) (id string, ok bool)
	// FoldRouter does the same for router names.
	FoldRouter(account, name string) (router string, ok bool)
}

// AccountKeys is a KeyStore that gives the key of an account.
type AccountKeys interface {
	// AccountKey returns a key of the account whose name equals account
	// when both are upper-cased, and the account's name; with several
	// keys, the smallest.
	AccountKey(account string) (key, name string, ok bool)
}

// foldFirst returns the smallest of the names that fold to name.
func foldFirst(names func(yield func(string) bool), name string) (string, bool) {
	up := strings.ToUpper(name)
	best, ok := "", false
	for n := range names {
		if strings.ToUpper(n) == up && (!ok || n < best) {
			best, ok = n, true
		}
	}
	return best, ok
}

// FoldID implements Folder.
func (m *MemDirectory) FoldID(account, name string) (string, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	acc := m.read(account)
	if acc == nil {
		return "", false
	}
	return foldFirst(func(yield func(string) bool) {
		for id, p := range acc.parent {
			if !yield(id) || (p != "" && !yield(p)) {
				return
			}
		}
		for a, id := range acc.aliases {
			if !yield(a) || !yield(id) {
				return
			}
		}
		for _, ids := range acc.routers {
			for _, id := range ids {
				if !yield(id) {
					return
				}
			}
		}
	}, name)
}

// FoldRouter implements Folder.
func (m *MemDirectory) FoldRouter(account, name string) (string, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	acc := m.read(account)
	if acc == nil {
		return "", false
	}
	return foldFirst(func(yield func(string) bool) {
		for r := range acc.routers {
			if !yield(r) {
				return
			}
		}
	}, name)
}

// AccountKey implements AccountKeys.
func (m *MemKeyStore) AccountKey(account string) (key, name string, ok bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return accountKey(m.keys, account)
}

func accountKey(keys map[string]string, account string) (key, name string, ok bool) {
	up := strings.ToUpper(account)
	for k, a := range keys {
		if strings.ToUpper(a) == up && (!ok || k < key) {
			key, name, ok = k, a, true
		}
	}
	return key, name, ok
}

// foldIndex maps upper-cased names of a ledger index to their spelling.
type foldIndex struct {
	ids, routers map[acctID]string
}

func (ix *index) folds() *foldIndex {
	ix.foldOnce.Do(func() {
		f := &foldIndex{ids: map[acctID]string{}, routers: map[acctID]string{}}
		add := func(m map[acctID]string, account, name string) {
			k := acctID{account, strings.ToUpper(name)}
			if old, ok := m[k]; !ok || name < old {
				m[k] = name
			}
		}
		for k, p := range ix.parent {
			add(f.ids, k.account, k.id)
			if p != "" {
				add(f.ids, k.account, p)
			}
		}
		for k, id := range ix.aliases {
			add(f.ids, k.account, k.id)
			add(f.ids, k.account, id)
		}
		for k, ids := range ix.routers {
			add(f.routers, k.account, k.id)
			for _, id := range ids {
				add(f.ids, k.account, id)
			}
		}
		ix.fold = f
	})
	return ix.fold
}

// FoldID implements Folder.
func (s *LedgerStore) FoldID(account, name string) (string, bool) {
	id, ok := s.index().folds().ids[acctID{account, strings.ToUpper(name)}]
	return id, ok
}

// FoldRouter implements Folder.
func (s *LedgerStore) FoldRouter(account, name string) (string, bool) {
	r, ok := s.index().folds().routers[acctID{account, strings.ToUpper(name)}]
	return r, ok
}

// AccountKey implements AccountKeys.
func (s *LedgerStore) AccountKey(account string) (key, name string, ok bool) {
	return accountKey(s.index().keys, account)
}

var (
	_ Folder      = (*MemDirectory)(nil)
	_ Folder      = (*LedgerStore)(nil)
	_ AccountKeys = (*MemKeyStore)(nil)
	_ AccountKeys = (*LedgerStore)(nil)
)

// canonID is how the server names the id (or alias) a device sent: as
// sent in the coconet dialect; in the P2Pcluster dialect, as the
// directory spells it, or upper-cased if the directory does not know it.
func (s *Server) canonID(account, name string) string {
	if s.Dialect != DialectP2Pcluster {
		return name
	}
	if f, ok := s.Dir.(Folder); ok {
		if id, ok := f.FoldID(account, name); ok {
			return id
		}
	}
	return strings.ToUpper(name)
}

// canonRouter is canonID for router names.
func (s *Server) canonRouter(account, name string) string {
	if s.Dialect != DialectP2Pcluster {
		return name
	}
	if f, ok := s.Dir.(Folder); ok {
		if r, ok := f.FoldRouter(account, name); ok {
			return r
		}
	}
	return strings.ToUpper(name)
}

// lookupKey finds the account of a key a device sent; the P2Pcluster
// dialect takes hex keys in any case.
func (s *Server) lookupKey(key string) (account, stored string, ok bool) {
	if account, ok = s.Keys.Lookup(key); ok || s.Dialect != DialectP2Pcluster {
		return account, key, ok
	}
	for _, k := range []string{strings.ToLower(key), strings.ToUpper(key)} {
		if account, ok = s.Keys.Lookup(k); ok {
			return account, k, true
		}
	}
	return "", "", false
}
