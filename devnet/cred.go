package devnet

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

// Validity defaults and limits.
const (
	// DefaultAuthKeyExpiry is how long an auth key enrols nodes.
	DefaultAuthKeyExpiry = 24 * time.Hour
	// MaxAuthKeyExpiry is the longest an auth key may enrol nodes.
	MaxAuthKeyExpiry = 90 * 24 * time.Hour
	// DefaultNodeValidity is how long a node credential lasts past its
	// auth key's expiry at most.
	DefaultNodeValidity = 90 * 24 * time.Hour
	// MaxNodeValidity bounds DefaultNodeValidity's setting.
	MaxNodeValidity = 365 * 24 * time.Hour
)

// Signature domains.
const (
	authKeyDomain = "coconet/devnet/authkey/v1\x00"
	credDomain    = "coconet/devnet/cred/v1\x00"
)

// AuthKeyCert is the public half of an auth key: its enrollment key and
// what the credentials it signs may say, signed by the owner or by a
// service key with ledger.ScopeEnroll (Delegation then holds the owner's
// delegate_service op for it).
type AuthKeyCert struct {
	V         uint8            `cbor:"1,keyasint"`
	Net       ledger.NetworkID `cbor:"2,keyasint"`
	Key       [32]byte         `cbor:"3,keyasint"`           // enrollment public key; the auth key's ID
	Reusable  bool             `cbor:"4,keyasint,omitempty"` // false: one node only (enforced at registration, see Claims)
	Ephemeral bool             `cbor:"5,keyasint,omitempty"` // nodes vanish from listings once offline
	Tags      []string         `cbor:"6,keyasint,omitempty"` // sorted; the credentials' tags are a subset
	Issued    int64            `cbor:"7,keyasint"`
	Expires   int64            `cbor:"8,keyasint"`  // enrols nodes until then
	NodeUntil int64            `cbor:"9,keyasint"`  // credentials it signs expire at most then
	Issuer    identity.UserID  `cbor:"10,keyasint"` // owner or service key
	// Delegation is the owner's delegate_service op (ledger encoding) when
	// Issuer is a service key.
	Delegation []byte `cbor:"11,keyasint,omitempty"`
	Sig        []byte `cbor:"12,keyasint,omitempty"`
}

func (c *AuthKeyCert) unsigned() []byte {
	u := *c
	u.Sig = nil
	return marshal(&u)
}

// Sign sets Issuer and Sig; delegation is the issuer's delegate_service op
// (nil for the owner).
func (c *AuthKeyCert) Sign(issuer ed25519.PrivateKey, delegation *ledger.Op) {
	c.Issuer = identity.UserID(pubOf(issuer))
	c.Delegation = nil
	if delegation != nil {
		c.Delegation = delegation.Marshal()
	}
	c.Sig = sign(issuer, authKeyDomain, c.unsigned())
}

// Verify checks the certificate's signature and issuer chain against a at
// now, and its shape. It does not check Expires: an expired auth key's
// credentials stay valid until NodeUntil (NodeCred.Verify checks that).
func (c *AuthKeyCert) Verify(a *Anchor, now time.Time) error {
	switch {
	case c.V != Version:
		return fmt.Errorf("%w: auth key version %d (this program reads %d)", ErrMalformed, c.V, Version)
	case c.Net != a.Net:
		return fmt.Errorf("%w: auth key", ErrWrongNetwork)
	case c.Expires <= c.Issued || time.Duration(c.Expires-c.Issued)*time.Second > MaxAuthKeyExpiry:
		return fmt.Errorf("%w: auth key valid from %s to %s", ErrExpired, fmtTime(c.Issued), fmtTime(c.Expires))
	case c.NodeUntil < c.Expires || time.Duration(c.NodeUntil-c.Expires)*time.Second > MaxNodeValidity:
		return fmt.Errorf("%w: auth key's credentials valid until %s", ErrMalformed, fmtTime(c.NodeUntil))
	}
	if err := checkTags(c.Tags); err != nil {
		return err
	}
	if !verify(c.Issuer[:], authKeyDomain, c.unsigned(), c.Sig) {
		return fmt.Errorf("%w on auth key %s", ErrBadSignature, shortKey(c.Key))
	}
	if err := checkIssued("auth key", c.Issued, now); err != nil {
		return err
	}
	return a.authorize(c.Issuer, c.Delegation, ledger.ScopeEnroll, now)
}

