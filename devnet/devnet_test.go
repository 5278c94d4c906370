package devnet

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

var t0 = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

func key(name string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte("coconet/devnet test key " + name))
	return ed25519.NewKeyFromSeed(s[:])
}

func uidOf(k ed25519.PrivateKey) identity.UserID { return identity.UserID(pubOf(k)) }

// world is a developer network with its ledger: the owner "dev", a service
// key "enroller" with only ScopeEnroll and "control" with every scope.
type world struct {
	log        *ledger.Log
	genesis    *ledger.Op
	owner      ed25519.PrivateKey
	enroller   ed25519.PrivateKey
	enrollOp   *ledger.Op
	control    ed25519.PrivateKey
	controlOp  *ledger.Op
	anchor     *Anchor // without the ledger, as a control plane has it
	nodeAnchor *Anchor // from the ledger, as a node has it
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{owner: key("dev"), enroller: key("enroller"), control: key("control")}
	g := &ledger.Op{V: ledger.Version, Time: t0.UnixMilli(), Kind: ledger.KindGenesis, SubjectName: "dev",
		Name: "chat", NetKind: ledger.NetKindDeveloper, Nonce: make([]byte, ledger.NonceSize)}
	g.Sign(w.owner)
	w.genesis = g
	l, err := ledger.Init(t.TempDir(), g, &ledger.Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatalf("ledger.Init: %v", err)
	}
	w.log = l
	exp := t0.Add(30 * 24 * time.Hour).Unix()
	w.enrollOp, err = l.Append(w.owner, ledger.Op{Kind: ledger.KindDelegateService, Subject: uidOf(w.enroller), Scopes: ledger.ScopeEnroll, Expires: exp})
	if err != nil {
		t.Fatalf("delegate enroller: %v", err)
	}
	w.controlOp, err = l.Append(w.owner, ledger.Op{Kind: ledger.KindDelegateService, Subject: uidOf(w.control), Scopes: ledger.ScopeAll, Expires: exp})
	if err != nil {
		t.Fatalf("delegate control: %v", err)
	}
	if w.anchor, err = AnchorOf(g); err != nil {
		t.Fatalf("AnchorOf: %v", err)
	}
	if w.nodeAnchor, err = AnchorFromState(l.State()); err != nil {
		t.Fatalf("AnchorFromState: %v", err)
	}
	return w
}

func (w *world) authKey(t testing.TB, issuer ed25519.PrivateKey, d *ledger.Op, o AuthKeyOptions) *AuthKey {
	t.Helper()
	k, err := NewAuthKey(issuer, d, w.genesis, o, t0)
	if err != nil {
		t.Fatalf("NewAuthKey: %v", err)
	}
	return k
}

func nodeKey(name string) [32]byte { return pubOf(key("node " + name)) }

// The user story: the owner (offline) or a service key with enroll scope
// mints an auth key; its string enrols a node, whose credential verifies
// at a node (with the ledger) and at a control plane (genesis only).
func TestAuthKeyEnrollsNode(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name   string
		issuer ed25519.PrivateKey
		d      *ledger.Op
	}{{"owner", w.owner, nil}, {"service key", w.enroller, w.enrollOp}} {
		t.Run(tc.name, func(t *testing.T) {
			k := w.authKey(t, tc.issuer, tc.d, AuthKeyOptions{Reusable: true, Ephemeral: true, Tags: []string{"Server", "eu"}, Control: []string{"/ip4/127.0.0.1/tcp/1/p2p/x"}})
			s := k.String()
			k2, err := ParseAuthKey(s, t0.Add(time.Hour))
			if err != nil {
				t.Fatalf("ParseAuthKey(String()) = %v", err)
			}
			if k2.ID() != k.ID() || len(k2.Control) != 1 {
				t.Fatalf("ParseAuthKey round trip lost fields: %+v", k2)
			}
			c := k2.Enroll(nodeKey("a"), t0.Add(time.Hour))
			b := c.Marshal()
			c2, err := UnmarshalNodeCred(b)
			if err != nil {
				t.Fatalf("UnmarshalNodeCred: %v", err)
			}
			for _, a := range []*Anchor{w.anchor, w.nodeAnchor} {
				m, err := c2.Verify(a, nodeKey("a"), t0.Add(2*time.Hour))
				if err != nil {
					t.Fatalf("Verify = %v", err)
				}
				if !m.Ephemeral || len(m.Tags) != 2 || m.Tags[0] != "eu" || m.AuthKey != k.ID() || m.Issuer != uidOf(tc.issuer) {
					t.Errorf("Verify = %+v, want ephemeral, tags [eu server]", m)
				}
			}
			p := &Proof{V: Version, Genesis: w.genesis.Marshal(), Cred: *c}
			p2, err := UnmarshalProof(p.Marshal())
			if err != nil {
				t.Fatalf("UnmarshalProof: %v", err)
			}
			if _, a, err := p2.Verify(nodeKey("a"), t0.Add(2*time.Hour)); err != nil || a.Net != w.anchor.Net {
				t.Fatalf("Proof.Verify = %v", err)
			}
			// The credential outlives the auth key's enrolment window.
			if _, err := c.Verify(w.anchor, nodeKey("a"), t0.Add(48*time.Hour)); err != nil {
				t.Errorf("Verify after the auth key's expiry = %v, want nil", err)
			}
			if _, err := ParseAuthKey(s, t0.Add(25*time.Hour)); !errors.Is(err, ErrExpired) {
				t.Errorf("ParseAuthKey past its expiry = %v, want ErrExpired", err)
			}
		})
	}
}

