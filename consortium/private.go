package consortium

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"sort"
	"strings"

	"filippo.io/edwards25519"
	"github.com/coconet/coconet/consortium/shamir"
)

// Private tables (names starting with "private.") hold values sealed with
// the ledger secret (AES-256-GCM) by the node that submits the write: the
// raft log, the WAL, snapshots and state.db carry only ciphertext, and a node
// opens values for reads. The ledger secret is given to each node; for
// recovery it is split k-of-n (package shamir) into one share per member,
// each sealed to the member's certificate key, in the genesis.

// PrivatePrefix starts the name of a private table.
const PrivatePrefix = "private."

// More errors of private tables and recovery.
var (
	// ErrNoSecret: a private table read or written on a node without the
	// ledger secret (or with one that does not open the value).
	ErrNoSecret = errors.New("consortium: no ledger secret for private tables")
	// ErrBadShares: recovery shares that do not combine to the ledger secret
	// (too few, wrong, or not this consortium's).
	ErrBadShares = errors.New("consortium: recovery shares do not give the ledger secret")
)

// LedgerSecret encrypts the private tables.
type LedgerSecret [32]byte

// NewLedgerSecret makes a random ledger secret.
func NewLedgerSecret() (*LedgerSecret, error) {
	var s LedgerSecret
	if _, err := rand.Read(s[:]); err != nil {
		return nil, fmt.Errorf("consortium: ledger secret: %w", err)
	}
	return &s, nil
}

// Recovery is the constitution's recovery information: the ledger secret's
// hash and one share per member, sealed to that member's key.
type Recovery struct {
	Threshold  int
	SecretHash []byte
	Shares     map[string][]byte // member ID -> sealed share
	// ShareHashes commits to each member's opened share (SHA-256 of the
	// consortium-free share bytes): a node checks a submitted share against
	// its member's hash, so a tampered share, or one submitted under another
	// member's name, is refused on submission, not only after k combine.
	ShareHashes map[string][]byte `cbor:",omitempty"`
}

func isPrivate(table string) bool { return strings.HasPrefix(table, PrivatePrefix) }

func (s *LedgerSecret) aead() cipher.AEAD {
	k, _ := hkdf.Key(sha256.New, s[:], nil, "coconet/consortium/private-tables/v1", 32)
	b, _ := aes.NewCipher(k)
	g, _ := cipher.NewGCM(b)
	return g
}

func privateAD(gid [32]byte, table string, key []byte) []byte {
	ad := append(gid[:0:0], gid[:]...)
	ad = append(ad, table...)
	ad = append(ad, 0)
	return append(ad, key...)
}

func (s *LedgerSecret) seal(gid [32]byte, table string, key, value []byte) []byte {
	g := s.aead()
	out := make([]byte, 1+g.NonceSize(), 1+g.NonceSize()+len(value)+g.Overhead())
	out[0] = 1
	rand.Read(out[1:])
	return g.Seal(out, out[1:], value, privateAD(gid, table, key))
}

func (s *LedgerSecret) open(gid [32]byte, table string, key, sealed []byte) ([]byte, error) {
	g := s.aead()
	if len(sealed) < 1+g.NonceSize() || sealed[0] != 1 {
		return nil, ErrNoSecret
	}
	v, err := g.Open(nil, sealed[1:1+g.NonceSize()], sealed[1+g.NonceSize():], privateAD(gid, table, key))
	if err != nil {
		return nil, ErrNoSecret
	}
	return v, nil
}

// sealWrites seals the values written to private tables.
func (n *Node) sealWrites(ws []Write) ([]Write, error) {
	out := make([]Write, len(ws))
	for i, w := range ws {
		out[i] = w
		if !isPrivate(w.Table) || w.Delete {
			continue
		}
		secret := n.secret.Load()
		if secret == nil {
			return nil, ErrNoSecret
		}
		out[i].Value = secret.seal(n.gid, w.Table, w.Key, w.Value)
	}
	return out, nil
}

