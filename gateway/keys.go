package gateway

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

// Who may read account keys: the admins (and the owner) and the push-server
// nodes an admin named in the ledger (table push_server, key: the node's
// peer ID). Each key record holds the key sealed to each of them (see
// seal.go); every other member's copy of the ledger holds only boxes it
// cannot open. A reader that loses access (removed, demoted, its node
// removed or no longer named) may still know the keys: the records sealed
// to it (or marked Exposed by a reseal) are listed as "should rotate" until
// an admin rotates them.

// ErrNotPushServer is the error of a node that is not a push server of the
// network: no admin named it (or it is no longer a member node). Other push
// servers refuse to exchange pushes with it, and StartBridge refuses to run
// on it.
var ErrNotPushServer = errors.New("gateway: not a push server of this network")

// Writer appends ops to a network's ledger as one user; *engine.Engine is
// one. The ledger lets only the owner and admins write push records: a
// guest's write fails with a *ledger.Rejection wrapping
// ledger.ErrUnauthorized, and nothing is written.
type Writer interface {
	Ledger() *ledger.Log
	Append(op ledger.Op) (*ledger.Op, error)
}

// KeyHolder is a Writer that also holds the user's private key, so that it
// can open the account keys sealed to the user (an admin) and seal them
// again to the current readers.
type KeyHolder interface {
	Writer
	UserKey() ed25519.PrivateKey
}

// Named reports whether node p is a push server of the network: an admin
// named it in the ledger and it is a current member node.
func Named(st *ledger.State, p peer.ID) bool {
	if st.Record(ledger.TablePushServer, p.String()) == nil {
		return false
	}
	k, err := node.KeyOf(p)
	return err == nil && st.IsMemberNode(k)
}

// reader may read the account keys.
type reader struct {
	name  string // a user ID ("u…") or a node's peer ID
	label string
	pub   ed25519.PublicKey
}

// readers lists who may read the account keys in st, sorted by name.
func readers(st *ledger.State) []reader {
	var out []reader
	for u, m := range st.Members {
		if m.Role >= ledger.RoleAdmin {
			out = append(out, reader{u.String(), m.Name, u.PublicKey()})
		}
	}
	for _, r := range st.Table(ledger.TablePushServer) {
		p, err := peer.Decode(r.Key)
		if err != nil || !Named(st, p) {
			continue
		}
		k, _ := node.KeyOf(p)
		ni := st.Nodes[k]
		out = append(out, reader{p.String(), "push server " + ni.Name + " of " + memberName(st, ni.User), ed25519.PublicKey(k[:])})
	}
	slices.SortFunc(out, func(a, b reader) int { return strings.Compare(a.name, b.name) })
	return out
}

// sealValue makes the record value of key under record id, sealed to rs.
func sealValue(st *ledger.State, id string, v keyValue, key string, rs []reader) ([]byte, error) {
	v.Key, v.Sealed = "", nil
	for _, r := range rs {
		box, err := seal(r.pub, sealInfo(st.Network, id), key)
		if err != nil {
			return nil, fmt.Errorf("gateway: seal key to %s: %w", r.label, err)
		}
		v.Sealed = append(v.Sealed, sealedKey{To: r.name, Who: r.label, Box: box})
	}
	return json.Marshal(v)
}