// Attacks on the chain: every one refused with its error.
func TestCredentialAttacks(t *testing.T) {
	w := newWorld(t)
	k := w.authKey(t, w.owner, nil, AuthKeyOptions{Tags: []string{"client"}, Expiry: time.Hour, NodeValidity: 24 * time.Hour})
	now := t0.Add(10 * time.Minute)
	good := func() *NodeCred { return k.Enroll(nodeKey("a"), now) }
	other := func() *world { // another developer network
		o := &world{owner: key("mallory")}
		g := &ledger.Op{V: ledger.Version, Time: t0.UnixMilli(), Kind: ledger.KindGenesis, Name: "chat", NetKind: ledger.NetKindDeveloper, Nonce: make([]byte, ledger.NonceSize)}
		g.Sign(o.owner)
		o.genesis = g
		o.anchor, _ = AnchorOf(g)
		return o
	}()
	otherKey, _ := NewAuthKey(other.owner, nil, other.genesis, AuthKeyOptions{}, t0)

	for _, tc := range []struct {
		name string
		cred func() *NodeCred
		node [32]byte
		at   time.Time
		want error
	}{
		{"expired", good, nodeKey("a"), t0.Add(26 * time.Hour), ErrExpired},
		{"another node's credential", good, nodeKey("b"), now, ErrWrongNode},
		{"another network's credential", func() *NodeCred { return otherKey.Enroll(nodeKey("a"), now) }, nodeKey("a"), now, ErrWrongNetwork},
		{"tags added by the node", func() *NodeCred {
			c := good()
			c.Tags = []string{"admin", "client"}
			c.Sig = sign(k.enrollKey(), credDomain, c.unsigned()) // the holder of the auth key re-signs
			return c
		}, nodeKey("a"), now, ErrNotAuthorized},
		{"tampered auth key tags", func() *NodeCred {
			c := good()
			c.AuthKey.Tags = []string{"admin", "client"}
			c.Sig = sign(k.enrollKey(), credDomain, c.unsigned())
			return c
		}, nodeKey("a"), now, ErrBadSignature},
		{"tampered credential", func() *NodeCred {
			c := good()
			c.Node = nodeKey("b")
			return c
		}, nodeKey("b"), now, ErrBadSignature},
		{"lifetime past the auth key's limit", func() *NodeCred {
			c := good()
			c.Expires = c.AuthKey.NodeUntil + 3600
			c.Sig = sign(k.enrollKey(), credDomain, c.unsigned())
			return c
		}, nodeKey("a"), now, ErrExpired},
		{"backdated before its auth key", func() *NodeCred {
			c := good()
			c.Issued = c.AuthKey.Issued - 3600
			c.Sig = sign(k.enrollKey(), credDomain, c.unsigned())
			return c
		}, nodeKey("a"), now, ErrExpired},
		{"auth key self-signed by a stranger", func() *NodeCred {
			c := good()
			c.AuthKey.Sign(key("mallory"), nil)
			c.Sig = sign(k.enrollKey(), credDomain, c.unsigned())
			return c
		}, nodeKey("a"), now, ErrNotAuthorized},
		{"stranger claims to be the owner", func() *NodeCred {
			c := good()
			c.AuthKey.Sign(key("mallory"), nil)
			c.AuthKey.Issuer = w.anchor.Owner
			c.Sig = sign(k.enrollKey(), credDomain, c.unsigned())
			return c
		}, nodeKey("a"), now, ErrBadSignature},
		{"stranger with a delegation it wrote itself", func() *NodeCred {
			c := good()
			d := w.enrollOp.Clone()
			d.Subject = uidOf(key("mallory"))
			d.Sign(key("mallory"))
			c.AuthKey.Sign(key("mallory"), d)
			c.Sig = sign(k.enrollKey(), credDomain, c.unsigned())
			return c
		}, nodeKey("a"), now, ErrNotAuthorized},
		{"stranger with another key's delegation", func() *NodeCred {
			c := good()
			c.AuthKey.Sign(key("mallory"), w.enrollOp)
			c.Sig = sign(k.enrollKey(), credDomain, c.unsigned())
			return c
		}, nodeKey("a"), now, ErrNotAuthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, a := range []*Anchor{w.anchor, w.nodeAnchor} {
				c := tc.cred()
				c2, err := UnmarshalNodeCred(c.Marshal())
				if err != nil {
					t.Fatalf("UnmarshalNodeCred = %v", err)
				}
				if _, err := c2.Verify(a, tc.node, tc.at); !errors.Is(err, tc.want) {
					t.Errorf("Verify = %v, want %v", err, tc.want)
				}
			}
		})
	}
}

