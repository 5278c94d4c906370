package gateway

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

// DefaultAccount is the account of keys, groups, routers and aliases when
// none is named.
const DefaultAccount = "main"

// The JSON values of the push records in a network's ledger (see doc.go for
// the keys). Unknown fields are ignored, so later versions may add some.
type (
	keyValue struct {
		Account string `json:"account"`
		// Key is the key in plain text: only records written before keys
		// were sealed have it (every member could read them: they should
		// rotate). Sealed holds the key since.
		Key    string      `json:"key,omitempty"`
		Name   string      `json:"name,omitempty"`
		Sealed []sealedKey `json:"sealed,omitempty"`
		// Exposed names the readers that lost access since the key was
		// made (removed, no longer admins or push servers): they may still
		// know it, so it should rotate. A rotation clears it.
		Exposed []string `json:"exposed,omitempty"`
	}
	// sealedKey is the key sealed to one reader (see seal.go).
	sealedKey struct {
		To  string `json:"to"`            // a user ID ("u…") or a push-server node's peer ID
		Who string `json:"who,omitempty"` // the reader's name when sealed, for listings
		Box []byte `json:"box"`
	}
	serverValue struct{} // a push-server node (key: its peer ID)
	groupValue  struct {
		Parent string `json:"parent"` // "" makes the id a root
	}
	routerValue struct{} // a router, or an id attached to one
	aliasValue  struct {
		ID string `json:"id"`
	}
)

// KeyID names a key record of the old, plain-text form: the first 16 hex
// digits of the key's SHA-256. Sealed keys get random IDs, which say
// nothing about the key.
func KeyID(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:8])
}

// LedgerStore is the KeyStore and Directory of a network's push servers:
// it reads the push records an admin wrote into the network's ledger, so
// every push server of the network knows the same keys, tree groups, mesh
// routers and aliases. It follows the ledger live: each lookup uses the
// current state (an index of it is rebuilt after the ledger changes).
//
// It knows the account keys it can open with its private key while that
// key may read them: a push-server node's key while the node is named (see
// Named), or an admin's user key while the user is an admin.
type LedgerStore struct {
	log *ledger.Log
	key ed25519.PrivateKey // nil: no account keys
	cur atomic.Pointer[index]
	mu  sync.Mutex // serializes rebuilds
}

// NewLedgerStore reads the push records of l; key (a push-server node's
// key, or an admin's user key; nil for none) opens the account keys.
func NewLedgerStore(l *ledger.Log, key ed25519.PrivateKey) *LedgerStore {
	return &LedgerStore{log: l, key: key}
}

var (
	_ KeyStore  = (*LedgerStore)(nil)
	_ Directory = (*LedgerStore)(nil)
)

// index is the push records of one ledger state, ready for lookups.
type index struct {
	st       *ledger.State
	keys     map[string]string // key → account
	opened   map[ledger.ID]string
	parent   map[acctID]string // id → parent ("" for an explicit root)
	children map[acctID][]string
	roots    map[string][]string
	routers  map[acctID][]string // existing routers → attached ids
	aliases  map[acctID]string

	foldOnce sync.Once
	fold     *foldIndex // upper-cased names, built on first use (P2Pcluster dialect)
}