// NodeCred is a node's credential: the node key, its tags and expiry,
// signed by an auth key's enrollment key, with that key's certificate.
type NodeCred struct {
	V         uint8            `cbor:"1,keyasint"`
	Net       ledger.NetworkID `cbor:"2,keyasint"`
	Node      [32]byte         `cbor:"3,keyasint"` // the node's Ed25519 (libp2p) key
	Tags      []string         `cbor:"4,keyasint,omitempty"`
	Ephemeral bool             `cbor:"5,keyasint,omitempty"`
	Issued    int64            `cbor:"6,keyasint"`
	Expires   int64            `cbor:"7,keyasint"`
	AuthKey   AuthKeyCert      `cbor:"8,keyasint"`
	Sig       []byte           `cbor:"9,keyasint,omitempty"` // by AuthKey.Key
}

func (c *NodeCred) unsigned() []byte {
	u := *c
	u.Sig = nil
	return marshal(&u)
}

// Marshal encodes the credential.
func (c *NodeCred) Marshal() []byte { return marshal(c) }

// UnmarshalNodeCred decodes a credential strictly (at most MaxCredSize
// bytes, canonical); Verify checks what it says.
func UnmarshalNodeCred(b []byte) (*NodeCred, error) {
	c := new(NodeCred)
	if err := unmarshal(b, MaxCredSize, c, "node credential"); err != nil {
		return nil, err
	}
	return c, nil
}

// Member is what a verified credential establishes.
type Member struct {
	Net       ledger.NetworkID
	Node      [32]byte
	Tags      []string
	Ephemeral bool
	AuthKey   [32]byte        // the auth key it was made with
	Issuer    identity.UserID // who signed the auth key
	Expires   time.Time
	// Reusable and KeyUntil are the auth key's: a one-off key's first use
	// is claimed until KeyUntil (see Claims).
	Reusable bool
	KeyUntil time.Time
}

// Verify checks the credential's chain against a, for the peer whose
// Ed25519 key is node, at now. It does not consult a revocation list
// (Revocations.Covers does).
func (c *NodeCred) Verify(a *Anchor, node [32]byte, now time.Time) (*Member, error) {
	k := &c.AuthKey
	switch {
	case c.V != Version:
		return nil, fmt.Errorf("%w: credential version %d (this program reads %d)", ErrMalformed, c.V, Version)
	case c.Net != a.Net:
		return nil, fmt.Errorf("%w: credential", ErrWrongNetwork)
	case c.Node != node:
		return nil, ErrWrongNode
	}
	if err := checkTags(c.Tags); err != nil {
		return nil, err
	}
	if err := k.Verify(a, now); err != nil {
		return nil, err
	}
	switch {
	case !subset(c.Tags, k.Tags):
		return nil, fmt.Errorf("%w: credential tags %v are not among its auth key's %v", ErrNotAuthorized, c.Tags, k.Tags)
	case c.Ephemeral != k.Ephemeral:
		return nil, fmt.Errorf("%w: credential's ephemeral flag differs from its auth key's", ErrNotAuthorized)
	case c.Issued < k.Issued || c.Issued > k.Expires:
		return nil, fmt.Errorf("%w: credential issued %s, outside its auth key's %s..%s", ErrExpired, fmtTime(c.Issued), fmtTime(k.Issued), fmtTime(k.Expires))
	case c.Expires <= c.Issued || c.Expires > k.NodeUntil:
		return nil, fmt.Errorf("%w: credential valid until %s, past its auth key's limit %s", ErrExpired, fmtTime(c.Expires), fmtTime(k.NodeUntil))
	}
	if !verify(k.Key[:], credDomain, c.unsigned(), c.Sig) {
		return nil, fmt.Errorf("%w on the credential of node %s", ErrBadSignature, shortKey(c.Node))
	}
	if err := checkIssued("credential", c.Issued, now); err != nil {
		return nil, err
	}
	if !now.Before(time.Unix(c.Expires, 0)) {
		return nil, fmt.Errorf("%w: credential of node %s expired at %s", ErrExpired, shortKey(c.Node), fmtTime(c.Expires))
	}
	return &Member{Net: c.Net, Node: c.Node, Tags: c.Tags, Ephemeral: c.Ephemeral, AuthKey: k.Key, Issuer: k.Issuer,
		Expires: time.Unix(c.Expires, 0), Reusable: k.Reusable, KeyUntil: time.Unix(k.NodeUntil, 0)}, nil
}

