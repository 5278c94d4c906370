package ledger

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coconet/coconet/identity"
)

// t0 is the start of every test clock.
var t0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

var (
	testKeys    sync.Map // name → ed25519.PrivateKey; deriving keys is slow
	testPrivs   sync.Map // public key [32]byte → ed25519.PrivateKey of every test key
	testInvites sync.Map // invite op ID → its InviteKey, for every invite made by a helper
)

func testKey(name string) ed25519.PrivateKey {
	if k, ok := testKeys.Load(name); ok {
		return k.(ed25519.PrivateKey)
	}
	seed := sha256.Sum256([]byte("coconet/ledger test key " + name))
	k := ed25519.NewKeyFromSeed(seed[:])
	testKeys.Store(name, k)
	testPrivs.Store([32]byte(k.Public().(ed25519.PublicKey)), k)
	return k
}

func uid(k ed25519.PrivateKey) identity.UserID {
	return identity.UserIDOf(k.Public().(ed25519.PublicKey))
}

func nodeKey(name string) [32]byte {
	return [32]byte(testKey("node " + name).Public().(ed25519.PublicKey))
}

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

// testGenesis is a genesis by alice at t0.
func testGenesis(owner ed25519.PrivateKey, name string) *Op {
	g := &Op{V: Version, Time: t0.UnixMilli(), Kind: KindGenesis, SubjectName: name,
		Name: "home", NetKind: NetKindUser, Nonce: make([]byte, NonceSize)}
	g.Sign(owner)
	return g
}

// fastWrites replaces the durable writer with a plain one for the test.
func fastWrites(t testing.TB) {
	t.Helper()
	old := writeFile
	writeFile = func(path string, data []byte, perm os.FileMode) error { return os.WriteFile(path, data, perm) }
	t.Cleanup(func() { writeFile = old })
}

// newLog starts a network owned by alice in a temporary directory.
func newLog(t testing.TB, c *clock) *Log {
	t.Helper()
	l, err := Init(t.TempDir(), testGenesis(testKey("alice"), "alice"), &Options{Now: c.Now})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	return l
}

// replica opens another empty replica of l's network.
func replica(t testing.TB, l *Log, c *clock) *Log {
	t.Helper()
	g, _ := l.Get(ID(l.Network()))
	r, err := Init(t.TempDir(), g, &Options{Now: c.Now})
	if err != nil {
		t.Fatalf("Init replica: %v", err)
	}
	return r
}

func mustAppend(t testing.TB, l *Log, key ed25519.PrivateKey, o Op) *Op {
	t.Helper()
	prove(l.Network(), &o)
	op, err := l.Append(key, o)
	if err != nil {
		t.Fatalf("Append(%s %s): %v", o.Kind, uid(key).Short(), err)
	}
	if op.Kind == KindInvite {
		testInvites.Store(op.ID(), op.InviteKey)
	}
	return op
}

// prove adds the proofs an honest client adds: to a redeem, the signature
// of the invite's key (a test key, for an invite made by a helper); to an
// add_node, the node key's (a test key). A proof field set to an empty,
// non-nil slice is left out instead: that is how a test makes an op
// without its proof.
func prove(net NetworkID, o *Op) {
	if o.Kind == KindAddUser && !o.Ref.IsZero() {
		switch pub, ok := testInvites.Load(o.Ref); {
		case o.InviteSig != nil && len(o.InviteSig) == 0:
			o.InviteSig = nil
		case o.InviteSig == nil && ok:
			if k, ok := testPrivs.Load(pub); ok {
				o.InviteSig = SignRedeem(k.(ed25519.PrivateKey), net, o.Ref, o.Subject, o.Role)
			}
		}
	}
	if o.Kind == KindAddNode {
		switch k, ok := testPrivs.Load(o.Node); {
		case o.NodeSig != nil && len(o.NodeSig) == 0:
			o.NodeSig = nil
		case o.NodeSig == nil && ok:
			o.NodeSig = SignNodeProof(k.(ed25519.PrivateKey), net, o.Subject)
		}
	}
}

// build makes a signed op with explicit parents (sorted here) at time ms,
// without any check.
func build(net NetworkID, key ed25519.PrivateKey, ms int64, parents []*Op, o Op) *Op {
	o.V = Version
	o.Net = net
	o.Time = ms
	o.Parents = nil
	for _, p := range parents {
		o.Parents = append(o.Parents, p.ID())
	}
	slices.SortFunc(o.Parents, compareID)
	o.Parents = slices.Compact(o.Parents)
	prove(net, &o)
	o.Sign(key)
	if o.Kind == KindInvite {
		testInvites.Store(o.ID(), o.InviteKey)
	}
	return &o
}

// wantRejection checks that err is a *Rejection wrapping want whose reason
// contains reason.
func wantRejection(t *testing.T, what string, err error, want error, reason string) {
	t.Helper()
	var rej *Rejection
	if !errors.As(err, &rej) {
		t.Fatalf("%s = %v, want a *Rejection (%v)", what, err, want)
	}
	if !errors.Is(err, want) {
		t.Errorf("%s = %v, want it to wrap %v", what, err, want)
	}
	if !strings.Contains(rej.Reason, reason) {
		t.Errorf("%s reason = %q, want it to contain %q", what, rej.Reason, reason)
	}
}

// rejectedFor finds the rejection of op id in s.
func rejectedFor(s *State, id ID) (Rejection, bool) {
	for _, r := range s.Rejected {
		if r.Op == id {
			return r, true
		}
	}
	return Rejection{}, false
}
