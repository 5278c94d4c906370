package member

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

// Version is the wire version this package writes and reads.
const Version = 1

// Validity limits.
const (
	// DefaultCertValidity is how long an issued node certificate lasts.
	DefaultCertValidity = time.Hour
	// MaxCertValidity is the longest certificate Verify accepts; it bounds
	// how long a control plane keeps a revocation.
	MaxCertValidity = 24 * time.Hour
	// DefaultDelegationValidity is how long an owner's delegation to an
	// admin lasts.
	DefaultDelegationValidity = 7 * 24 * time.Hour
	// MaxDelegationValidity is the longest delegation Verify accepts.
	MaxDelegationValidity = 30 * 24 * time.Hour
	// ClockSkew is the tolerance for issue times in the future.
	ClockSkew = 5 * time.Minute
)

const (
	certSize       = 1 + 32 + 32 + 32 + 1 + 8 + 8 + 32 + 64
	delegationSize = 1 + 32 + 32 + 8 + 8 + 64
	revocationSize = 1 + 32 + 1 + 32 + 8 + 8 + 32 + 64 + 1
	maxProofSize   = 1 + 2 + ledger.MaxOpSize + 1 + delegationSize + certSize
)

// Domains keep a signature of one kind from being taken for another.
const (
	certDomain       = "coconet/member/cert/v1\x00"
	delegationDomain = "coconet/member/delegation/v1\x00"
	revocationDomain = "coconet/member/revocation/v1\x00"
	rendezvousDomain = "coconet/rendezvous"
)

// RendezvousKey is the name a network's nodes register under at a control
// plane: H("coconet/rendezvous" ‖ network ID). The control plane stores only
// this hash.
func RendezvousKey(net ledger.NetworkID) [32]byte {
	return sha256.Sum256(append([]byte(rendezvousDomain), net[:]...))
}

// Cert certifies that a node key belongs to a member of a network, for a
// short time.
type Cert struct {
	Net     ledger.NetworkID
	Node    [32]byte
	User    identity.UserID
	Role    ledger.Role
	Issued  int64 // unix seconds
	Expires int64 // unix seconds
	Issuer  identity.UserID
	Sig     []byte
}

func (c *Cert) encode(withSig bool) []byte {
	b := make([]byte, 0, certSize)
	b = append(b, Version)
	b = append(b, c.Net[:]...)
	b = append(b, c.Node[:]...)
	b = append(b, c.User[:]...)
	b = append(b, byte(c.Role))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Issued))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Expires))
	b = append(b, c.Issuer[:]...)
	if withSig {
		b = append(b, pad64(c.Sig)...)
	}
	return b
}

// Marshal encodes the certificate.
func (c *Cert) Marshal() []byte { return c.encode(true) }

// Sign sets Issuer and Sig.
func (c *Cert) Sign(key ed25519.PrivateKey) {
	c.Issuer = identity.UserIDOf(key.Public().(ed25519.PublicKey))
	c.Sig = ed25519.Sign(key, append([]byte(certDomain), c.encode(false)...))
}

func (c *Cert) verifySig() error {
	if !ed25519.Verify(c.Issuer.PublicKey(), append([]byte(certDomain), c.encode(false)...), c.Sig) {
		return fmt.Errorf("%w on the node certificate", ErrBadSignature)
	}
	return nil
}

// ExpiresAt is Expires as a time.
func (c *Cert) ExpiresAt() time.Time { return time.Unix(c.Expires, 0) }

// UnmarshalCert decodes a certificate.
func UnmarshalCert(b []byte) (*Cert, error) {
	r := reader{b: b}
	c := r.cert()
	if err := r.end(); err != nil {
		return nil, err
	}
	return c, nil
}

// Delegation lets an admin issue certificates for a while.
type Delegation struct {
	Net     ledger.NetworkID
	Admin   identity.UserID
	Issued  int64
	Expires int64
	Sig     []byte // by the owner
}