func (s *LedgerStore) index() *index {
	st := s.log.State()
	if ix := s.cur.Load(); ix != nil && ix.st == st {
		return ix
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Load()
	if old != nil && old.st == st {
		return old
	}
	ix := buildIndex(st)
	var cache map[ledger.ID]string
	if old != nil {
		cache = old.opened
	}
	ix.keys, ix.opened = openKeys(st, s.key, cache)
	s.cur.Store(ix)
	return ix
}

// openKeys opens the account keys of st that key may read; cache holds
// what earlier states opened (by the put that set each record).
func openKeys(st *ledger.State, key ed25519.PrivateKey, cache map[ledger.ID]string) (keys map[string]string, opened map[ledger.ID]string) {
	keys, opened = map[string]string{}, map[ledger.ID]string{}
	if key == nil {
		return keys, opened
	}
	me := readerNames(st, key) // checked on every state: a reader may lose access
	if len(me) == 0 {
		return keys, opened
	}
	for _, r := range st.Table(ledger.TablePushKey) {
		var v keyValue
		if json.Unmarshal(r.Value, &v) != nil || !validID([]byte(v.Account)) {
			continue
		}
		k, ok := cache[r.Op]
		if ok && v.Key == "" && !slices.ContainsFunc(v.Sealed, func(sk sealedKey) bool { return slices.Contains(me, sk.To) }) {
			ok = false // sealed to a name the key no longer has
		}
		if !ok {
			if k, ok = openRecord(st, r, v, key, me); !ok {
				continue
			}
		}
		opened[r.Op] = k
		keys[k] = v.Account
	}
	return keys, opened
}

// openRecord returns the key of a key record if key, a reader under the
// names me, may read it now.
func openRecord(st *ledger.State, r *ledger.Record, v keyValue, key ed25519.PrivateKey, me []string) (string, bool) {
	if v.Key != "" { // the old plain-text form
		return v.Key, validKey([]byte(v.Key)) && r.Key == KeyID(v.Key)
	}
	for _, sk := range v.Sealed {
		if !slices.Contains(me, sk.To) {
			continue
		}
		k, err := open(key, sealInfo(st.Network, r.Key), sk.Box)
		if err == nil && validKey([]byte(k)) {
			return k, true
		}
	}
	return "", false
}

// readerNames are the names under which key may read account keys now:
// its user ID if that user is an admin, its peer ID if that node is named.
func readerNames(st *ledger.State, key ed25519.PrivateKey) []string {
	var pub [32]byte
	copy(pub[:], key.Public().(ed25519.PublicKey))
	var out []string
	if u := identity.UserID(pub); st.Role(u) >= ledger.RoleAdmin {
		out = append(out, u.String())
	}
	if p, err := node.PeerIDOf(pub); err == nil && Named(st, p) {
		out = append(out, p.String())
	}
	return out
}

// splitKey splits a record key "<account>/<name>[/<id>]"; ok is false for a
// key that is not of that shape or holds an invalid part. Records that do
// not parse are ignored: they cannot stop a push server.
func splitKey(k string, parts int) ([]string, bool) {
	f := strings.Split(k, "/")
	if len(f) != parts {
		return nil, false
	}
	for _, p := range f {
		if !validID([]byte(p)) {
			return nil, false
		}
	}
	return f, true
}

// buildIndex indexes the groups, routers and aliases of st (not the keys:
// see openKeys).
func buildIndex(st *ledger.State) *index {
	ix := &index{
		st: st, parent: map[acctID]string{},
		children: map[acctID][]string{}, roots: map[string][]string{},
		routers: map[acctID][]string{}, aliases: map[acctID]string{},
	}
	for _, r := range st.Table(ledger.TablePushGroup) {
		var v groupValue
		f, ok := splitKey(r.Key, 2)
		if !ok || json.Unmarshal(r.Value, &v) != nil || (v.Parent != "" && !validID([]byte(v.Parent))) || v.Parent == f[1] {
			continue
		}
		ix.parent[acctID{f[0], f[1]}] = v.Parent
	}
	isParent := map[acctID]bool{}
	for k, p := range ix.parent {
		if p != "" {
			pk := acctID{k.account, p}
			ix.children[pk] = append(ix.children[pk], k.id)
			isParent[pk] = true
		}
	}
	for k, p := range ix.parent {
		if p == "" {
			ix.roots[k.account] = append(ix.roots[k.account], k.id)
		}
	}
	for k := range isParent { // a parent without a record of its own is a root
		if _, ok := ix.parent[k]; !ok {
			ix.roots[k.account] = append(ix.roots[k.account], k.id)
		}
	}
	for _, ids := range ix.children {
		slices.Sort(ids)
	}
	for _, ids := range ix.roots {
		slices.Sort(ids)
	}
	recs := st.Table(ledger.TablePushRouter)
	for _, r := range recs {
		if f, ok := splitKey(r.Key, 2); ok {
			ix.routers[acctID{f[0], f[1]}] = []string{}
		}
	}
	for _, r := range recs { // sorted by key: attached ids come sorted
		f, ok := splitKey(r.Key, 3)
		if !ok {
			continue
		}
		k := acctID{f[0], f[1]}
		if ids, ok := ix.routers[k]; ok {
			ix.routers[k] = append(ids, f[2])
		}
	}
	for _, r := range st.Table(ledger.TablePushAlias) {
		var v aliasValue
		f, ok := splitKey(r.Key, 2)
		if !ok || json.Unmarshal(r.Value, &v) != nil || !validID([]byte(v.ID)) {
			continue
		}
		ix.aliases[acctID{f[0], f[1]}] = v.ID
	}
	return ix
}

// Lookup implements KeyStore.
func (s *LedgerStore) Lookup(key string) (string, bool) {
	a, ok := s.index().keys[key]
	return a, ok
}

// Parent implements Directory.
func (s *LedgerStore) Parent(account, id string) (string, bool) {
	p := s.index().parent[acctID{account, id}]
	return p, p != ""
}

// Children implements Directory; the ids are sorted.
func (s *LedgerStore) Children(account, id string) []string {
	return slices.Clone(s.index().children[acctID{account, id}])
}

// Roots implements Directory; the ids are sorted.
func (s *LedgerStore) Roots(account string) []string {
	return slices.Clone(s.index().roots[account])
}

// Router implements Directory.
func (s *LedgerStore) Router(account, name string) ([]string, bool) {
	ids, ok := s.index().routers[acctID{account, name}]
	return slices.Clone(ids), ok
}

// Alias implements Directory.
func (s *LedgerStore) Alias(account, name string) (string, bool) {
	id, ok := s.index().aliases[acctID{account, name}]
	return id, ok
}

// Change is one edit of the groups, routers and aliases of an account.
type Change struct {
	Op      string `json:"op"`                // one of the Change… constants
	Account string `json:"account,omitempty"` // "" is DefaultAccount
	ID      string `json:"id,omitempty"`      // the id the change is about
	Name    string `json:"name,omitempty"`    // the router or alias
	Parent  string `json:"parent,omitempty"`  // ChangeSetParent: "" makes ID a root
}

// Change ops.
const (
	ChangeSetParent    = "set-parent"    // ID, Parent: put ID in the tree under Parent ("" a root)
	ChangeUngroup      = "ungroup"       // ID: take ID out of the tree (its children keep it as parent)
	ChangeAddRouter    = "add-router"    // Name
	ChangeRemoveRouter = "remove-router" // Name: the router and its attachments
	ChangeAttach       = "attach"        // Name, ID: attach ID to router Name
	ChangeDetach       = "detach"        // Name, ID
	ChangeSetAlias     = "set-alias"     // Name, ID: Name names ID (also re-points it)
	ChangeRemoveAlias  = "remove-alias"  // Name
)

// Apply writes c to the ledger of w. It checks what it can against the
// current state (the router exists, no cycle in the tree); concurrent
// edits by two admins are folded by the ledger, the last put of a record
// wins, and lookups tolerate what comes out (a cycle has no roots).
func Apply(w Writer, c Change) error {
	if c.Account == "" {
		c.Account = DefaultAccount
	}
	check := func(what, v string) error {
		if !validID([]byte(v)) {
			return fmt.Errorf("gateway: %s %q: use 1 to %d letters, digits, '.', '_', '-' or '@'", what, v, MaxIDLen)
		}
		return nil
	}
	if err := check("account", c.Account); err != nil {
		return err
	}
	st := w.Ledger().State()
	ix := buildIndex(st)
	a := c.Account
	var op ledger.Op
	put := func(table, key string, v any) {
		b, _ := json.Marshal(v)
		op = ledger.Op{Kind: ledger.KindPut, Table: table, Key: key, Value: b}
	}
	del := func(table, key, what string) error {
		if st.Record(table, key) == nil {
			return fmt.Errorf("gateway: no %s in account %s", what, a)
		}
		op = ledger.Op{Kind: ledger.KindDelete, Table: table, Key: key}
		return nil
	}
	switch c.Op {
	case ChangeSetParent:
		if err := check("id", c.ID); err != nil {
			return err
		}
		if c.Parent != "" {
			if err := check("parent", c.Parent); err != nil {
				return err
			}
			for p, n := c.Parent, 0; p != "" && n <= len(ix.parent); p, n = ix.parent[acctID{a, p}], n+1 {
				if p == c.ID {
					return fmt.Errorf("gateway: %s under %s would make a cycle", c.ID, c.Parent)
				}
			}
		}
		put(ledger.TablePushGroup, a+"/"+c.ID, groupValue{Parent: c.Parent})
	case ChangeUngroup:
		if err := check("id", c.ID); err != nil {
			return err
		}
		if err := del(ledger.TablePushGroup, a+"/"+c.ID, "group entry for "+c.ID); err != nil {
			return err
		}
	case ChangeAddRouter:
		if err := check("router", c.Name); err != nil {
			return err
		}
		put(ledger.TablePushRouter, a+"/"+c.Name, routerValue{})
	case ChangeRemoveRouter:
		if err := check("router", c.Name); err != nil {
			return err
		}
		ids, ok := ix.routers[acctID{a, c.Name}]
		if !ok {
			return fmt.Errorf("gateway: no router %q in account %s", c.Name, a)
		}
		for _, id := range ids {
			if _, err := w.Append(ledger.Op{Kind: ledger.KindDelete, Table: ledger.TablePushRouter, Key: a + "/" + c.Name + "/" + id}); err != nil {
				return fmt.Errorf("gateway: detach %s: %w", id, err)
			}
		}
		op = ledger.Op{Kind: ledger.KindDelete, Table: ledger.TablePushRouter, Key: a + "/" + c.Name}
	case ChangeAttach, ChangeDetach:
		if err := check("router", c.Name); err != nil {
			return err
		}
		if err := check("id", c.ID); err != nil {
			return err
		}
		if _, ok := ix.routers[acctID{a, c.Name}]; !ok {
			return fmt.Errorf("gateway: no router %q in account %s; add it first", c.Name, a)
		}
		if c.Op == ChangeAttach {
			put(ledger.TablePushRouter, a+"/"+c.Name+"/"+c.ID, routerValue{})
		} else if err := del(ledger.TablePushRouter, a+"/"+c.Name+"/"+c.ID, c.ID+" on router "+c.Name); err != nil {
			return err
		}
	case ChangeSetAlias:
		if err := check("alias", c.Name); err != nil {
			return err
		}
		if err := check("id", c.ID); err != nil {
			return err
		}
		put(ledger.TablePushAlias, a+"/"+c.Name, aliasValue{ID: c.ID})
	case ChangeRemoveAlias:
		if err := check("alias", c.Name); err != nil {
			return err
		}
		if err := del(ledger.TablePushAlias, a+"/"+c.Name, "alias "+c.Name); err != nil {
			return err
		}
	default:
		return fmt.Errorf("gateway: unknown change %q", c.Op)
	}
	if _, err := w.Append(op); err != nil {
		return fmt.Errorf("gateway: %s: %w", c.Op, err)
	}
	return nil
}

// Records lists groups, routers and aliases for display.
type Records struct {
	Groups  []GroupInfo  `json:"groups"`
	Routers []RouterInfo `json:"routers"`
	Aliases []AliasInfo  `json:"aliases"`
}

// GroupInfo is an id's place in the tree; Parent "" is a root.
type GroupInfo struct {
	Account string `json:"account"`
	ID      string `json:"id"`
	Parent  string `json:"parent,omitempty"`
}

// RouterInfo is a mesh router and the ids attached to it.
type RouterInfo struct {
	Account string   `json:"account"`
	Name    string   `json:"name"`
	IDs     []string `json:"ids"`
}

// AliasInfo is an alias and the id it names.
type AliasInfo struct {
	Account string `json:"account"`
	Alias   string `json:"alias"`
	ID      string `json:"id"`
}

// ReadRecords lists the groups, routers and aliases of account ("" every
// account) in a ledger state, sorted.
func ReadRecords(st *ledger.State, account string) Records {
	ix := buildIndex(st)
	keep := func(a string) bool { return account == "" || a == account }
	out := Records{Groups: []GroupInfo{}, Routers: []RouterInfo{}, Aliases: []AliasInfo{}}
	for k, p := range ix.parent {
		if keep(k.account) {
			out.Groups = append(out.Groups, GroupInfo{k.account, k.id, p})
		}
	}
	for k, ids := range ix.routers {
		if keep(k.account) {
			out.Routers = append(out.Routers, RouterInfo{k.account, k.id, ids})
		}
	}
	for k, id := range ix.aliases {
		if keep(k.account) {
			out.Aliases = append(out.Aliases, AliasInfo{k.account, k.id, id})
		}
	}
	slices.SortFunc(out.Groups, func(a, b GroupInfo) int { return strings.Compare(a.Account+"/"+a.ID, b.Account+"/"+b.ID) })
	slices.SortFunc(out.Routers, func(a, b RouterInfo) int { return strings.Compare(a.Account+"/"+a.Name, b.Account+"/"+b.Name) })
	slices.SortFunc(out.Aliases, func(a, b AliasInfo) int { return strings.Compare(a.Account+"/"+a.Alias, b.Account+"/"+b.Alias) })
	return out
}