// AuthKeyOptions says what an auth key allows.
type AuthKeyOptions struct {
	Reusable  bool
	Ephemeral bool
	Tags      []string
	// Expiry is how long the key enrols nodes; 0 means DefaultAuthKeyExpiry.
	Expiry time.Duration
	// NodeValidity is how long past Expiry the credentials it signs last at
	// most; 0 means DefaultNodeValidity.
	NodeValidity time.Duration
	// Control lists control-plane multiaddrs (ending in /p2p/<id>) the
	// enrolled node registers at.
	Control []string
}

// AuthKey is the secret a node enrols with: the enrollment private key,
// its certificate, the network's genesis and where to register. Its
// String is what `coco net authkey create` prints.
type AuthKey struct {
	V       uint8       `cbor:"1,keyasint"`
	Seed    [32]byte    `cbor:"2,keyasint"` // Ed25519 seed of the enrollment key
	Cert    AuthKeyCert `cbor:"3,keyasint"`
	Genesis []byte      `cbor:"4,keyasint"` // the network's genesis op (ledger encoding)
	Control []string    `cbor:"5,keyasint,omitempty"`
}

// authKeyPrefix starts an auth key's string form.
const authKeyPrefix = "cocoauth1-"

// maxAuthKeyLen bounds an auth key's string form.
const maxAuthKeyLen = 16 << 10

// NewAuthKey mints an auth key for the network of genesis, signed by
// issuer: the owner (delegation nil) or a service key with ScopeEnroll
// (delegation its delegate_service op). Minting needs no server.
func NewAuthKey(issuer ed25519.PrivateKey, delegation, genesis *ledger.Op, o AuthKeyOptions, now time.Time) (*AuthKey, error) {
	a, err := AnchorOf(genesis)
	if err != nil {
		return nil, err
	}
	tags, err := NormalizeTags(o.Tags)
	if err != nil {
		return nil, err
	}
	if o.Expiry == 0 {
		o.Expiry = DefaultAuthKeyExpiry
	}
	if o.NodeValidity == 0 {
		o.NodeValidity = DefaultNodeValidity
	}
	if o.Expiry < 0 || o.Expiry > MaxAuthKeyExpiry || o.NodeValidity < 0 || o.NodeValidity > MaxNodeValidity {
		return nil, fmt.Errorf("devnet: auth key expiry %v (at most %v) or node validity %v (at most %v) out of range",
			o.Expiry, MaxAuthKeyExpiry, o.NodeValidity, MaxNodeValidity)
	}
	if len(o.Control) > MaxControl {
		return nil, fmt.Errorf("devnet: %d control planes, at most %d", len(o.Control), MaxControl)
	}
	k := &AuthKey{V: Version, Genesis: genesis.Marshal(), Control: o.Control}
	if _, err := rand.Read(k.Seed[:]); err != nil {
		return nil, fmt.Errorf("devnet: auth key: %w", err)
	}
	exp := now.Add(o.Expiry)
	k.Cert = AuthKeyCert{V: Version, Net: a.Net, Key: pubOf(k.enrollKey()), Reusable: o.Reusable, Ephemeral: o.Ephemeral, Tags: tags,
		Issued: now.Unix(), Expires: exp.Unix(), NodeUntil: exp.Add(o.NodeValidity).Unix()}
	k.Cert.Sign(issuer, delegation)
	if err := k.Cert.Verify(a, now); err != nil {
		return nil, fmt.Errorf("devnet: auth key: %w", err)
	}
	return k, nil
}

func (k *AuthKey) enrollKey() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(k.Seed[:]) }

// ID is the auth key's public enrollment key: what a revocation names and
// a listing shows.
func (k *AuthKey) ID() [32]byte { return k.Cert.Key }

// String is the auth key as one string ("cocoauth1-" and base64url).
// It is a secret: whoever holds it enrols nodes.
func (k *AuthKey) String() string {
	return authKeyPrefix + base64.RawURLEncoding.EncodeToString(marshal(k))
}