func (n *Node) openValue(table string, key, v []byte) ([]byte, error) {
	if !isPrivate(table) {
		return v, nil
	}
	secret := n.secret.Load()
	if secret == nil {
		return nil, ErrNoSecret
	}
	return secret.open(n.gid, table, key, v)
}

const recoveryInfo = "coconet/consortium/recovery/v1"

// SealRecovery splits secret k-of-n into one share per member certificate
// (ECDSA P-256 or Ed25519), each sealed to the certificate's key.
func SealRecovery(secret *LedgerSecret, memberCerts [][]byte, k int) (*Recovery, error) {
	shares, err := shamir.Split(secret[:], len(memberCerts), k)
	if err != nil {
		return nil, fmt.Errorf("consortium: recovery: %w", err)
	}
	h := sha256.Sum256(secret[:])
	r := &Recovery{Threshold: k, SecretHash: h[:], Shares: map[string][]byte{}, ShareHashes: map[string][]byte{}}
	for i, der := range memberCerts {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("consortium: recovery: member certificate: %w", err)
		}
		pub, kind, err := ecdhPublic(cert.PublicKey)
		if err != nil {
			return nil, err
		}
		eph, err := pub.Curve().GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		shared, err := eph.ECDH(pub)
		if err != nil {
			return nil, err
		}
		ct := shareAEAD(shared, eph.PublicKey().Bytes(), pub.Bytes()).Seal(nil, make([]byte, 12), shares[i], nil)
		r.Shares[CertID(der)] = append(append([]byte{kind}, eph.PublicKey().Bytes()...), ct...)
		sh := sha256.Sum256(shares[i])
		r.ShareHashes[CertID(der)] = sh[:]
	}
	return r, nil
}

func shareAEAD(shared, eph, pub []byte) cipher.AEAD {
	k, _ := hkdf.Key(sha256.New, shared, append(append([]byte{}, eph...), pub...), recoveryInfo, 32)
	b, _ := aes.NewCipher(k)
	g, _ := cipher.NewGCM(b)
	return g
}

func ecdhPublic(pk any) (*ecdh.PublicKey, byte, error) {
	switch k := pk.(type) {
	case *ecdsa.PublicKey:
		p, err := k.ECDH()
		if err != nil || p.Curve() != ecdh.P256() {
			return nil, 0, fmt.Errorf("consortium: recovery needs P-256 or Ed25519 member keys")
		}
		return p, 1, nil
	case ed25519.PublicKey:
		pt, err := new(edwards25519.Point).SetBytes(k)
		if err != nil {
			return nil, 0, fmt.Errorf("consortium: recovery: member key: %w", err)
		}
		p, err := ecdh.X25519().NewPublicKey(pt.BytesMontgomery())
		return p, 2, err
	}
	return nil, 0, fmt.Errorf("consortium: recovery: unsupported member key %T", pk)
}

// OpenShare opens the member's recovery share.
func (m *Member) OpenShare(r *Recovery) ([]byte, error) {
	sealed, ok := r.Shares[m.ID()]
	if !ok || len(sealed) < 1 {
		return nil, ErrBadShares
	}
	var priv *ecdh.PrivateKey
	var err error
	switch k := m.Key.(type) {
	case *ecdsa.PrivateKey:
		priv, err = k.ECDH()
	case ed25519.PrivateKey:
		h := sha512.Sum512(k.Seed())
		priv, err = ecdh.X25519().NewPrivateKey(h[:32])
	default:
		err = fmt.Errorf("unsupported key %T", m.Key)
	}
	if err != nil {
		return nil, fmt.Errorf("consortium: open share: %w", err)
	}
	n := len(priv.PublicKey().Bytes())
	if len(sealed) < 1+n {
		return nil, ErrBadShares
	}
	eph, err := priv.Curve().NewPublicKey(sealed[1 : 1+n])
	if err != nil {
		return nil, ErrBadShares
	}
	shared, err := priv.ECDH(eph)
	if err != nil {
		return nil, ErrBadShares
	}
	share, err := shareAEAD(shared, eph.Bytes(), priv.PublicKey().Bytes()).Open(nil, make([]byte, 12), sealed[1+n:], nil)
	if err != nil {
		return nil, ErrBadShares
	}
	return share, nil
}