// A service key with only enroll scope mints auth keys, but cannot sign a
// revocation list or a policy, nor speak as the owner; a revoked service
// key's auth keys stop working on nodes that hold the ledger's revocation
// and everywhere once the owner's list names it.
func TestServiceKeyScopes(t *testing.T) {
	w := newWorld(t)
	now := t0.Add(time.Minute)
	r := &Revocations{Net: w.anchor.Net, Version: 1, Issued: now.Unix(), Nodes: [][32]byte{nodeKey("a")}}
	r.Sign(w.enroller, w.enrollOp)
	if err := r.Verify(w.anchor, now); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("enroll-only key's revocation list: Verify = %v, want ErrNotAuthorized", err)
	}
	p := &Policy{Net: w.anchor.Net, Version: 1, Issued: now.Unix()}
	p.Sign(w.enroller, w.enrollOp)
	if err := p.Verify(w.anchor, now); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("enroll-only key's policy: Verify = %v, want ErrNotAuthorized", err)
	}
	// Forging the owner: the enroller signs and names the owner as issuer.
	r.Issuer, r.Delegation = w.anchor.Owner, nil
	r.Sig = sign(w.enroller, revocationsDomain, r.unsigned())
	if err := r.Verify(w.anchor, now); !errors.Is(err, ErrBadSignature) {
		t.Errorf("enroller's list claiming the owner: Verify = %v, want ErrBadSignature", err)
	}
	// A service key with revoke scope cannot revoke a service key.
	r2 := &Revocations{Net: w.anchor.Net, Version: 1, Issued: now.Unix(), Services: [][32]byte{pubOf(w.enroller)}}
	r2.Sign(w.control, w.controlOp)
	if err := r2.Verify(w.anchor, now); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("service key's list revoking a service key: Verify = %v, want ErrNotAuthorized", err)
	}
	// The control key (every scope) signs both.
	r3 := &Revocations{Net: w.anchor.Net, Version: 1, Issued: now.Unix(), Nodes: [][32]byte{nodeKey("a")}}
	r3.Sign(w.control, w.controlOp)
	if err := r3.Verify(w.anchor, now); err != nil {
		t.Errorf("control key's list: Verify = %v", err)
	}
	// Minting with the wrong scope fails at once.
	if _, err := NewAuthKey(w.control, w.enrollOp, w.genesis, AuthKeyOptions{}, now); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("NewAuthKey with another key's delegation = %v, want ErrNotAuthorized", err)
	}

	// Revoking the enroller: in the ledger (nodes see it at once) ...
	k := w.authKey(t, w.enroller, w.enrollOp, AuthKeyOptions{})
	c := k.Enroll(nodeKey("a"), now)
	if _, err := w.log.Append(w.owner, ledger.Op{Kind: ledger.KindRevokeService, Subject: uidOf(w.enroller)}); err != nil {
		t.Fatal(err)
	}
	na, _ := AnchorFromState(w.log.State())
	if _, err := c.Verify(na, nodeKey("a"), now); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("credential under a service key revoked in the ledger: Verify = %v, want ErrNotAuthorized", err)
	}
	// ... and in the owner's list (control planes without the ledger).
	m, err := c.Verify(w.anchor, nodeKey("a"), now)
	if err != nil {
		t.Fatal(err)
	}
	ro := &Revocations{Net: w.anchor.Net, Version: 2, Issued: now.Unix(), Services: [][32]byte{pubOf(w.enroller)}}
	ro.Sign(w.owner, nil)
	if err := ro.Verify(w.anchor, now); err != nil || !ro.Covers(m) {
		t.Errorf("owner's list revoking the enroller: Verify = %v, Covers = %v, want nil, true", err, ro.Covers(m))
	}
}