// KeyInfo describes an account key. Key is set only by CreateKey and
// RotateKey: listings name keys by ID.
type KeyInfo struct {
	ID      string    `json:"id"`
	Account string    `json:"account"`
	Name    string    `json:"name,omitempty"`
	Key     string    `json:"key,omitempty"`
	By      string    `json:"by,omitempty"` // the member who created it
	Created time.Time `json:"created"`
	// Rotate, if set, says why the key should rotate: someone who could
	// read it no longer may (`coco push key rotate`).
	Rotate string `json:"rotate,omitempty"`
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// CreateKey adds an account key to account ("" is DefaultAccount), sealed
// to the admins and the push-server nodes. key "" makes a random one (32
// hex digits); give a key to keep one that devices already use. The
// returned KeyInfo holds the key: show it once, listings do not.
func CreateKey(w Writer, account, name, key string) (KeyInfo, error) {
	if account == "" {
		account = DefaultAccount
	}
	if !validID([]byte(account)) {
		return KeyInfo{}, fmt.Errorf("gateway: account %q: use 1 to %d letters, digits, '.', '_', '-' or '@'", account, MaxIDLen)
	}
	if key == "" {
		key = randomHex(16)
	} else if !validKey([]byte(key)) {
		return KeyInfo{}, fmt.Errorf("gateway: a key is 1 to %d letters, digits, '.', '_', '-' or '@'", MaxKeyLen)
	}
	st := w.Ledger().State()
	if kh, ok := w.(KeyHolder); ok {
		if dup, _ := openKeys(st, kh.UserKey(), nil); dup[key] != "" {
			return KeyInfo{}, errors.New("gateway: that key already exists; revoke it first to move it to another account")
		}
	}
	id := randomHex(8)
	v, err := sealValue(st, id, keyValue{Account: account, Name: name}, key, readers(st))
	if err != nil {
		return KeyInfo{}, err
	}
	op, err := w.Append(ledger.Op{Kind: ledger.KindPut, Table: ledger.TablePushKey, Key: id, Value: v})
	if err != nil {
		return KeyInfo{}, fmt.Errorf("gateway: create key: %w", err)
	}
	return KeyInfo{ID: id, Account: account, Name: name, Key: key, By: memberName(w.Ledger().State(), op.Author), Created: time.UnixMilli(op.Time)}, nil
}

// Keys lists the account keys of a ledger state without the keys
// themselves, sorted by ID; Rotate marks those that should rotate.
func Keys(st *ledger.State) []KeyInfo {
	var out []KeyInfo
	cur := map[string]bool{}
	for _, r := range readers(st) {
		cur[r.name] = true
	}
	for _, r := range st.Table(ledger.TablePushKey) {
		var v keyValue
		if json.Unmarshal(r.Value, &v) != nil {
			continue
		}
		out = append(out, KeyInfo{ID: r.Key, Account: v.Account, Name: v.Name, By: memberName(st, r.Author), Created: time.UnixMilli(r.Time), Rotate: rotateReason(v, cur)})
	}
	return out
}

// rotateReason says why the key of v should rotate, "" if it need not; cur
// holds the names of the current readers.
func rotateReason(v keyValue, cur map[string]bool) string {
	if v.Key != "" {
		return "stored in plain text: every member could read it"
	}
	who := slices.Clone(v.Exposed)
	for _, sk := range v.Sealed {
		if !cur[sk.To] && !slices.Contains(who, sk.Who) {
			who = append(who, sk.Who)
		}
	}
	if len(who) == 0 {
		return ""
	}
	return "readable by " + strings.Join(who, ", ") + ", who may no longer read it"
}

func memberName(st *ledger.State, u identity.UserID) string {
	if m, ok := st.Members[u]; ok {
		return m.Name
	}
	return u.String()
}

// findKeys returns the keys ref names: an ID (or a unique prefix of at least
// 4 digits), a name, or the key itself (if w can open it).
func findKeys(w Writer, ref string) ([]KeyInfo, error) {
	st := w.Ledger().State()
	var byKey map[ledger.ID]string // the keys w can open, by the put that set them
	if kh, ok := w.(KeyHolder); ok {
		_, byKey = openKeys(st, kh.UserKey(), nil)
	}
	var match []KeyInfo
	for _, k := range Keys(st) {
		r := st.Record(ledger.TablePushKey, k.ID)
		if k.ID == ref || k.ID == KeyID(ref) || (k.Name != "" && k.Name == ref) || (len(ref) >= 4 && strings.HasPrefix(k.ID, strings.ToLower(ref))) || (byKey[r.Op] == ref && ref != "") {
			match = append(match, k)
		}
	}
	switch len(match) {
	case 0:
		return nil, fmt.Errorf("gateway: no key %q; `coco push key list` shows them", ref)
	case 1:
		return match, nil
	}
	return nil, fmt.Errorf("gateway: %q names %d keys; give more of the ID", ref, len(match))
}

// RevokeKey removes an account key, named by its ID (or a unique prefix of
// at least 4 digits), its name, or the key itself. Push servers refuse it
// at once, sessions started with it included.
func RevokeKey(w Writer, ref string) (KeyInfo, error) {
	match, err := findKeys(w, ref)
	if err != nil {
		return KeyInfo{}, err
	}
	if _, err := w.Append(ledger.Op{Kind: ledger.KindDelete, Table: ledger.TablePushKey, Key: match[0].ID}); err != nil {
		return KeyInfo{}, fmt.Errorf("gateway: revoke key: %w", err)
	}
	return match[0], nil
}

// RotateKey gives every key of account ref (or the one key ref names, as
// RevokeKey) a new random value, sealed to the current readers. The
// records keep their IDs and names; push servers refuse the old values as
// soon as the rotation reaches their ledger. The returned KeyInfos hold the
// new keys: show them once.
func RotateKey(w KeyHolder, ref string) ([]KeyInfo, error) {
	st := w.Ledger().State()
	var match []KeyInfo
	for _, k := range Keys(st) {
		if k.Account == ref {
			match = append(match, k)
		}
	}
	if len(match) == 0 {
		var err error
		if match, err = findKeys(w, ref); err != nil {
			return nil, fmt.Errorf("%w (or give an account that has keys)", err)
		}
	}
	rs := readers(st)
	var out []KeyInfo
	for _, k := range match {
		key := randomHex(16)
		v, err := sealValue(st, k.ID, keyValue{Account: k.Account, Name: k.Name}, key, rs)
		if err != nil {
			return out, err
		}
		op, err := w.Append(ledger.Op{Kind: ledger.KindPut, Table: ledger.TablePushKey, Key: k.ID, Value: v})
		if err != nil {
			return out, fmt.Errorf("gateway: rotate key %s: %w", k.ID, err)
		}
		k.Key, k.Rotate = key, ""
		k.By, k.Created = memberName(w.Ledger().State(), op.Author), time.UnixMilli(op.Time)
		out = append(out, k)
	}
	return out, nil
}

// Reseal seals every key w can open again to the current readers, where
// they changed: a newly named push server or a new admin can then read
// them. Readers that lost access are kept in the record (Exposed) until a
// rotation. It returns how many keys it resealed and how many it could not
// open (sealed before w's user was an admin).
func Reseal(w KeyHolder) (resealed, unreadable int, err error) {
	st := w.Ledger().State()
	rs := readers(st)
	cur := map[string]bool{}
	var names []string
	for _, r := range rs {
		cur[r.name] = true
		names = append(names, r.name)
	}
	_, opened := openKeys(st, w.UserKey(), nil)
	for _, r := range st.Table(ledger.TablePushKey) {
		var v keyValue
		if json.Unmarshal(r.Value, &v) != nil || !stale(v, names) {
			continue
		}
		key, ok := opened[r.Op]
		if !ok {
			unreadable++
			continue
		}
		if v.Key != "" {
			v.Exposed = append(v.Exposed, "every member (stored in plain text)")
		}
		for _, sk := range v.Sealed {
			if !cur[sk.To] && !slices.Contains(v.Exposed, sk.Who) {
				v.Exposed = append(v.Exposed, sk.Who)
			}
		}
		b, err := sealValue(st, r.Key, v, key, rs)
		if err != nil {
			return resealed, unreadable, err
		}
		if _, err := w.Append(ledger.Op{Kind: ledger.KindPut, Table: ledger.TablePushKey, Key: r.Key, Value: b}); err != nil {
			return resealed, unreadable, fmt.Errorf("gateway: reseal key %s: %w", r.Key, err)
		}
		resealed++
	}
	return resealed, unreadable, nil
}

// stale reports whether the key of v is not sealed to exactly the readers
// names (sorted), or is in plain text.
func stale(v keyValue, names []string) bool {
	if v.Key != "" {
		return true
	}
	if len(v.Sealed) != len(names) {
		return true
	}
	for i, sk := range v.Sealed {
		if sk.To != names[i] {
			return true
		}
	}
	return false
}

// NeedsReseal reports whether Reseal with the user key key would change
// something: the user is an admin, and a key record sealed to the user (or
// in plain text) is not sealed to exactly the current readers. It opens
// nothing, so it is cheap enough to run after every ledger change.
func NeedsReseal(st *ledger.State, key ed25519.PrivateKey) bool {
	u := identity.UserIDOf(key.Public().(ed25519.PublicKey))
	if st.Role(u) < ledger.RoleAdmin {
		return false
	}
	var names []string
	for _, r := range readers(st) {
		names = append(names, r.name)
	}
	for _, r := range st.Table(ledger.TablePushKey) {
		var v keyValue
		if json.Unmarshal(r.Value, &v) != nil || !stale(v, names) {
			continue
		}
		if v.Key != "" || slices.ContainsFunc(v.Sealed, func(sk sealedKey) bool { return sk.To == u.String() }) {
			return true
		}
	}
	return false
}

// ServerInfo is a push-server node named in the ledger.
type ServerInfo struct {
	Node    string    `json:"node"` // peer ID
	Name    string    `json:"name"` // the node's name
	Owner   string    `json:"owner"`
	By      string    `json:"by"` // the admin who named it
	Created time.Time `json:"created"`
}

// Servers lists the push-server nodes of st, sorted by peer ID.
func Servers(st *ledger.State) []ServerInfo {
	out := []ServerInfo{}
	for _, r := range st.Table(ledger.TablePushServer) {
		p, err := peer.Decode(r.Key)
		if err != nil || !Named(st, p) {
			continue
		}
		k, _ := node.KeyOf(p)
		ni := st.Nodes[k]
		out = append(out, ServerInfo{Node: r.Key, Name: ni.Name, Owner: memberName(st, ni.User), By: memberName(st, r.Author), Created: time.UnixMilli(r.Time)})
	}
	return out
}

// ResolveNode finds a member node by peer ID or name.
func ResolveNode(st *ledger.State, ref string) (peer.ID, error) {
	if p, err := peer.Decode(ref); err == nil {
		if k, err := node.KeyOf(p); err == nil && st.IsMemberNode(k) {
			return p, nil
		}
		return "", fmt.Errorf("gateway: %s is not a node of this network", p.ShortString())
	}
	var found []peer.ID
	for k, ni := range st.Nodes {
		if ni.Name == ref {
			if p, err := node.PeerIDOf(k); err == nil {
				found = append(found, p)
			}
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("gateway: no node named %q; `coco status` lists the nodes with their IDs", ref)
	}
	return "", fmt.Errorf("gateway: %d nodes are named %q; give the node's ID", len(found), ref)
}

// AddServer names node p a push server of the network and seals the keys
// w can open to it.
func AddServer(w KeyHolder, p peer.ID) error {
	st := w.Ledger().State()
	if k, err := node.KeyOf(p); err != nil || !st.IsMemberNode(k) {
		return fmt.Errorf("gateway: %s is not a node of this network", p.ShortString())
	}
	if !Named(st, p) {
		v, _ := json.Marshal(serverValue{})
		if _, err := w.Append(ledger.Op{Kind: ledger.KindPut, Table: ledger.TablePushServer, Key: p.String(), Value: v}); err != nil {
			return fmt.Errorf("gateway: name push server: %w", err)
		}
	}
	_, _, err := Reseal(w)
	return err
}

// RemoveServer stops node p being a push server of the network; the keys
// it could read are marked to rotate.
func RemoveServer(w KeyHolder, p peer.ID) error {
	if w.Ledger().State().Record(ledger.TablePushServer, p.String()) == nil {
		return fmt.Errorf("gateway: %s is not a push server of this network", p.ShortString())
	}
	if _, err := w.Append(ledger.Op{Kind: ledger.KindDelete, Table: ledger.TablePushServer, Key: p.String()}); err != nil {
		return fmt.Errorf("gateway: remove push server: %w", err)
	}
	_, _, err := Reseal(w)
	return err
}
