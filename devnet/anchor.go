package devnet

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/internal/strictcbor"
	"github.com/coconet/coconet/ledger"
)

// Version is the wire version this package writes and reads.
const Version = 1

// Limits.
const (
	// MaxTags is the most tags an auth key or credential carries.
	MaxTags = 16
	// MaxTagLen is the longest tag.
	MaxTagLen = 64
	// MaxCredSize is the largest encoded NodeCred (or Proof without its
	// genesis) accepted.
	MaxCredSize = 4 << 10
	// MaxRevoked is the most entries a revocation list holds.
	MaxRevoked = 1 << 16
	// MaxRules is the most rules a policy holds.
	MaxRules = 1024
	// MaxListSize is the largest encoded list accepted.
	MaxListSize = MaxRevoked*35 + 4<<10
	// MaxControl is the most control-plane addresses an auth key names.
	MaxControl = 8
	// ClockSkew is the tolerance for issue times in the future.
	ClockSkew = 5 * time.Minute
)

var (
	encMode = strictcbor.EncMode
	decMode = strictcbor.DecMode(6, MaxRevoked, 16)
)

// Anchor is what a verifier trusts: a developer network and its owner
// (from the genesis), and, for a node, its ledger's view of the service
// keys.
type Anchor struct {
	Net   ledger.NetworkID
	Owner identity.UserID
	// Services is the ledger's view of the service keys (nil for a
	// verifier without the ledger, such as a control plane). A key it lists
	// must be valid there for the scope needed (a revoke_service or a
	// narrower delegation in the ledger wins over the delegation a chain
	// carries); a key it does not list is judged by the delegation carried.
	Services map[identity.UserID]*ledger.ServiceInfo
}

// AnchorOf checks a developer network's genesis and returns its anchor.
func AnchorOf(genesis *ledger.Op) (*Anchor, error) {
	if genesis == nil || genesis.Kind != ledger.KindGenesis {
		return nil, fmt.Errorf("%w: not a genesis", ErrMalformed)
	}
	if err := genesis.VerifySignature(); err != nil {
		return nil, fmt.Errorf("%w on the genesis", ErrBadSignature)
	}
	if genesis.NetKind != ledger.NetKindDeveloper {
		return nil, fmt.Errorf("%w: network %q is a %s network", ErrNotDeveloper, genesis.Name, genesis.NetKind)
	}
	return &Anchor{Net: ledger.NetworkID(genesis.ID()), Owner: genesis.Author}, nil
}

// AnchorFromState is the anchor of a node holding the network's ledger.
func AnchorFromState(st *ledger.State) (*Anchor, error) {
	if st.Kind != ledger.NetKindDeveloper {
		return nil, fmt.Errorf("%w: network %q is a %s network", ErrNotDeveloper, st.Name, st.Kind)
	}
	return &Anchor{Net: st.Network, Owner: st.Owner, Services: st.Services}, nil
}

// authorize checks that issuer may sign with scope need at now: it is the
// owner, or delegation is the owner's delegate_service op for issuer with
// that scope, unexpired (or the ledger holds a valid one for it).
func (a *Anchor) authorize(issuer identity.UserID, delegation []byte, need uint32, now time.Time) error {
	if issuer == a.Owner {
		if len(delegation) != 0 {
			return fmt.Errorf("%w: the owner's signature carries a delegation", ErrMalformed)
		}
		return nil
	}
	if len(delegation) == 0 {
		return fmt.Errorf("%w: %s signed with no delegation", ErrNotAuthorized, issuer.Short())
	}
	op, err := ledger.Unmarshal(delegation)
	if err != nil {
		return fmt.Errorf("%w: delegation: %v", ErrMalformed, err)
	}
	switch {
	case op.Kind != ledger.KindDelegateService:
		return fmt.Errorf("%w: the delegation is a %s op", ErrNotAuthorized, op.Kind)
	case op.Author != a.Owner:
		return fmt.Errorf("%w: the delegation is not the owner's", ErrNotAuthorized)
	case op.Net != a.Net:
		return fmt.Errorf("%w: delegation", ErrWrongNetwork)
	case op.Subject != issuer:
		return fmt.Errorf("%w: the delegation names %s, not the signer %s", ErrNotAuthorized, op.Subject.Short(), issuer.Short())
	}
	if err := op.VerifySignature(); err != nil {
		return fmt.Errorf("%w on the delegation", ErrBadSignature)
	}
	if si := a.Services[issuer]; si != nil {
		// The ledger's word wins: revoked or narrowed there, refused; renewed
		// there, accepted with the older delegation carried.
		if !si.Valid(need, now) {
			return fmt.Errorf("%w: the ledger's delegation of service key %s is revoked, expired or lacks scope %s",
				ErrNotAuthorized, issuer.Short(), ledger.ScopeString(need))
		}
		return nil
	}
	if op.Scopes&need != need {
		return fmt.Errorf("%w: service key %s has scopes %s, not %s", ErrNotAuthorized, issuer.Short(), ledger.ScopeString(op.Scopes), ledger.ScopeString(need))
	}
	if now.Unix() >= op.Expires {
		return fmt.Errorf("%w: the delegation of service key %s expired at %s", ErrExpired, issuer.Short(), fmtTime(op.Expires))
	}
	return nil
}

