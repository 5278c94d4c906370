package devnet

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

// Signature domains of the lists.
const (
	revocationsDomain = "coconet/devnet/revocations/v1\x00"
	policyDomain      = "coconet/devnet/policy/v1\x00"
)

// Revocations is a network's revocation list: node keys, auth keys (every
// credential made with one) and — only in a list the owner signs — service
// keys (every auth key they signed). Signed by the owner or a service key
// with ledger.ScopeRevoke; a higher Version replaces a lower one, so each
// list holds every revocation still needed.
type Revocations struct {
	V        uint8            `cbor:"1,keyasint"`
	Net      ledger.NetworkID `cbor:"2,keyasint"`
	Version  uint64           `cbor:"3,keyasint"`
	Issued   int64            `cbor:"4,keyasint"`
	Nodes    [][32]byte       `cbor:"5,keyasint,omitempty"` // sorted, unique
	AuthKeys [][32]byte       `cbor:"6,keyasint,omitempty"` // sorted, unique
	Services [][32]byte       `cbor:"7,keyasint,omitempty"` // sorted, unique; owner's lists only
	Issuer   identity.UserID  `cbor:"8,keyasint"`
	// Delegation is the issuer's delegate_service op when it is a service key.
	Delegation []byte `cbor:"9,keyasint,omitempty"`
	Sig        []byte `cbor:"10,keyasint,omitempty"`
}

func (r *Revocations) unsigned() []byte {
	u := *r
	u.Sig = nil
	return marshal(&u)
}