// RecoverSecret combines members' opened shares into the ledger secret and
// checks it against the recovery information.
func RecoverSecret(r *Recovery, shares [][]byte) (*LedgerSecret, error) {
	if len(shares) < r.Threshold {
		return nil, fmt.Errorf("%w: %d of %d shares", ErrBadShares, len(shares), r.Threshold)
	}
	b, err := shamir.Combine(shares)
	if err != nil || len(b) != 32 {
		return nil, ErrBadShares
	}
	h := sha256.Sum256(b)
	if subtle.ConstantTimeCompare(h[:], r.SecretHash) != 1 {
		return nil, ErrBadShares
	}
	var s LedgerSecret
	copy(s[:], b)
	return &s, nil
}

// RecoveryState is a node's view of recovery: whether it holds the ledger
// secret and whose shares it was given.
type RecoveryState struct {
	Open      bool
	Threshold int
	Members   int      // shares in the recovery information
	Submitted []string // member IDs, sorted
}

// Recovery is the consortium's recovery information (nil: none).
func (n *Node) Recovery() *Recovery { return n.cfg.Genesis.Recovery }

// HasSecret reports whether the node holds the ledger secret.
func (n *Node) HasSecret() bool { return n.secret.Load() != nil }

// RecoveryStatus is the node's recovery state.
func (n *Node) RecoveryStatus() RecoveryState {
	n.recMu.Lock()
	defer n.recMu.Unlock()
	return n.recoveryState()
}

func (n *Node) recoveryState() RecoveryState {
	st := RecoveryState{Open: n.secret.Load() != nil}
	if r := n.Recovery(); r != nil {
		st.Threshold, st.Members = r.Threshold, len(r.Shares)
	}
	for m := range n.shares {
		st.Submitted = append(st.Submitted, m)
	}
	sort.Strings(st.Submitted)
	return st
}

// SubmitShare gives the node member's opened recovery share (CCF's
// disaster recovery). The member must be a current member with a share in
// the recovery information, and the share must be the one committed for it;
// once k shares are in, the node reconstructs the ledger secret, checks it
// against the committed hash and opens the private tables. Shares are held
// in memory only and dropped once the secret is rebuilt.
func (n *Node) SubmitShare(member string, share []byte) (RecoveryState, error) {
	r := n.Recovery()
	if r == nil {
		return RecoveryState{}, fmt.Errorf("%w: this consortium has no recovery information", ErrBadShares)
	}
	if _, ok := n.st.cons.Load().Members[member]; !ok {
		return RecoveryState{}, fmt.Errorf("%w: %.16s", ErrNotMember, member)
	}
	if _, ok := r.Shares[member]; !ok {
		return RecoveryState{}, fmt.Errorf("%w: member %.16s holds no share", ErrBadShares, member)
	}
	if want, ok := r.ShareHashes[member]; ok {
		h := sha256.Sum256(share)
		if subtle.ConstantTimeCompare(h[:], want) != 1 {
			return RecoveryState{}, fmt.Errorf("%w: not member %.16s's share (tampered or another's)", ErrBadShares, member)
		}
	}
	n.recMu.Lock()
	defer n.recMu.Unlock()
	if n.secret.Load() != nil {
		return n.recoveryState(), nil
	}
	if n.shares == nil {
		n.shares = map[string][]byte{}
	}
	n.shares[member] = bytes.Clone(share)
	if len(n.shares) >= r.Threshold {
		var all [][]byte
		for _, s := range n.shares {
			all = append(all, s)
		}
		secret, err := RecoverSecret(r, all)
		if err != nil {
			// Only without ShareHashes can a bad share get here: start over.
			n.shares = nil
			return n.recoveryState(), err
		}
		n.secret.Store(secret)
		n.shares = nil
		n.cfg.Logf("consortium: node %d: ledger secret recovered from %d shares", n.cfg.ID, len(all))
	}
	return n.recoveryState(), nil
}