// checkTags checks that tags are sorted, unique, at most MaxTags, each of
// 1..MaxTagLen bytes of [a-z0-9:._-].
func checkTags(tags []string) error {
	if len(tags) > MaxTags {
		return fmt.Errorf("%w: %d tags, more than %d", ErrMalformed, len(tags), MaxTags)
	}
	for i, t := range tags {
		if err := checkTag(t); err != nil {
			return err
		}
		if i > 0 && tags[i-1] >= t {
			return fmt.Errorf("%w: tags not sorted or repeated", ErrMalformed)
		}
	}
	return nil
}

func checkTag(t string) error {
	if len(t) == 0 || len(t) > MaxTagLen {
		return fmt.Errorf("%w: tag of %d bytes", ErrMalformed, len(t))
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune(":._-", c)) {
			return fmt.Errorf("%w: tag %q has %q (use a-z 0-9 : . _ -)", ErrMalformed, t, c)
		}
	}
	return nil
}

// NormalizeTags lowercases, sorts and deduplicates tags and checks them.
func NormalizeTags(tags []string) ([]string, error) {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		out = append(out, strings.ToLower(strings.TrimSpace(t)))
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		out = nil
	}
	return out, checkTags(out)
}

func subset(a, b []string) bool {
	for _, t := range a {
		if _, ok := slices.BinarySearch(b, t); !ok {
			return false
		}
	}
	return true
}

func fmtTime(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.RFC3339) }

// checkIssued refuses an issue time in the future.
func checkIssued(what string, issued int64, now time.Time) error {
	if time.Unix(issued, 0).After(now.Add(ClockSkew)) {
		return fmt.Errorf("%w: %s issued in the future (%s); check the clocks", ErrExpired, what, fmtTime(issued))
	}
	return nil
}

func marshal(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		// Every field has an encoding: a bug in this package.
		panic("devnet: encode: " + err.Error())
	}
	return b
}

// unmarshal decodes b into v strictly: at most max bytes, no trailing
// bytes, and canonical (re-encoding gives b back).
func unmarshal(b []byte, max int, v any, what string) error {
	if len(b) > max {
		return fmt.Errorf("%w: %s of %d bytes, more than %d", ErrMalformed, what, len(b), max)
	}
	rest, err := decMode.UnmarshalFirst(b, v)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %s: unexpected end of data", ErrMalformed, what)
	case err != nil:
		return fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	case len(rest) > 0:
		return fmt.Errorf("%w: %s: %d trailing bytes", ErrMalformed, what, len(rest))
	}
	if !bytes.Equal(marshal(v), b) {
		return fmt.Errorf("%w: %s not in canonical form", ErrMalformed, what)
	}
	return nil
}

func sign(key ed25519.PrivateKey, domain string, unsigned []byte) []byte {
	return ed25519.Sign(key, append([]byte(domain), unsigned...))
}

func verify(pub []byte, domain string, unsigned, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && len(sig) == ed25519.SignatureSize &&
		ed25519.Verify(pub, append([]byte(domain), unsigned...), sig)
}

func pubOf(k ed25519.PrivateKey) [32]byte { return [32]byte(k.Public().(ed25519.PublicKey)) }
