package devapi

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

// Version is the wire version of grants and key revocations.
const Version = 1

// Validity limits of a grant.
const (
	DefaultKeyValidity = 90 * 24 * time.Hour
	MaxKeyValidity     = 366 * 24 * time.Hour
	ClockSkew          = 5 * time.Minute
)

const (
	idSize         = 12
	secretSize     = 32
	grantSize      = 1 + 32 + idSize + 32 + 2 + 8 + 8 + 32 + 64
	revocationSize = 1 + 32 + idSize + 8 + 32 + 64
	keyPrefix      = "cak_"

	grantDomain      = "coconet/apikey/grant/v1\x00"
	revocationDomain = "coconet/apikey/revoke/v1\x00"
	secretDomain     = "coconet/apikey/secret/v1\x00"
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Scope is a set of rights an API key carries (a bit each).
type Scope uint16

// Scopes. A write scope includes the read scope of the same thing.
const (
	ScopeNodesRead Scope = 1 << iota
	ScopeNodesWrite
	ScopeAuthKeysRead
	ScopeAuthKeysWrite
	ScopeUsageRead
	ScopeACLRead
	ScopeACLWrite
	ScopeAPIKeysRead

	scopeAll = 1<<iota - 1
)

var scopeNames = []struct {
	s    Scope
	name string
}{
	{ScopeNodesRead, "nodes:read"}, {ScopeNodesWrite, "nodes:write"},
	{ScopeAuthKeysRead, "authkeys:read"}, {ScopeAuthKeysWrite, "authkeys:write"},
	{ScopeUsageRead, "usage:read"},
	{ScopeACLRead, "acl:read"}, {ScopeACLWrite, "acl:write"},
	{ScopeAPIKeysRead, "apikeys:read"},
}

// implied adds the read scope of every write scope in s.
func (s Scope) implied() Scope {
	if s&ScopeNodesWrite != 0 {
		s |= ScopeNodesRead
	}
	if s&ScopeAuthKeysWrite != 0 {
		s |= ScopeAuthKeysRead
	}
	if s&ScopeACLWrite != 0 {
		s |= ScopeACLRead
	}
	return s
}

// Has reports whether s grants need (a write scope grants its read).
func (s Scope) Has(need Scope) bool { return s.implied()&need == need }

// Names lists the scopes in s, in a fixed order.
func (s Scope) Names() []string {
	out := []string{}
	for _, n := range scopeNames {
		if s&n.s != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

func (s Scope) String() string { return strings.Join(s.Names(), ",") }

// ParseScopes reads "nodes:write,usage:read" (commas or spaces).
func ParseScopes(text string) (Scope, error) {
	var s Scope
	for _, f := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' }) {
		i := slices.IndexFunc(scopeNames, func(n struct {
			s    Scope
			name string
		}) bool {
			return n.name == f
		})
		if i < 0 {
			return 0, fmt.Errorf("%w: %q is not a scope; use some of %s", ErrBadScope, f, Scope(scopeAll))
		}
		s |= scopeNames[i].s
	}
	if s == 0 {
		return 0, fmt.Errorf("%w: no scope given; use some of %s", ErrBadScope, Scope(scopeAll))
	}
	return s, nil
}

// KeyID names an API key; it is not secret.
type KeyID [idSize]byte

func (id KeyID) String() string { return strings.ToLower(b32.EncodeToString(id[:])) }

// ParseKeyID reads a KeyID's text.
func ParseKeyID(s string) (KeyID, error) {
	var id KeyID
	b, err := b32.DecodeString(strings.ToUpper(s))
	if err != nil || len(b) != idSize {
		return id, fmt.Errorf("%w: %q is not an API key ID", ErrMalformed, s)
	}
	copy(id[:], b)
	return id, nil
}

// MarshalText makes a KeyID a JSON string.
func (id KeyID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText reads a KeyID's text.
func (id *KeyID) UnmarshalText(b []byte) error {
	v, err := ParseKeyID(string(b))
	*id = v
	return err
}

// Key is an API key: its ID and its secret. Its String is what a
// developer's service sends as a bearer token. It is not comparable with
// == on purpose; Matches compares in constant time.
type Key struct {
	_      [0]func() // not comparable
	ID     KeyID
	secret [secretSize]byte
}

// NewKey makes a random key.
func NewKey() (*Key, error) {
	k := &Key{}
	if _, err := rand.Read(k.ID[:]); err != nil {
		return nil, err
	}
	if _, err := rand.Read(k.secret[:]); err != nil {
		return nil, err
	}
	return k, nil
}

// String is the key's text: cak_<id>_<secret>.
func (k *Key) String() string {
	return keyPrefix + k.ID.String() + "_" + strings.ToLower(b32.EncodeToString(k.secret[:]))
}

// Hash is what a grant holds instead of the secret.
func (k *Key) Hash() [32]byte {
	return sha256.Sum256(append([]byte(secretDomain), k.secret[:]...))
}

// Matches reports, in constant time, whether the key's secret hashes to h.
func (k *Key) Matches(h [32]byte) bool {
	mine := k.Hash()
	return subtle.ConstantTimeCompare(mine[:], h[:]) == 1
}

// ParseKey reads a key's text.
func ParseKey(s string) (*Key, error) {
	rest, ok := strings.CutPrefix(s, keyPrefix)
	idText, secText, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || len(s) > 128 {
		return nil, fmt.Errorf("%w: not an API key (cak_…)", ErrMalformed)
	}
	id, err := ParseKeyID(idText)
	if err != nil {
		return nil, err
	}
	sec, err := b32.DecodeString(strings.ToUpper(secText))
	if err != nil || len(sec) != secretSize {
		return nil, fmt.Errorf("%w: not an API key (cak_…)", ErrMalformed)
	}
	k := &Key{ID: id}
	copy(k.secret[:], sec)
	return k, nil
}

// Grant is the owner's signed statement that an API key (by the hash of
// its secret) may act on one network with some scopes for a while. The
// control plane stores the grant, never the secret.
type Grant struct {
	Net     ledger.NetworkID
	ID      KeyID
	Hash    [32]byte
	Scopes  Scope
	Issued  int64 // unix seconds
	Expires int64
	Issuer  identity.UserID
	Sig     []byte
}

// NewGrant makes and signs a grant of k for net with scopes, valid from now
// for validity (DefaultKeyValidity if zero), signed by the owner's key.
func NewGrant(owner ed25519.PrivateKey, net ledger.NetworkID, k *Key, scopes Scope, now time.Time, validity time.Duration) *Grant {
	if validity <= 0 {
		validity = DefaultKeyValidity
	}
	g := &Grant{Net: net, ID: k.ID, Hash: k.Hash(), Scopes: scopes, Issued: now.Unix(), Expires: now.Add(validity).Unix()}
	g.Sign(owner)
	return g
}

func (g *Grant) encode(withSig bool) []byte {
	b := make([]byte, 0, grantSize)
	b = append(b, Version)
	b = append(b, g.Net[:]...)
	b = append(b, g.ID[:]...)
	b = append(b, g.Hash[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(g.Scopes))
	b = binary.BigEndian.AppendUint64(b, uint64(g.Issued))
	b = binary.BigEndian.AppendUint64(b, uint64(g.Expires))
	b = append(b, g.Issuer[:]...)
	if withSig {
		b = append(b, pad64(g.Sig)...)
	}
	return b
}

// Marshal encodes the grant.
func (g *Grant) Marshal() []byte { return g.encode(true) }

// Sign sets Issuer and Sig.
func (g *Grant) Sign(key ed25519.PrivateKey) {
	g.Issuer = identity.UserIDOf(key.Public().(ed25519.PublicKey))
	g.Sig = ed25519.Sign(key, append([]byte(grantDomain), g.encode(false)...))
}

// ExpiresAt is Expires as a time.
func (g *Grant) ExpiresAt() time.Time { return time.Unix(g.Expires, 0) }

// Verify checks that the network's owner signed g for net, that its
// scopes are known and that it is valid at now.
func (g *Grant) Verify(net ledger.NetworkID, owner identity.UserID, now time.Time) error {
	if g.Net != net {
		return fmt.Errorf("%w: the grant is for network %s", ErrWrongNetwork, g.Net.Short())
	}
	if g.Issuer != owner {
		return fmt.Errorf("%w: the grant is signed by %s, not by the network's owner", ErrNotOwner, g.Issuer.Short())
	}
	if !ed25519.Verify(owner.PublicKey(), append([]byte(grantDomain), g.encode(false)...), g.Sig) {
		return fmt.Errorf("%w on the API key grant", ErrBadSignature)
	}
	if g.Scopes == 0 || g.Scopes&^scopeAll != 0 {
		return fmt.Errorf("%w: scopes %#x", ErrMalformed, uint16(g.Scopes))
	}
	return g.checkTimes(now)
}

// checkTimes checks the grant's validity at now (not its signature).
func (g *Grant) checkTimes(now time.Time) error {
	is, ex := time.Unix(g.Issued, 0), g.ExpiresAt()
	switch {
	case ex.Before(is) || ex.Sub(is) > MaxKeyValidity:
		return fmt.Errorf("%w: the API key is valid for %v, more than the %v allowed", ErrExpired, ex.Sub(is), MaxKeyValidity)
	case is.After(now.Add(ClockSkew)):
		return fmt.Errorf("%w: the API key's grant is issued in the future (%s); check the clocks", ErrExpired, is.UTC().Format(time.RFC3339))
	case !now.Before(ex):
		return fmt.Errorf("%w: the API key expired at %s; ask the owner for a new one (coco net apikey create)", ErrExpired, ex.UTC().Format(time.RFC3339))
	}
	return nil
}

// UnmarshalGrant decodes a grant.
func UnmarshalGrant(b []byte) (*Grant, error) {
	if len(b) != grantSize || b[0] != Version {
		return nil, fmt.Errorf("%w: grant of %d bytes", ErrMalformed, len(b))
	}
	g := &Grant{}
	b = b[1:]
	b = b[copy(g.Net[:], b):]
	b = b[copy(g.ID[:], b):]
	b = b[copy(g.Hash[:], b):]
	g.Scopes = Scope(binary.BigEndian.Uint16(b))
	g.Issued = int64(binary.BigEndian.Uint64(b[2:]))
	g.Expires = int64(binary.BigEndian.Uint64(b[10:]))
	b = b[18:]
	b = b[copy(g.Issuer[:], b):]
	g.Sig = append([]byte(nil), b...)
	return g, nil
}

// KeyRevocation is the owner's signed withdrawal of an API key.
type KeyRevocation struct {
	Net    ledger.NetworkID
	ID     KeyID
	Issued int64
	Issuer identity.UserID
	Sig    []byte
}

// RevokeKey makes and signs the revocation of key id.
func RevokeKey(owner ed25519.PrivateKey, net ledger.NetworkID, id KeyID, now time.Time) *KeyRevocation {
	r := &KeyRevocation{Net: net, ID: id, Issued: now.Unix()}
	r.Issuer = identity.UserIDOf(owner.Public().(ed25519.PublicKey))
	r.Sig = ed25519.Sign(owner, append([]byte(revocationDomain), r.encode(false)...))
	return r
}

func (r *KeyRevocation) encode(withSig bool) []byte {
	b := make([]byte, 0, revocationSize)
	b = append(b, Version)
	b = append(b, r.Net[:]...)
	b = append(b, r.ID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Issued))
	b = append(b, r.Issuer[:]...)
	if withSig {
		b = append(b, pad64(r.Sig)...)
	}
	return b
}

// Marshal encodes the revocation.
func (r *KeyRevocation) Marshal() []byte { return r.encode(true) }

// Verify checks that the network's owner signed r for net.
func (r *KeyRevocation) Verify(net ledger.NetworkID, owner identity.UserID, now time.Time) error {
	if r.Net != net {
		return fmt.Errorf("%w: the revocation is for network %s", ErrWrongNetwork, r.Net.Short())
	}
	if r.Issuer != owner {
		return fmt.Errorf("%w: the revocation is signed by %s, not by the network's owner", ErrNotOwner, r.Issuer.Short())
	}
	if !ed25519.Verify(owner.PublicKey(), append([]byte(revocationDomain), r.encode(false)...), r.Sig) {
		return fmt.Errorf("%w on the API key revocation", ErrBadSignature)
	}
	if time.Unix(r.Issued, 0).After(now.Add(ClockSkew)) {
		return fmt.Errorf("%w: the revocation is issued in the future; check the clocks", ErrExpired)
	}
	return nil
}

// UnmarshalKeyRevocation decodes a revocation.
func UnmarshalKeyRevocation(b []byte) (*KeyRevocation, error) {
	if len(b) != revocationSize || b[0] != Version {
		return nil, fmt.Errorf("%w: revocation of %d bytes", ErrMalformed, len(b))
	}
	r := &KeyRevocation{}
	b = b[1:]
	b = b[copy(r.Net[:], b):]
	b = b[copy(r.ID[:], b):]
	r.Issued = int64(binary.BigEndian.Uint64(b))
	b = b[8:]
	b = b[copy(r.Issuer[:], b):]
	r.Sig = append([]byte(nil), b...)
	return r, nil
}

// pad64 returns sig, or 64 zero bytes if it is not a signature's length,
// so an encoding always has its fixed size.
func pad64(sig []byte) []byte {
	if len(sig) == ed25519.SignatureSize {
		return sig
	}
	return make([]byte, ed25519.SignatureSize)
}