func (d *Delegation) encode(withSig bool) []byte {
	b := make([]byte, 0, delegationSize)
	b = append(b, Version)
	b = append(b, d.Net[:]...)
	b = append(b, d.Admin[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(d.Issued))
	b = binary.BigEndian.AppendUint64(b, uint64(d.Expires))
	if withSig {
		b = append(b, pad64(d.Sig)...)
	}
	return b
}

// Marshal encodes the delegation.
func (d *Delegation) Marshal() []byte { return d.encode(true) }

// Sign signs the delegation with the owner's key.
func (d *Delegation) Sign(owner ed25519.PrivateKey) {
	d.Sig = ed25519.Sign(owner, append([]byte(delegationDomain), d.encode(false)...))
}

// ExpiresAt is Expires as a time.
func (d *Delegation) ExpiresAt() time.Time { return time.Unix(d.Expires, 0) }

// Verify checks that the owner signed d for net and that it is valid at now.
func (d *Delegation) Verify(net ledger.NetworkID, owner identity.UserID, now time.Time) error {
	if d.Net != net {
		return fmt.Errorf("%w: delegation", ErrWrongNetwork)
	}
	if !ed25519.Verify(owner.PublicKey(), append([]byte(delegationDomain), d.encode(false)...), d.Sig) {
		return fmt.Errorf("%w on the admin delegation (not signed by the network's owner)", ErrBadSignature)
	}
	return checkTimes("admin delegation", d.Issued, d.Expires, MaxDelegationValidity, now)
}

// UnmarshalDelegation decodes a delegation.
func UnmarshalDelegation(b []byte) (*Delegation, error) {
	r := reader{b: b}
	d := r.delegation()
	if err := r.end(); err != nil {
		return nil, err
	}
	return d, nil
}

// RevocationKind says what a revocation covers.
type RevocationKind uint8

// Revocation kinds.
const (
	RevokeNode RevocationKind = 1 // certificates for one node key
	RevokeUser RevocationKind = 2 // certificates for, and issued by, one user; and their delegation
)

// Revocation withdraws certificates before they expire.
type Revocation struct {
	Net     ledger.NetworkID
	Kind    RevocationKind
	Subject [32]byte // node key or user ID
	Until   int64    // unix seconds: when every certificate it covers has expired
	Issued  int64
	Issuer  identity.UserID
	Sig     []byte
	// Delegation is the issuer's delegation when the issuer is an admin.
	Delegation *Delegation
}

func (v *Revocation) encode(withSig bool) []byte {
	b := make([]byte, 0, revocationSize+delegationSize)
	b = append(b, Version)
	b = append(b, v.Net[:]...)
	b = append(b, byte(v.Kind))
	b = append(b, v.Subject[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(v.Until))
	b = binary.BigEndian.AppendUint64(b, uint64(v.Issued))
	b = append(b, v.Issuer[:]...)
	if !withSig {
		return b
	}
	b = append(b, pad64(v.Sig)...)
	if v.Delegation == nil {
		return append(b, 0)
	}
	return append(append(b, 1), v.Delegation.Marshal()...)
}

// Marshal encodes the revocation.
func (v *Revocation) Marshal() []byte { return v.encode(true) }

// Sign sets Issuer and Sig.
func (v *Revocation) Sign(key ed25519.PrivateKey) {
	v.Issuer = identity.UserIDOf(key.Public().(ed25519.PublicKey))
	v.Sig = ed25519.Sign(key, append([]byte(revocationDomain), v.encode(false)...))
}

// Verify checks that the owner, or an admin with a valid delegation, signed
// v for net.
func (v *Revocation) Verify(net ledger.NetworkID, owner identity.UserID, now time.Time) error {
	if v.Net != net {
		return fmt.Errorf("%w: revocation", ErrWrongNetwork)
	}
	if v.Kind != RevokeNode && v.Kind != RevokeUser {
		return fmt.Errorf("%w: revocation kind %d", ErrMalformed, v.Kind)
	}
	if !ed25519.Verify(v.Issuer.PublicKey(), append([]byte(revocationDomain), v.encode(false)...), v.Sig) {
		return fmt.Errorf("%w on the revocation", ErrBadSignature)
	}
	if err := authorize(net, owner, v.Issuer, v.Delegation, now); err != nil {
		return err
	}
	if v.Kind == RevokeUser && v.Subject == [32]byte(owner) {
		return fmt.Errorf("%w: a revocation of the network's owner", ErrNotAuthorized)
	}
	if time.Unix(v.Issued, 0).After(now.Add(ClockSkew)) {
		return fmt.Errorf("%w: revocation issued in the future", ErrExpired)
	}
	return nil
}

// ByOwner reports whether the network's owner signed the revocation
// (otherwise an admin did, under a delegation).
func (v *Revocation) ByOwner(owner identity.UserID) bool { return v.Issuer == owner }

// MaxUntil is the latest Until a control plane keeps the revocation for:
// one certificate's lifetime past its issue for an admin's (it covers only
// certificates issued before it, and those expire by then), a delegation's
// for an owner's revocation of a user (whose delegation it also withdraws).
func (v *Revocation) MaxUntil(owner identity.UserID) time.Time {
	is := time.Unix(v.Issued, 0)
	if v.ByOwner(owner) && v.Kind == RevokeUser {
		return is.Add(MaxDelegationValidity + ClockSkew)
	}
	return is.Add(MaxCertValidity + ClockSkew)
}

// UnmarshalRevocation decodes a revocation.
func UnmarshalRevocation(b []byte) (*Revocation, error) {
	r := reader{b: b}
	v := r.revocation()
	if err := r.end(); err != nil {
		return nil, err
	}
	return v, nil
}

// Covers reports whether the revocation withdraws the verified proof p.
// It covers only what existed when it was issued: a certificate issued at
// or before it, for the revoked node key (RevokeNode) or user
// (RevokeUser); for RevokeUser also a certificate the user issued under a
// delegation given at or before it. A revocation signed by an admin never
// covers the owner's certificates.
func (v *Revocation) Covers(p *Verified) bool {
	c := &p.Cert
	if !v.ByOwner(p.Owner) && c.User == p.Owner {
		return false
	}
	before := c.Issued <= v.Issued
	switch v.Kind {
	case RevokeNode:
		return v.Subject == c.Node && before
	case RevokeUser:
		if v.Subject == [32]byte(c.User) && before {
			return true
		}
		return v.Subject == [32]byte(c.Issuer) && c.Issuer != p.Owner && p.Delegated != 0 && p.Delegated <= v.Issued
	}
	return false
}

// RevokesIssuer reports whether v withdraws the authority under which w
// was signed: w is an admin's, and v revokes that admin, issued after the
// delegation w carries.
func (v *Revocation) RevokesIssuer(w *Revocation) bool {
	return v.Kind == RevokeUser && w.Delegation != nil && v.Subject == [32]byte(w.Issuer) && w.Delegation.Issued <= v.Issued
}

// Proof is what a node presents to a control plane: the genesis, the
// issuer's delegation if the issuer is an admin, and the node's certificate.
type Proof struct {
	Genesis    *ledger.Op
	Delegation *Delegation
	Cert       *Cert
}

// Marshal encodes the proof.
func (p *Proof) Marshal() []byte {
	g := p.Genesis.Marshal()
	b := make([]byte, 0, 3+len(g)+1+delegationSize+certSize)
	b = append(b, Version)
	b = binary.BigEndian.AppendUint16(b, uint16(len(g)))
	b = append(b, g...)
	if p.Delegation == nil {
		b = append(b, 0)
	} else {
		b = append(append(b, 1), p.Delegation.Marshal()...)
	}
	return append(b, p.Cert.Marshal()...)
}

// UnmarshalProof decodes a proof. It checks the encoding only; Verify checks
// the signatures and times.
func UnmarshalProof(b []byte) (*Proof, error) {
	if len(b) > maxProofSize {
		return nil, fmt.Errorf("%w: proof of %d bytes", ErrMalformed, len(b))
	}
	r := reader{b: b}
	r.version()
	n := int(r.u16())
	gb := r.take(n)
	p := &Proof{}
	if r.err == nil {
		g, err := ledger.Unmarshal(gb)
		if err != nil {
			return nil, fmt.Errorf("%w: genesis: %v", ErrMalformed, err)
		}
		if g.Kind != ledger.KindGenesis {
			return nil, fmt.Errorf("%w: first operation is a %s, not the genesis", ErrMalformed, g.Kind)
		}
		p.Genesis = g
	}
	if r.flag() {
		p.Delegation = r.delegation()
	}
	p.Cert = r.cert()
	if err := r.end(); err != nil {
		return nil, err
	}
	return p, nil
}

// Verified is what a valid proof establishes.
type Verified struct {
	Net   ledger.NetworkID
	Key   [32]byte // RendezvousKey(Net)
	Owner identity.UserID
	Cert  Cert
	// Delegated is when the delegation of an admin issuer was issued (unix
	// seconds), 0 for a certificate the owner issued.
	Delegated int64
	// Until is when the proof stops being valid: the certificate's expiry,
	// or the delegation's if earlier.
	Until time.Time
}

// Verify checks a proof presented by the peer whose Ed25519 key is node,
// at time now.
func (p *Proof) Verify(node [32]byte, now time.Time) (*Verified, error) {
	return p.VerifyWith(node, now, nil)
}

// VerifyWith is Verify that checks the genesis's signature only if gc (nil:
// always) has not seen that genesis checked before; a control plane serving
// many nodes of one network so checks it once. The certificate and the
// delegation are checked every time.
func (p *Proof) VerifyWith(node [32]byte, now time.Time, gc *GenesisCache) (*Verified, error) {
	if p.Genesis == nil || p.Cert == nil {
		return nil, fmt.Errorf("%w: incomplete proof", ErrMalformed)
	}
	// The ID hashes the whole operation, its signature included: the same
	// ID is the same signed bytes.
	net := ledger.NetworkID(p.Genesis.ID())
	if !gc.has(net) {
		if err := p.Genesis.VerifySignature(); err != nil {
			return nil, fmt.Errorf("%w on the genesis", ErrBadSignature)
		}
		gc.add(net)
	}
	owner := p.Genesis.Author
	c := p.Cert
	if c.Net != net {
		return nil, ErrWrongNetwork
	}
	if c.Node != node {
		return nil, ErrWrongNode
	}
	if c.Role < ledger.RoleGuest || c.Role > ledger.RoleOwner {
		return nil, fmt.Errorf("%w: role %d", ErrMalformed, c.Role)
	}
	if err := c.verifySig(); err != nil {
		return nil, err
	}
	if err := checkTimes("node certificate", c.Issued, c.Expires, MaxCertValidity, now); err != nil {
		return nil, err
	}
	if err := authorize(net, owner, c.Issuer, p.Delegation, now); err != nil {
		return nil, err
	}
	until := c.ExpiresAt()
	var delegated int64
	if c.Issuer != owner {
		delegated = p.Delegation.Issued
		if p.Delegation.ExpiresAt().Before(until) {
			until = p.Delegation.ExpiresAt()
		}
	}
	return &Verified{Net: net, Key: RendezvousKey(net), Owner: owner, Cert: *c, Delegated: delegated, Until: until}, nil
}

// GenesisCache remembers the genesis operations (by ID) whose signature
// checked, at most a fixed number; past it the oldest is forgotten. It is
// safe for concurrent use; a nil *GenesisCache remembers nothing.
type GenesisCache struct {
	mu   sync.Mutex // guards following fields
	max  int
	seen map[ledger.NetworkID]struct{}
	ring []ledger.NetworkID // in the order added; next is the oldest once full
	next int
}

// NewGenesisCache returns a cache of at most max genesis operations.
func NewGenesisCache(max int) *GenesisCache {
	return &GenesisCache{max: max, seen: make(map[ledger.NetworkID]struct{}, max)}
}

func (gc *GenesisCache) has(id ledger.NetworkID) bool {
	if gc == nil {
		return false
	}
	gc.mu.Lock()
	defer gc.mu.Unlock()
	_, ok := gc.seen[id]
	return ok
}

func (gc *GenesisCache) add(id ledger.NetworkID) {
	if gc == nil || gc.max <= 0 {
		return
	}
	gc.mu.Lock()
	defer gc.mu.Unlock()
	if _, ok := gc.seen[id]; ok {
		return
	}
	if len(gc.ring) < gc.max {
		gc.ring = append(gc.ring, id)
	} else {
		delete(gc.seen, gc.ring[gc.next])
		gc.ring[gc.next] = id
		gc.next = (gc.next + 1) % gc.max
	}
	gc.seen[id] = struct{}{}
}

// authorize checks that issuer is the owner, or an admin with a valid
// delegation from the owner.
func authorize(net ledger.NetworkID, owner, issuer identity.UserID, d *Delegation, now time.Time) error {
	if issuer == owner {
		return nil
	}
	if d == nil || d.Admin != issuer {
		return ErrNotAuthorized
	}
	return d.Verify(net, owner, now)
}

func checkTimes(what string, issued, expires int64, max time.Duration, now time.Time) error {
	is, ex := time.Unix(issued, 0), time.Unix(expires, 0)
	switch {
	case ex.Before(is) || ex.Sub(is) > max:
		return fmt.Errorf("%w: %s valid for %v, more than the %v allowed", ErrExpired, what, ex.Sub(is), max)
	case is.After(now.Add(ClockSkew)):
		return fmt.Errorf("%w: %s issued in the future (%s); check the clocks", ErrExpired, what, is.UTC().Format(time.RFC3339))
	case !now.Before(ex):
		return fmt.Errorf("%w: %s expired at %s", ErrExpired, what, ex.UTC().Format(time.RFC3339))
	}
	return nil
}

// IssueCert makes a certificate for node, signed by issuer, valid from now
// for validity (DefaultCertValidity if zero).
func IssueCert(issuer ed25519.PrivateKey, net ledger.NetworkID, node [32]byte, user identity.UserID, role ledger.Role, now time.Time, validity time.Duration) *Cert {
	if validity <= 0 {
		validity = DefaultCertValidity
	}
	c := &Cert{Net: net, Node: node, User: user, Role: role, Issued: now.Unix(), Expires: now.Add(validity).Unix()}
	c.Sign(issuer)
	return c
}

// Delegate makes the owner's delegation to admin, valid from now for
// validity (DefaultDelegationValidity if zero).
func Delegate(owner ed25519.PrivateKey, net ledger.NetworkID, admin identity.UserID, now time.Time, validity time.Duration) *Delegation {
	if validity <= 0 {
		validity = DefaultDelegationValidity
	}
	d := &Delegation{Net: net, Admin: admin, Issued: now.Unix(), Expires: now.Add(validity).Unix()}
	d.Sign(owner)
	return d
}

// Revoke makes a revocation of a node key (RevokeNode) or a user
// (RevokeUser), kept by control planes until every certificate (or, for a
// user revoked by the owner, delegation) it could cover has expired. d is
// the issuer's delegation if the issuer is an admin.
func Revoke(issuer ed25519.PrivateKey, d *Delegation, net ledger.NetworkID, kind RevocationKind, subject [32]byte, now time.Time) *Revocation {
	until := now.Add(MaxCertValidity + ClockSkew)
	if kind == RevokeUser && d == nil {
		until = now.Add(MaxDelegationValidity + ClockSkew)
	}
	v := &Revocation{Net: net, Kind: kind, Subject: subject, Until: until.Unix(), Issued: now.Unix(), Delegation: d}
	v.Sign(issuer)
	return v
}

func pad64(sig []byte) []byte {
	var s [64]byte
	copy(s[:], sig)
	return s[:]
}

// reader decodes the fixed-layout fields; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = fmt.Errorf("%w: truncated", ErrMalformed)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) version() {
	if b := r.take(1); b != nil && b[0] != Version {
		r.err = fmt.Errorf("%w: unknown version %d (this program reads version %d; update it)", ErrMalformed, b[0], Version)
	}
}

func (r *reader) key() (k [32]byte) {
	copy(k[:], r.take(32))
	return k
}

func (r *reader) u8() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *reader) i64() int64 {
	if b := r.take(8); b != nil {
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

func (r *reader) sig() []byte { return append([]byte(nil), r.take(64)...) }

func (r *reader) flag() bool {
	switch r.u8() {
	case 0:
		return false
	case 1:
		return true
	}
	if r.err == nil {
		r.err = fmt.Errorf("%w: bad flag", ErrMalformed)
	}
	return false
}

func (r *reader) end() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	return r.err
}

func (r *reader) cert() *Cert {
	r.version()
	c := &Cert{Net: r.key(), Node: r.key(), User: r.key(), Role: ledger.Role(r.u8()), Issued: r.i64(), Expires: r.i64(), Issuer: r.key(), Sig: r.sig()}
	return c
}

func (r *reader) delegation() *Delegation {
	r.version()
	return &Delegation{Net: r.key(), Admin: r.key(), Issued: r.i64(), Expires: r.i64(), Sig: r.sig()}
}

func (r *reader) revocation() *Revocation {
	r.version()
	v := &Revocation{Net: r.key(), Kind: RevocationKind(r.u8()), Subject: r.key(), Until: r.i64(), Issued: r.i64(), Issuer: r.key(), Sig: r.sig()}
	if r.flag() {
		v.Delegation = r.delegation()
	}
	return v
}
