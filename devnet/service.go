package devnet

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

// ServiceKey is what a service (a developer network's control plane, the
// developer's own backend) holds to act for the owner within the scopes
// the owner delegated: its private key, the owner's delegate_service op
// and the network's genesis. Its String is what `coco net service add`
// prints. It mints auth keys (ScopeEnroll) and signs revocation lists
// (ScopeRevoke) and policies (ScopeACL); it can never sign as the owner.
type ServiceKey struct {
	V          uint8    `cbor:"1,keyasint"`
	Seed       [32]byte `cbor:"2,keyasint"` // Ed25519 seed of the service key
	Delegation []byte   `cbor:"3,keyasint"` // the owner's delegate_service op
	Genesis    []byte   `cbor:"4,keyasint"` // the network's genesis op
}

const serviceKeyPrefix = "cocosvc1-"

// NewServiceKey wraps a service key and the owner's delegation of it; it
// checks that the delegation names the key and verifies against genesis.
func NewServiceKey(key ed25519.PrivateKey, delegation, genesis *ledger.Op, now time.Time) (*ServiceKey, error) {
	sk := &ServiceKey{V: Version, Seed: [32]byte(key.Seed()), Delegation: delegation.Marshal(), Genesis: genesis.Marshal()}
	if err := sk.check(now); err != nil {
		return nil, err
	}
	return sk, nil
}

func (sk *ServiceKey) check(now time.Time) error {
	if sk.V != Version {
		return fmt.Errorf("%w: service key version %d", ErrMalformed, sk.V)
	}
	a, err := sk.Anchor()
	if err != nil {
		return err
	}
	// authorize checks the delegation for the key with no scope needed.
	return a.authorize(identity.UserID(pubOf(sk.Key())), sk.Delegation, 0, now)
}

// Key is the service's private key.
func (sk *ServiceKey) Key() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(sk.Seed[:]) }

// ID is the service key's public key, as the ledger names it.
func (sk *ServiceKey) ID() identity.UserID { return identity.UserID(pubOf(sk.Key())) }

// Anchor is the network's anchor, from the genesis the key carries.
func (sk *ServiceKey) Anchor() (*Anchor, error) {
	g, err := ledger.Unmarshal(sk.Genesis)
	if err != nil {
		return nil, fmt.Errorf("%w: service key's genesis: %v", ErrMalformed, err)
	}
	return AnchorOf(g)
}

// GenesisOp is the network's genesis.
func (sk *ServiceKey) GenesisOp() (*ledger.Op, error) { return ledger.Unmarshal(sk.Genesis) }

// DelegationOp is the owner's delegate_service op for the key.
func (sk *ServiceKey) DelegationOp() (*ledger.Op, error) { return ledger.Unmarshal(sk.Delegation) }

// Scopes are the scopes the delegation grants (ledger.Scope* bits).
func (sk *ServiceKey) Scopes() uint32 {
	if d, err := sk.DelegationOp(); err == nil {
		return d.Scopes
	}
	return 0
}

// NewAuthKey mints an auth key signed by the service key (ScopeEnroll).
func (sk *ServiceKey) NewAuthKey(o AuthKeyOptions, now time.Time) (*AuthKey, error) {
	d, err := sk.DelegationOp()
	if err != nil {
		return nil, err
	}
	g, err := sk.GenesisOp()
	if err != nil {
		return nil, err
	}
	return NewAuthKey(sk.Key(), d, g, o, now)
}

// SignRevocations signs r (its Net, Version, Issued and entries set) with
// the service key (ScopeRevoke; it cannot revoke service keys).
func (sk *ServiceKey) SignRevocations(r *Revocations) error {
	d, err := sk.DelegationOp()
	if err != nil {
		return err
	}
	r.Sign(sk.Key(), d)
	return nil
}

// SignPolicy signs p (its Net, Version, Issued and Rules set) with the
// service key (ScopeACL).
func (sk *ServiceKey) SignPolicy(p *Policy) error {
	d, err := sk.DelegationOp()
	if err != nil {
		return err
	}
	p.Sign(sk.Key(), d)
	return nil
}

// String is the service key as one string ("cocosvc1-" and base64url). It
// is a secret.
func (sk *ServiceKey) String() string {
	return serviceKeyPrefix + base64.RawURLEncoding.EncodeToString(marshal(sk))
}

// ParseServiceKey decodes the string form and checks the delegation
// against the genesis at now.
func ParseServiceKey(s string, now time.Time) (*ServiceKey, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, serviceKeyPrefix) || len(s) > maxAuthKeyLen {
		return nil, fmt.Errorf("%w: not a service key (it starts with %q)", ErrMalformed, serviceKeyPrefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(s[len(serviceKeyPrefix):])
	if err != nil {
		return nil, fmt.Errorf("%w: service key: %v", ErrMalformed, err)
	}
	sk := new(ServiceKey)
	if err := unmarshal(b, maxAuthKeyLen, sk, "service key"); err != nil {
		return nil, err
	}
	if err := sk.check(now); err != nil {
		return nil, err
	}
	return sk, nil
}