// Revocation by node key and by auth key; newer lists win, older and
// equal versions are refused, whoever offers them.
func TestRevocationsAndStore(t *testing.T) {
	w := newWorld(t)
	now := t0.Add(time.Minute)
	k := w.authKey(t, w.owner, nil, AuthKeyOptions{Reusable: true})
	ma, _ := k.Enroll(nodeKey("a"), now).Verify(w.anchor, nodeKey("a"), now)
	mb, _ := k.Enroll(nodeKey("b"), now).Verify(w.anchor, nodeKey("b"), now)
	s := NewStore(func() *Anchor { return w.anchor }, func() time.Time { return now })

	v1 := &Revocations{Net: w.anchor.Net, Version: 1, Issued: now.Unix(), Nodes: [][32]byte{nodeKey("a")}}
	v1.Sign(w.control, w.controlOp)
	v2 := &Revocations{Net: w.anchor.Net, Version: 2, Issued: now.Unix(), Nodes: [][32]byte{nodeKey("a")}, AuthKeys: [][32]byte{k.ID()}}
	v2.Sign(w.control, w.controlOp)
	if err := s.OfferRevocations(v2); err != nil {
		t.Fatalf("OfferRevocations(v2) = %v", err)
	}
	if !s.Revocations().Covers(ma) || !s.Revocations().Covers(mb) {
		t.Error("v2 does not cover node a (by key) and node b (by auth key)")
	}
	if err := s.OfferRevocations(v1); !errors.Is(err, ErrStale) {
		t.Errorf("OfferRevocations(older v1) = %v, want ErrStale", err)
	}
	v2b := &Revocations{Net: w.anchor.Net, Version: 2, Issued: now.Unix()}
	v2b.Sign(w.owner, nil)
	if err := s.OfferRevocations(v2b); !errors.Is(err, ErrStale) {
		t.Errorf("OfferRevocations(another v2) = %v, want ErrStale", err)
	}
	if v, _ := s.Versions(); v != 2 {
		t.Errorf("Versions = %d, want 2", v)
	}
	// A forged newer list is refused and changes nothing.
	v3 := &Revocations{Net: w.anchor.Net, Version: 3, Issued: now.Unix()}
	v3.Sign(key("mallory"), nil)
	if err := s.OfferRevocations(v3); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("OfferRevocations(forged v3) = %v, want ErrNotAuthorized", err)
	}
	if v, _ := s.Versions(); v != 2 {
		t.Errorf("after a forged v3, Versions = %d, want 2", v)
	}

	// The policy: tags that may talk.
	p1 := &Policy{Net: w.anchor.Net, Version: 1, Issued: now.Unix(), Rules: []Rule{{From: "client", To: "server"}, {From: "*", To: "ops"}}}
	p1.Sign(w.control, w.controlOp)
	if err := s.OfferPolicy(p1); err != nil {
		t.Fatalf("OfferPolicy = %v", err)
	}
	pol := s.Policy()
	for _, tc := range []struct {
		from, to []string
		want     bool
	}{
		{[]string{"client"}, []string{"server"}, true},
		{[]string{"server"}, []string{"client"}, false},
		{nil, []string{"ops", "x"}, true},
		{[]string{"client"}, nil, false},
	} {
		if got := pol.Allows(tc.from, tc.to); got != tc.want {
			t.Errorf("Allows(%v, %v) = %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
	if !(*Policy)(nil).Allows(nil, nil) {
		t.Error("no policy must allow everything")
	}
	p0 := &Policy{Net: w.anchor.Net, Version: 1, Issued: now.Unix()}
	p0.Sign(w.owner, nil)
	if err := s.OfferPolicy(p0); !errors.Is(err, ErrStale) {
		t.Errorf("OfferPolicy(equal version) = %v, want ErrStale", err)
	}
}

// The one-off hook: the first node wins, the same node may come back.
func TestClaims(t *testing.T) {
	w := newWorld(t)
	k := w.authKey(t, w.owner, nil, AuthKeyOptions{})
	now := t0.Add(time.Minute)
	c := &MemClaims{Now: func() time.Time { return now }}
	ma, _ := k.Enroll(nodeKey("a"), now).Verify(w.anchor, nodeKey("a"), now)
	mb, _ := k.Enroll(nodeKey("b"), now).Verify(w.anchor, nodeKey("b"), now)
	if err := Check(c, ma); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := Check(c, ma); err != nil {
		t.Fatalf("same node again: %v", err)
	}
	if err := Check(c, mb); !errors.Is(err, ErrUsed) {
		t.Errorf("second node on a one-off key: %v, want ErrUsed", err)
	}
	r := w.authKey(t, w.owner, nil, AuthKeyOptions{Reusable: true})
	ra, _ := r.Enroll(nodeKey("a"), now).Verify(w.anchor, nodeKey("a"), now)
	rb, _ := r.Enroll(nodeKey("b"), now).Verify(w.anchor, nodeKey("b"), now)
	if Check(c, ra) != nil || Check(c, rb) != nil {
		t.Error("a reusable key must enrol several nodes")
	}
}

// Strict decoding: non-canonical and trailing bytes are refused; a user
// network's genesis anchors nothing.
func TestStrictDecoding(t *testing.T) {
	w := newWorld(t)
	k := w.authKey(t, w.owner, nil, AuthKeyOptions{Tags: []string{"a"}})
	b := k.Enroll(nodeKey("a"), t0).Marshal()
	if _, err := UnmarshalNodeCred(append(b, 0)); !errors.Is(err, ErrMalformed) {
		t.Errorf("trailing byte: %v, want ErrMalformed", err)
	}
	if _, err := UnmarshalNodeCred(b[:len(b)-1]); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated: %v, want ErrMalformed", err)
	}
	// 0xb9 0x00 0x09: a map length in a long form.
	long := append([]byte{0xb9, 0x00, b[0] & 0x1f}, b[1:]...)
	if _, err := UnmarshalNodeCred(long); !errors.Is(err, ErrMalformed) {
		t.Errorf("long form: %v, want ErrMalformed", err)
	}
	u := &ledger.Op{V: ledger.Version, Time: t0.UnixMilli(), Kind: ledger.KindGenesis, Name: "home", NetKind: ledger.NetKindUser, Nonce: make([]byte, ledger.NonceSize)}
	u.Sign(w.owner)
	if _, err := AnchorOf(u); !errors.Is(err, ErrNotDeveloper) {
		t.Errorf("AnchorOf(user genesis) = %v, want ErrNotDeveloper", err)
	}
	if _, err := NormalizeTags([]string{"Bad Tag"}); !errors.Is(err, ErrMalformed) {
		t.Errorf("NormalizeTags(bad) = %v, want ErrMalformed", err)
	}
}

// A service key's string carries what it needs to mint auth keys and sign
// lists within its scopes.
func TestServiceKeyString(t *testing.T) {
	w := newWorld(t)
	sk, err := NewServiceKey(w.enroller, w.enrollOp, w.genesis, t0)
	if err != nil {
		t.Fatal(err)
	}
	sk2, err := ParseServiceKey(sk.String(), t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("ParseServiceKey = %v", err)
	}
	if sk2.ID() != uidOf(w.enroller) || sk2.Scopes() != ledger.ScopeEnroll {
		t.Errorf("ParseServiceKey round trip: %s %s", sk2.ID().Short(), ledger.ScopeString(sk2.Scopes()))
	}
	k, err := sk2.NewAuthKey(AuthKeyOptions{}, t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("NewAuthKey = %v", err)
	}
	if _, err := k.Enroll(nodeKey("a"), t0.Add(time.Minute)).Verify(w.anchor, nodeKey("a"), t0.Add(time.Minute)); err != nil {
		t.Errorf("a credential under the service key's auth key: %v", err)
	}
	r := &Revocations{Net: w.anchor.Net, Version: 1, Issued: t0.Unix()}
	sk2.SignRevocations(r)
	if err := r.Verify(w.anchor, t0.Add(time.Minute)); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("enrol-only service key's list: %v, want ErrNotAuthorized", err)
	}
	// Another key's delegation does not make a service key.
	if _, err := NewServiceKey(w.control, w.enrollOp, w.genesis, t0); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("NewServiceKey with another key's delegation = %v, want ErrNotAuthorized", err)
	}
	if _, err := ParseServiceKey(sk.String(), t0.Add(31*24*time.Hour)); !errors.Is(err, ErrExpired) {
		t.Errorf("ParseServiceKey past the delegation = %v, want ErrExpired", err)
	}
}
