package ledger

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/internal/strictcbor"
	"github.com/fxamacker/cbor/v2"
)

// ID names an operation: the SHA-256 of its canonical encoding, signature
// included.
type ID [32]byte

// String is the ID in lowercase hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short is the first 12 hex characters, for people.
func (id ID) Short() string { return id.String()[:12] }

// IsZero reports whether id is unset.
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses the form produced by String.
func ParseID(s string) (ID, error) {
	var id ID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("ledger: %q is not an operation id (64 hex characters)", s)
	}
	copy(id[:], b)
	return id, nil
}

// MarshalText implements encoding.TextMarshaler.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

func compareID(a, b ID) int { return bytes.Compare(a[:], b[:]) }

// NetworkID names a network: the ID of its genesis operation.
type NetworkID [32]byte

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// String is the ID in lowercase base32 without padding, prefixed "n".
func (n NetworkID) String() string { return "n" + strings.ToLower(b32.EncodeToString(n[:])) }

// Short is the first 12 characters of String.
func (n NetworkID) Short() string { return n.String()[:12] }

// IsZero reports whether n is unset.
func (n NetworkID) IsZero() bool { return n == NetworkID{} }

// ParseNetworkID parses the form produced by String.
func ParseNetworkID(s string) (NetworkID, error) {
	var n NetworkID
	if !strings.HasPrefix(s, "n") {
		return n, fmt.Errorf("ledger: network id %q does not start with 'n'", s)
	}
	b, err := b32.DecodeString(strings.ToUpper(s[1:]))
	if err != nil || len(b) != len(n) {
		return n, fmt.Errorf("ledger: %q is not a network id", s)
	}
	copy(n[:], b)
	return n, nil
}