// Sign sorts the entries, sets Issuer and Sig.
func (r *Revocations) Sign(issuer ed25519.PrivateKey, delegation *ledger.Op) {
	r.V = Version
	for _, l := range []*[][32]byte{&r.Nodes, &r.AuthKeys, &r.Services} {
		slices.SortFunc(*l, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
		*l = slices.Compact(*l)
		if len(*l) == 0 {
			*l = nil
		}
	}
	r.Issuer = identity.UserID(pubOf(issuer))
	r.Delegation = nil
	if delegation != nil {
		r.Delegation = delegation.Marshal()
	}
	r.Sig = sign(issuer, revocationsDomain, r.unsigned())
}

// Marshal encodes the list.
func (r *Revocations) Marshal() []byte { return marshal(r) }

// UnmarshalRevocations decodes a list strictly (at most MaxListSize bytes).
func UnmarshalRevocations(b []byte) (*Revocations, error) {
	r := new(Revocations)
	if err := unmarshal(b, MaxListSize, r, "revocation list"); err != nil {
		return nil, err
	}
	return r, nil
}

// Verify checks the list's shape, signature and signer against a at now.
func (r *Revocations) Verify(a *Anchor, now time.Time) error {
	switch {
	case r.V != Version:
		return fmt.Errorf("%w: revocation list version %d", ErrMalformed, r.V)
	case r.Net != a.Net:
		return fmt.Errorf("%w: revocation list", ErrWrongNetwork)
	case r.Version == 0:
		return fmt.Errorf("%w: revocation list version 0", ErrMalformed)
	case len(r.Nodes)+len(r.AuthKeys)+len(r.Services) > MaxRevoked:
		return fmt.Errorf("%w: revocation list of more than %d entries", ErrMalformed, MaxRevoked)
	case len(r.Services) > 0 && r.Issuer != a.Owner:
		return fmt.Errorf("%w: only the owner revokes service keys", ErrNotAuthorized)
	}
	for _, l := range [][][32]byte{r.Nodes, r.AuthKeys, r.Services} {
		for i := 1; i < len(l); i++ {
			if bytes.Compare(l[i-1][:], l[i][:]) >= 0 {
				return fmt.Errorf("%w: revocation list entries not sorted or repeated", ErrMalformed)
			}
		}
	}
	if !verify(r.Issuer[:], revocationsDomain, r.unsigned(), r.Sig) {
		return fmt.Errorf("%w on revocation list version %d", ErrBadSignature, r.Version)
	}
	if err := checkIssued("revocation list", r.Issued, now); err != nil {
		return err
	}
	return a.authorize(r.Issuer, r.Delegation, ledger.ScopeRevoke, now)
}

func has(l [][32]byte, k [32]byte) bool {
	_, ok := slices.BinarySearchFunc(l, k, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	return ok
}

// Covers reports whether the list revokes m: its node key, its auth key, or
// the service key that signed its auth key. A nil list covers nothing.
func (r *Revocations) Covers(m *Member) bool {
	if r == nil {
		return false
	}
	return has(r.Nodes, m.Node) || has(r.AuthKeys, m.AuthKey) || has(r.Services, [32]byte(m.Issuer))
}

// Rule lets members with tag From open connections and streams to members
// with tag To. "*" matches every member, tagged or not.
type Rule struct {
	From string `cbor:"1,keyasint"`
	To   string `cbor:"2,keyasint"`
}

// Policy is a network's tag ACL: which tags may talk to which. Signed by
// the owner or a service key with ledger.ScopeACL; a higher Version
// replaces a lower one. A network with no policy lets every member talk to
// every other; a policy with no rules lets none.
type Policy struct {
	V          uint8            `cbor:"1,keyasint"`
	Net        ledger.NetworkID `cbor:"2,keyasint"`
	Version    uint64           `cbor:"3,keyasint"`
	Issued     int64            `cbor:"4,keyasint"`
	Rules      []Rule           `cbor:"5,keyasint,omitempty"`
	Issuer     identity.UserID  `cbor:"6,keyasint"`
	Delegation []byte           `cbor:"7,keyasint,omitempty"`
	Sig        []byte           `cbor:"8,keyasint,omitempty"`
}

func (p *Policy) unsigned() []byte {
	u := *p
	u.Sig = nil
	return marshal(&u)
}

// Sign sets Issuer and Sig.
func (p *Policy) Sign(issuer ed25519.PrivateKey, delegation *ledger.Op) {
	p.V = Version
	p.Issuer = identity.UserID(pubOf(issuer))
	p.Delegation = nil
	if delegation != nil {
		p.Delegation = delegation.Marshal()
	}
	p.Sig = sign(issuer, policyDomain, p.unsigned())
}

// Marshal encodes the policy.
func (p *Policy) Marshal() []byte { return marshal(p) }

// UnmarshalPolicy decodes a policy strictly.
func UnmarshalPolicy(b []byte) (*Policy, error) {
	p := new(Policy)
	if err := unmarshal(b, MaxListSize, p, "policy"); err != nil {
		return nil, err
	}
	return p, nil
}

// Verify checks the policy's shape, signature and signer against a at now.
func (p *Policy) Verify(a *Anchor, now time.Time) error {
	switch {
	case p.V != Version:
		return fmt.Errorf("%w: policy version %d", ErrMalformed, p.V)
	case p.Net != a.Net:
		return fmt.Errorf("%w: policy", ErrWrongNetwork)
	case p.Version == 0:
		return fmt.Errorf("%w: policy version 0", ErrMalformed)
	case len(p.Rules) > MaxRules:
		return fmt.Errorf("%w: policy of more than %d rules", ErrMalformed, MaxRules)
	}
	for _, r := range p.Rules {
		for _, t := range []string{r.From, r.To} {
			if t != "*" {
				if err := checkTag(t); err != nil {
					return err
				}
			}
		}
	}
	if !verify(p.Issuer[:], policyDomain, p.unsigned(), p.Sig) {
		return fmt.Errorf("%w on policy version %d", ErrBadSignature, p.Version)
	}
	if err := checkIssued("policy", p.Issued, now); err != nil {
		return err
	}
	return a.authorize(p.Issuer, p.Delegation, ledger.ScopeACL, now)
}

// Allows reports whether a member tagged from may talk to one tagged to.
// A nil policy allows everything.
func (p *Policy) Allows(from, to []string) bool {
	if p == nil {
		return true
	}
	for _, r := range p.Rules {
		if (r.From == "*" || slices.Contains(from, r.From)) && (r.To == "*" || slices.Contains(to, r.To)) {
			return true
		}
	}
	return false
}

// Store keeps a network's newest verified revocation list and policy. It
// takes a list only if its version is higher than the one held, so a
// replayed older list never undoes a revocation. Safe for concurrent use.
type Store struct {
	anchor func() *Anchor
	now    func() time.Time

	mu  sync.RWMutex // guards following fields
	rev *Revocations
	pol *Policy
}

// NewStore returns an empty store that verifies lists against anchor()
// (read at each offer: a node's anchor follows its ledger) at now().
func NewStore(anchor func() *Anchor, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{anchor: anchor, now: now}
}

// Revocations is the newest revocation list held (nil if none).
func (s *Store) Revocations() *Revocations {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev
}

// Policy is the newest policy held (nil if none).
func (s *Store) Policy() *Policy {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.pol
}

// Versions are the versions held (0 for none).
func (s *Store) Versions() (rev, pol uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.rev != nil {
		rev = s.rev.Version
	}
	if s.pol != nil {
		pol = s.pol.Version
	}
	return rev, pol
}

// OfferRevocations takes r if it verifies and is newer than the list held;
// ErrStale if it is not newer.
func (s *Store) OfferRevocations(r *Revocations) error {
	if v, _ := s.Versions(); r.Version <= v {
		return fmt.Errorf("%w: revocation list version %d, holding %d", ErrStale, r.Version, v)
	}
	if err := r.Verify(s.anchor(), s.now()); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rev != nil && r.Version <= s.rev.Version {
		return fmt.Errorf("%w: revocation list version %d, holding %d", ErrStale, r.Version, s.rev.Version)
	}
	s.rev = r
	return nil
}

// OfferPolicy takes p if it verifies and is newer than the policy held;
// ErrStale if it is not newer.
func (s *Store) OfferPolicy(p *Policy) error {
	if _, v := s.Versions(); p.Version <= v {
		return fmt.Errorf("%w: policy version %d, holding %d", ErrStale, p.Version, v)
	}
	if err := p.Verify(s.anchor(), s.now()); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pol != nil && p.Version <= s.pol.Version {
		return fmt.Errorf("%w: policy version %d, holding %d", ErrStale, p.Version, s.pol.Version)
	}
	s.pol = p
	return nil
}

func isStale(err error) bool { return errors.Is(err, ErrStale) }