// ParseAuthKey decodes the string form and checks the key's chain against
// its genesis at now (an auth key past its Expires is refused: it enrols
// no more nodes).
func ParseAuthKey(s string, now time.Time) (*AuthKey, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, authKeyPrefix) || len(s) > maxAuthKeyLen {
		return nil, fmt.Errorf("%w: not an auth key (it starts with %q)", ErrMalformed, authKeyPrefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(s[len(authKeyPrefix):])
	if err != nil {
		return nil, fmt.Errorf("%w: auth key: %v", ErrMalformed, err)
	}
	k := new(AuthKey)
	if err := unmarshal(b, maxAuthKeyLen, k, "auth key"); err != nil {
		return nil, err
	}
	if k.V != Version {
		return nil, fmt.Errorf("%w: auth key version %d", ErrMalformed, k.V)
	}
	if len(k.Control) > MaxControl {
		return nil, fmt.Errorf("%w: %d control planes", ErrMalformed, len(k.Control))
	}
	g, err := ledger.Unmarshal(k.Genesis)
	if err != nil {
		return nil, fmt.Errorf("%w: auth key's genesis: %v", ErrMalformed, err)
	}
	a, err := AnchorOf(g)
	if err != nil {
		return nil, err
	}
	if pubOf(k.enrollKey()) != k.Cert.Key {
		return nil, fmt.Errorf("%w: auth key's secret does not match its certificate", ErrMalformed)
	}
	if err := k.Cert.Verify(a, now); err != nil {
		return nil, err
	}
	if !now.Before(time.Unix(k.Cert.Expires, 0)) {
		return nil, fmt.Errorf("%w: auth key %s expired at %s; ask the network's owner for a new one", ErrExpired, shortKey(k.Cert.Key), fmtTime(k.Cert.Expires))
	}
	return k, nil
}

// GenesisOp decodes the auth key's genesis.
func (k *AuthKey) GenesisOp() (*ledger.Op, error) { return ledger.Unmarshal(k.Genesis) }

// Enroll makes the credential of the node whose key is node, with the auth
// key's tags and flags, valid from now until the auth key's NodeUntil.
func (k *AuthKey) Enroll(node [32]byte, now time.Time) *NodeCred {
	c := &NodeCred{V: Version, Net: k.Cert.Net, Node: node, Tags: k.Cert.Tags, Ephemeral: k.Cert.Ephemeral,
		Issued: now.Unix(), Expires: k.Cert.NodeUntil, AuthKey: k.Cert}
	c.Sig = sign(k.enrollKey(), credDomain, c.unsigned())
	return c
}

// Proof is what a node of a developer network presents to a control plane
// that has no ledger: the genesis and its credential.
type Proof struct {
	V       uint8    `cbor:"1,keyasint"`
	Genesis []byte   `cbor:"2,keyasint"`
	Cred    NodeCred `cbor:"3,keyasint"`
}

// MaxProofSize is the largest encoded Proof accepted.
const MaxProofSize = ledger.MaxOpSize + MaxCredSize

// Marshal encodes the proof.
func (p *Proof) Marshal() []byte { return marshal(p) }

// UnmarshalProof decodes a proof strictly.
func UnmarshalProof(b []byte) (*Proof, error) {
	p := new(Proof)
	if err := unmarshal(b, MaxProofSize, p, "proof"); err != nil {
		return nil, err
	}
	return p, nil
}

// Verify checks the genesis (a developer network's) and the credential of
// the peer whose key is node at now; it returns the member and the
// network's anchor. The caller checks its revocation list.
func (p *Proof) Verify(node [32]byte, now time.Time) (*Member, *Anchor, error) {
	if p.V != Version {
		return nil, nil, fmt.Errorf("%w: proof version %d", ErrMalformed, p.V)
	}
	g, err := ledger.Unmarshal(p.Genesis)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: genesis: %v", ErrMalformed, err)
	}
	a, err := AnchorOf(g)
	if err != nil {
		return nil, nil, err
	}
	m, err := p.Cred.Verify(a, node, now)
	if err != nil {
		return nil, nil, err
	}
	return m, a, nil
}

func shortKey(k [32]byte) string { return fmt.Sprintf("%x", k[:6]) }