// MarshalText implements encoding.TextMarshaler.
func (n NetworkID) MarshalText() ([]byte, error) { return []byte(n.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (n *NetworkID) UnmarshalText(b []byte) error {
	v, err := ParseNetworkID(string(b))
	if err != nil {
		return err
	}
	*n = v
	return nil
}

// Role is a member's role in a network: owner > admin > guest.
type Role uint8

// Roles.
const (
	RoleNone  Role = 0
	RoleGuest Role = 1
	RoleAdmin Role = 2
	RoleOwner Role = 3
)

func (r Role) String() string {
	switch r {
	case RoleNone:
		return "none"
	case RoleGuest:
		return "guest"
	case RoleAdmin:
		return "admin"
	case RoleOwner:
		return "owner"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// ParseRole parses "guest", "admin", "owner" or "none" (any case).
func ParseRole(s string) (Role, error) {
	for r := RoleNone; r <= RoleOwner; r++ {
		if strings.EqualFold(s, r.String()) {
			return r, nil
		}
	}
	return RoleNone, fmt.Errorf("ledger: unknown role %q (want guest, admin or owner)", s)
}

// Kind is the kind of an operation.
type Kind string

// Operation kinds and the fields each one uses.
const (
	KindGenesis      Kind = "genesis"       // Name (network name), NetKind ("user"|"developer"), Nonce (16 random bytes), SubjectName = owner's display name
	KindInvite       Kind = "invite"        // InviteKey, Role, Expires (unix seconds), Uses (>=1)
	KindRevokeInvite Kind = "revoke_invite" // Ref = invite op ID
	KindAddUser      Kind = "add_user"      // Subject, Role, SubjectName, Ref = invite op ID (optional; zero = direct add), InviteSig (with Ref)
	KindRemoveUser   Kind = "remove_user"   // Subject
	KindAddNode      Kind = "add_node"      // Node (Ed25519 public key of a libp2p host), Subject (user who owns the node), SubjectName = app/node name, NodeSig (unless the author is the owner)
	KindRemoveNode   Kind = "remove_node"   // Node
	KindPut          Kind = "put"           // Table, Key, Value: set a record of an application table (see Tables)
	KindDelete       Kind = "delete"        // Table, Key: remove a record
	// KindDelegateService delegates a service key (a developer network's
	// control plane, or the developer's own service): Subject = the service
	// key, SubjectName = a label, Scopes (ScopeEnroll, ScopeRevoke,
	// ScopeACL), Expires (unix seconds). Owner only. The signed op is also
	// the self-contained delegation a verifier without the ledger checks
	// (package devnet): its author must be the genesis's.
	KindDelegateService Kind = "delegate_service"
	// KindRevokeService withdraws a service key's delegation: Subject. Owner only.
	KindRevokeService Kind = "revoke_service"
)

// scopeNames names the scopes, in bit order.
var scopeNames = []string{"enroll", "revoke", "acl"}

// ScopeString names the scopes of a bit set, comma-separated ("enroll,revoke").
func ScopeString(s uint32) string {
	var out []string
	for i, n := range scopeNames {
		if s&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	if rest := s &^ ScopeAll; rest != 0 {
		out = append(out, fmt.Sprintf("%#x", rest))
	}
	return strings.Join(out, ",")
}

// ParseScopes parses a comma-separated list of scope names ("enroll",
// "revoke", "acl", or "all").
func ParseScopes(s string) (uint32, error) {
	var out uint32
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ToLower(f))
		switch i := slices.Index(scopeNames, f); {
		case f == "all":
			out |= ScopeAll
		case i >= 0:
			out |= 1 << i
		default:
			return 0, fmt.Errorf("ledger: unknown scope %q (want enroll, revoke, acl or all)", f)
		}
	}
	return out, nil
}

// Scopes of a service key's delegation (Op.Scopes, a bit set).
const (
	// ScopeEnroll lets a service key sign auth keys, under which nodes
	// make their credentials.
	ScopeEnroll uint32 = 1 << 0
	// ScopeRevoke lets a service key sign a network's revocation list.
	ScopeRevoke uint32 = 1 << 1
	// ScopeACL lets a service key sign a network's tag ACL policy.
	ScopeACL uint32 = 1 << 2
	// ScopeAll is every scope this version knows.
	ScopeAll = ScopeEnroll | ScopeRevoke | ScopeACL
)

// Version is the wire version of operations this package writes and reads.
const Version = 1

// MaxOpSize is the largest encoded operation Unmarshal accepts.
const MaxOpSize = 64 << 10

// NonceSize is the length of a genesis nonce.
const NonceSize = 16

// Op is one signed operation of a network's ledger.
//
// The wire form is a CBOR map with the integer keys in the tags below, in
// Core Deterministic Encoding (RFC 8949 §4.2.1), written and read from these
// tags by github.com/fxamacker/cbor/v2 (see encMode and decMode). V, Author,
// Time and Kind are always present; every other field is omitted when zero.
// New fields must be optional.
type Op struct {
	V           uint8           `cbor:"1,keyasint"`            // wire version, 1
	Net         NetworkID       `cbor:"2,keyasint,omitzero"`   // zero for genesis
	Parents     []ID            `cbor:"3,keyasint,omitempty"`  // sorted ascending, no duplicates; empty only for genesis
	Author      identity.UserID `cbor:"4,keyasint"`            // signer
	Time        int64           `cbor:"5,keyasint"`            // author's clock, unix milliseconds
	Kind        Kind            `cbor:"6,keyasint"`            // what the operation does
	Subject     identity.UserID `cbor:"7,keyasint,omitzero"`   // user added/removed, or owning a node
	SubjectName string          `cbor:"8,keyasint,omitempty"`  // display name of the subject (user or node)
	Role        Role            `cbor:"9,keyasint,omitempty"`  // role given by an invite or add
	Node        [32]byte        `cbor:"10,keyasint,omitzero"`  // node public key
	Ref         ID              `cbor:"11,keyasint,omitzero"`  // the invite an op refers to
	InviteKey   [32]byte        `cbor:"12,keyasint,omitzero"`  // public half of the invite code's key
	Expires     int64           `cbor:"13,keyasint,omitempty"` // invite expiry, unix seconds
	Uses        int             `cbor:"14,keyasint,omitempty"` // invite uses
	Name        string          `cbor:"15,keyasint,omitempty"` // network name (genesis)
	NetKind     string          `cbor:"16,keyasint,omitempty"` // "user" or "developer" (genesis)
	Nonce       []byte          `cbor:"17,keyasint,omitempty"` // genesis nonce
	Sig         []byte          `cbor:"18,keyasint,omitempty"` // Ed25519 by Author over SigningBytes()
	Table       string          `cbor:"19,keyasint,omitempty"` // application table (put, delete)
	Key         string          `cbor:"20,keyasint,omitempty"` // record key in Table (put, delete)
	Value       []byte          `cbor:"21,keyasint,omitempty"` // record value (put); its table's package encodes it
	InviteSig   []byte          `cbor:"22,keyasint,omitempty"` // add_user with Ref: Ed25519 by the invite's key over RedeemSigningBytes
	NodeSig     []byte          `cbor:"23,keyasint,omitempty"` // add_node: Ed25519 by the node key over NodeProofBytes
	Scopes      uint32          `cbor:"24,keyasint,omitempty"` // delegate_service: what the service key may sign (Scope*)
}

// opDomain prefixes the bytes an author signs, so an op signature can never
// be taken for a signature of anything else made with the same key.
const opDomain = "coconet/ledger/op/v1\x00"

// encMode writes operations in Core Deterministic Encoding (RFC 8949
// §4.2.1): shortest-form integers and lengths, definite lengths, map keys in
// ascending order. Byte arrays ([32]byte, ID, NetworkID, identity.UserID) are
// byte strings; their MarshalText methods (for JSON) are not used here, and
// neither would a MarshalBinary added later be, so the wire form cannot change
// by accident.
var encMode = strictcbor.EncMode

// decMode reads operations. It rejects duplicate map keys, keys that name no
// Op field, indefinite lengths, tags and invalid UTF-8, and bounds nesting,
// arrays and maps to what the schema needs (a map of at most one entry per
// field holding at most maxParents parents). It accepts some non-canonical
// encodings (keys out of order, long forms); Unmarshal rejects those by
// re-encoding.
var decMode = strictcbor.DecMode(4, maxParents, max(reflect.TypeFor[Op]().NumField(), 16)) // the schema needs 2 levels (map of array)

// redeemDomain and nodeDomain prefix the bytes an invite key signs to
// redeem its invite and a node key signs to prove it consents to belong to a
// user, so neither signature can be taken for anything else.
const (
	redeemDomain = "coconet/ledger/redeem/v1\x00"
	nodeDomain   = "coconet/ledger/node/v1\x00"
)

// RedeemSigningBytes returns what an invite's key signs (Op.InviteSig) to
// redeem invite for subject with role in network net: the domain string
// "coconet/ledger/redeem/v1\x00", then net, invite and subject (32 bytes
// each) and the role (one byte).
func RedeemSigningBytes(net NetworkID, invite ID, subject identity.UserID, role Role) []byte {
	b := make([]byte, 0, len(redeemDomain)+3*32+1)
	b = append(b, redeemDomain...)
	b = append(b, net[:]...)
	b = append(b, invite[:]...)
	b = append(b, subject[:]...)
	return append(b, byte(role))
}

// SignRedeem signs RedeemSigningBytes with the invite's key (the key of the
// invite code, whose public half is the invite op's InviteKey).
func SignRedeem(inviteKey ed25519.PrivateKey, net NetworkID, invite ID, subject identity.UserID, role Role) []byte {
	return ed25519.Sign(inviteKey, RedeemSigningBytes(net, invite, subject, role))
}

// NodeProofBytes returns what a node key signs (Op.NodeSig) to consent to
// belong to subject in network net: the domain string
// "coconet/ledger/node/v1\x00", then net, node and subject (32 bytes each).
func NodeProofBytes(net NetworkID, node [32]byte, subject identity.UserID) []byte {
	b := make([]byte, 0, len(nodeDomain)+3*32)
	b = append(b, nodeDomain...)
	b = append(b, net[:]...)
	b = append(b, node[:]...)
	return append(b, subject[:]...)
}

// SignNodeProof signs NodeProofBytes with a node's key, proving that whoever
// adds the node to subject holds it.
func SignNodeProof(nodeKey ed25519.PrivateKey, net NetworkID, subject identity.UserID) []byte {
	var node [32]byte
	copy(node[:], nodeKey.Public().(ed25519.PublicKey))
	return ed25519.Sign(nodeKey, NodeProofBytes(net, node, subject))
}

func (o *Op) encode(withSig bool) []byte {
	v := o
	if !withSig && o.Sig != nil {
		c := *o
		c.Sig = nil
		v = &c
	}
	b, err := encMode.Marshal(v)
	if err != nil {
		// Every field of Op has an encoding: this is a bug in this package.
		panic("ledger: encode op: " + err.Error())
	}
	return b
}

// Marshal returns the canonical CBOR encoding of the operation.
func (o *Op) Marshal() []byte { return o.encode(true) }

// SigningBytes returns what the author signs: a domain string followed by
// the canonical encoding without Sig.
func (o *Op) SigningBytes() []byte { return append([]byte(opDomain), o.encode(false)...) }

// Sign sets Author to key's public key and Sig to its signature.
func (o *Op) Sign(key ed25519.PrivateKey) {
	o.Author = identity.UserIDOf(key.Public().(ed25519.PublicKey))
	o.Sig = ed25519.Sign(key, o.SigningBytes())
}

// ID is the SHA-256 of Marshal().
func (o *Op) ID() ID { return sha256.Sum256(o.Marshal()) }

// VerifySignature checks Sig against Author, and NodeSig, if present,
// against Node (see NodeProofBytes). InviteSig is checked by the fold, which
// knows the invite's key.
func (o *Op) VerifySignature() error {
	if len(o.Sig) != ed25519.SignatureSize || !ed25519.Verify(o.Author.PublicKey(), o.SigningBytes(), o.Sig) {
		return fmt.Errorf("%w on op %s by %s", ErrBadSignature, o.ID().Short(), o.Author.Short())
	}
	return o.verifyNodeProof()
}

// verifyNodeProof checks NodeSig, if present, against Node.
func (o *Op) verifyNodeProof() error {
	if len(o.NodeSig) == 0 {
		return nil
	}
	if len(o.NodeSig) != ed25519.SignatureSize || !ed25519.Verify(o.Node[:], NodeProofBytes(o.Net, o.Node, o.Subject), o.NodeSig) {
		return fmt.Errorf("%w: the node proof of op %s is not node %s's signature for user %s in this network; only the node's holder can make it",
			ErrBadSignature, o.ID().Short(), shortKey(o.Node), o.Subject.Short())
	}
	return nil
}

// Clone returns a deep copy of o.
func (o *Op) Clone() *Op {
	c := *o
	c.Parents = append([]ID(nil), o.Parents...)
	c.Nonce = append([]byte(nil), o.Nonce...)
	c.Sig = append([]byte(nil), o.Sig...)
	c.Value = append([]byte(nil), o.Value...)
	c.InviteSig = append([]byte(nil), o.InviteSig...)
	c.NodeSig = append([]byte(nil), o.NodeSig...)
	return &c
}

// Unmarshal decodes an operation. It is strict: it accepts only canonical
// encodings of wire version 1 (no trailing bytes, no unknown or duplicate
// keys, keys in order, shortest integer forms) of at most MaxOpSize bytes,
// so that Unmarshal(b).Marshal() == b for every accepted b.
func Unmarshal(b []byte) (*Op, error) {
	if len(b) > MaxOpSize {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d allowed", ErrMalformed, len(b), MaxOpSize)
	}
	o, err := decodeOp(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if o.V != Version {
		return nil, fmt.Errorf("%w: unknown wire version %d (this program reads version %d; update it)", ErrMalformed, o.V, Version)
	}
	if !bytes.Equal(o.Marshal(), b) {
		// The decoder accepted it, so it breaks a rule only re-encoding sees.
		return nil, fmt.Errorf("%w: not in canonical form (map keys duplicated or out of order, a long form, "+
			"a field present with its zero value or null, or a 32-byte field of another length)", ErrMalformed)
	}
	return o, nil
}

// decodeOp decodes b with decMode and words the decoder's errors for people.
func decodeOp(b []byte) (*Op, error) {
	o := new(Op)
	rest, err := decMode.UnmarshalFirst(b, o)
	var typeErr *cbor.UnmarshalTypeError
	var dupErr *cbor.DupMapKeyError
	switch {
	case err == nil && len(rest) > 0:
		return nil, fmt.Errorf("%d trailing bytes", len(rest))
	case err == nil:
		return o, nil
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return nil, errors.New("unexpected end of data")
	case strings.Contains(err.Error(), "too large, causing integer overflow"):
		// A length that does not fit an int (an untyped error of the
		// decoder) also runs past the end of at most MaxOpSize bytes.
		return nil, fmt.Errorf("unexpected end of data (%v)", err)
	case errors.As(err, &dupErr):
		return nil, fmt.Errorf("map key %v is duplicated or out of order", dupErr.Key)
	case errors.As(err, &typeErr) && typeErr.StructFieldName == "":
		return nil, fmt.Errorf("want a map, got %s", typeErr.CBORType)
	}
	return nil, err
}

// Network kinds (Op.NetKind of a genesis).
const (
	NetKindUser      = "user"
	NetKindDeveloper = "developer"
	// NetKindConsortium is a network whose member nodes run a consortium's
	// validating nodes (package consortium); its ledger is a user network's.
	NetKindConsortium = "consortium"
)

// Limits on text fields.
const (
	maxNameLen = 256
	maxParents = 256
)

// shapeProblem reports what makes o ill-formed for its kind, independently of
// any state, or "" if nothing does.
func (o *Op) shapeProblem() string {
	if o.V != Version {
		return fmt.Sprintf("unknown wire version %d", o.V)
	}
	if o.Author.IsZero() {
		return "no author"
	}
	if len(o.SubjectName) > maxNameLen || len(o.Name) > maxNameLen {
		return fmt.Sprintf("a name is longer than %d bytes", maxNameLen)
	}
	switch {
	case len(o.InviteSig) > 0 && (o.Kind != KindAddUser || o.Ref.IsZero()):
		return "only an add_user that redeems an invite carries an invite signature"
	case len(o.NodeSig) > 0 && o.Kind != KindAddNode:
		return "only an add_node carries a node signature"
	case o.Scopes != 0 && o.Kind != KindDelegateService:
		return "only a delegate_service carries scopes"
	}
	if o.Kind == KindGenesis {
		switch {
		case !o.Net.IsZero():
			return "a genesis names no network"
		case len(o.Parents) > 0:
			return "a genesis has no parents"
		case o.Name == "":
			return "the genesis has no network name"
		case o.NetKind != NetKindUser && o.NetKind != NetKindDeveloper && o.NetKind != NetKindConsortium:
			return fmt.Sprintf("network kind %q is not %q, %q or %q", o.NetKind, NetKindUser, NetKindDeveloper, NetKindConsortium)
		case len(o.Nonce) != NonceSize:
			return fmt.Sprintf("the genesis nonce is %d bytes, want %d", len(o.Nonce), NonceSize)
		}
		return ""
	}
	if o.Net.IsZero() {
		return "no network"
	}
	if len(o.Parents) == 0 {
		return "no parents"
	}
	if len(o.Parents) > maxParents {
		return fmt.Sprintf("%d parents, more than %d", len(o.Parents), maxParents)
	}
	for i := 1; i < len(o.Parents); i++ {
		if compareID(o.Parents[i-1], o.Parents[i]) >= 0 {
			return "parents are not sorted or repeat"
		}
	}
	switch o.Kind {
	case KindInvite:
		switch {
		case o.InviteKey == [32]byte{}:
			return "an invite needs an invite key"
		case o.Role != RoleGuest && o.Role != RoleAdmin && o.Role != RoleOwner:
			return fmt.Sprintf("an invite cannot give role %s", o.Role)
		case o.Uses < 1:
			return fmt.Sprintf("an invite needs at least 1 use, has %d", o.Uses)
		case o.Expires <= o.Time/1000:
			return "the invite expires before it is made"
		}
	case KindRevokeInvite:
		if o.Ref.IsZero() {
			return "revoke_invite names no invite"
		}
	case KindAddUser:
		switch {
		case o.Subject.IsZero():
			return "add_user names no user"
		case o.Role != RoleGuest && o.Role != RoleAdmin && o.Role != RoleOwner:
			return fmt.Sprintf("add_user cannot give role %s", o.Role)
		}
	case KindRemoveUser:
		if o.Subject.IsZero() {
			return "remove_user names no user"
		}
	case KindAddNode:
		switch {
		case o.Node == [32]byte{}:
			return "add_node names no node"
		case o.Subject.IsZero():
			return "add_node names no user"
		}
	case KindRemoveNode:
		if o.Node == [32]byte{} {
			return "remove_node names no node"
		}
	case KindPut, KindDelete:
		if p := recordShapeProblem(o); p != "" {
			return p
		}
	case KindDelegateService:
		switch {
		case o.Subject.IsZero():
			return "delegate_service names no service key"
		case o.Scopes == 0 || o.Scopes&^ScopeAll != 0:
			return fmt.Sprintf("delegate_service scopes %#x are none or unknown", o.Scopes)
		case o.Expires <= o.Time/1000:
			return "the delegation expires before it is made"
		}
	case KindRevokeService:
		if o.Subject.IsZero() {
			return "revoke_service names no service key"
		}
	default:
		return fmt.Sprintf("unknown kind %q", o.Kind)
	}
	return ""
}

func shortKey(k [32]byte) string { return hex.EncodeToString(k[:6]) }

// Describe says in one line what the operation does, for people.
func (o *Op) Describe() string {
	a := o.Author.Short()
	subj := o.Subject.Short()
	if o.SubjectName != "" {
		subj = o.SubjectName + " (" + o.Subject.Short() + ")"
	}
	switch o.Kind {
	case KindGenesis:
		return fmt.Sprintf("%s (%s) created the %s network %q", o.SubjectName, a, o.NetKind, o.Name)
	case KindInvite:
		return fmt.Sprintf("%s invited a %s (invite key %s, %d uses, expires %s)", a, o.Role, shortKey(o.InviteKey), o.Uses, time.Unix(o.Expires, 0).UTC().Format(time.RFC3339))
	case KindRevokeInvite:
		return fmt.Sprintf("%s revoked invite %s", a, o.Ref.Short())
	case KindAddUser:
		s := fmt.Sprintf("%s added %s as %s", a, subj, o.Role)
		if !o.Ref.IsZero() {
			s += " with invite " + o.Ref.Short()
		}
		return s
	case KindRemoveUser:
		if o.Subject == o.Author {
			return a + " left the network"
		}
		return fmt.Sprintf("%s removed %s", a, subj)
	case KindAddNode:
		name := ""
		if o.SubjectName != "" {
			name = " " + o.SubjectName
		}
		return fmt.Sprintf("%s added node%s %s of %s", a, name, shortKey(o.Node), o.Subject.Short())
	case KindRemoveNode:
		return fmt.Sprintf("%s removed node %s", a, shortKey(o.Node))
	case KindPut:
		return fmt.Sprintf("%s set %s %q", a, o.Table, o.Key)
	case KindDelete:
		return fmt.Sprintf("%s deleted %s %q", a, o.Table, o.Key)
	case KindDelegateService:
		return fmt.Sprintf("%s delegated service key %s (scopes %s, expires %s)", a, subj, ScopeString(o.Scopes), time.Unix(o.Expires, 0).UTC().Format(time.RFC3339))
	case KindRevokeService:
		return fmt.Sprintf("%s revoked service key %s", a, subj)
	}
	return fmt.Sprintf("%s did %q", a, o.Kind)
}
