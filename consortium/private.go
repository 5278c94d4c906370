package consortium

import (
	"bytes"
	"crypto"
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

// secretIDLen is the length of a ledger secret's ID: the first bytes of its
// SHA-256 (the recovery information's SecretHash).
const secretIDLen = 8

func (s *LedgerSecret) id() string {
	h := sha256.Sum256(s[:])
	return string(h[:secretIDLen])
}

// seal seals a value: version 2 is 2, the secret's ID, the nonce and the
// ciphertext (version 1, before rekeying, had no ID: the first secret).
func (s *LedgerSecret) seal(gid [32]byte, table string, key, value []byte) []byte {
	g := s.aead()
	out := make([]byte, 1+secretIDLen+g.NonceSize(), 1+secretIDLen+g.NonceSize()+len(value)+g.Overhead())
	out[0] = 2
	copy(out[1:], s.id())
	rand.Read(out[1+secretIDLen:])
	return g.Seal(out, out[1+secretIDLen:], value, privateAD(gid, table, key))
}

func (s *LedgerSecret) open(gid [32]byte, table string, key, body []byte) ([]byte, error) {
	g := s.aead()
	if len(body) < g.NonceSize() {
		return nil, ErrNoSecret
	}
	v, err := g.Open(nil, body[:g.NonceSize()], body[g.NonceSize():], privateAD(gid, table, key))
	if err != nil {
		return nil, ErrNoSecret
	}
	return v, nil
}

// keyring is the ledger secrets a node holds: the current one seals, every
// one opens what it sealed.
type keyring struct {
	cur   *LedgerSecret
	first *LedgerSecret // opens version-1 values
	byID  map[string]*LedgerSecret
}

func (k *keyring) open(gid [32]byte, table string, key, sealed []byte) ([]byte, error) {
	if k == nil || len(sealed) < 1 {
		return nil, ErrNoSecret
	}
	switch sealed[0] {
	case 1:
		if k.first == nil {
			return nil, ErrNoSecret
		}
		return k.first.open(gid, table, key, sealed[1:])
	case 2:
		if len(sealed) < 1+secretIDLen {
			return nil, ErrNoSecret
		}
		s := k.byID[string(sealed[1:1+secretIDLen])]
		if s == nil {
			return nil, ErrNoSecret
		}
		return s.open(gid, table, key, sealed[1+secretIDLen:])
	}
	return nil, ErrNoSecret
}

// SecretEpoch is one ledger secret of the constitution's chain: its ID,
// the secret sealed to each validating node's key when it was made by a
// rekey, and the previous secret sealed with it (so that whoever holds the
// newest secret holds them all).
type SecretEpoch struct {
	ID    []byte
	Nodes map[uint64][]byte `cbor:",omitempty"`
	Prev  []byte            `cbor:",omitempty"`
}

// Rekey is a rekey action: a new ledger secret, split for the current
// members, sealed to the current nodes, with the previous secret sealed
// under it. Make it with Node.RekeyAction on a node that holds the secret.
type Rekey struct {
	Recovery *Recovery
	Nodes    map[uint64][]byte
	Prev     []byte
}

// checkRekey checks a rekey against the constitution: shares for exactly
// the current members, a copy for exactly the current nodes.
func (c *constitution) checkRekey(r *Rekey) error {
	if r == nil || r.Recovery == nil || len(r.Recovery.SecretHash) != sha256.Size || len(r.Prev) == 0 {
		return fmt.Errorf("%w: rekey without recovery information or the previous secret", errAction)
	}
	if c.Recovery == nil {
		return fmt.Errorf("%w: this consortium has no ledger secret to rotate", errAction)
	}
	rc := r.Recovery
	if rc.Threshold < 2 || rc.Threshold > len(c.Members) || len(rc.Shares) != len(c.Members) || len(rc.ShareHashes) != len(c.Members) {
		return fmt.Errorf("%w: rekey needs one share per current member and 2 <= threshold <= members", errAction)
	}
	for m := range c.Members {
		if rc.Shares[m] == nil || len(rc.ShareHashes[m]) != sha256.Size {
			return fmt.Errorf("%w: rekey has no share for member %.16s", errAction, m)
		}
	}
	if len(r.Nodes) != len(c.Nodes) {
		return fmt.Errorf("%w: rekey needs the secret sealed to every current node", errAction)
	}
	for id := range c.Nodes {
		if r.Nodes[id] == nil {
			return fmt.Errorf("%w: rekey does not seal the secret to node %d", errAction, id)
		}
	}
	for _, e := range c.Epochs {
		if bytes.Equal(e.ID, rc.SecretHash[:secretIDLen]) {
			return fmt.Errorf("%w: rekey to a secret already used", errAction)
		}
	}
	return nil
}

// sealWrites seals the values written to private tables.
func (n *Node) sealWrites(ws []Write) ([]Write, error) {
	out := make([]Write, len(ws))
	for i, w := range ws {
		out[i] = w
		if !isPrivate(w.Table) || w.Delete {
			continue
		}
		k := n.secret.Load()
		if k == nil {
			return nil, ErrNoSecret
		}
		out[i].Value = k.cur.seal(n.gid, w.Table, w.Key, w.Value)
	}
	return out, nil
}

func (n *Node) openValue(table string, key, v []byte) ([]byte, error) {
	if !isPrivate(table) {
		return v, nil
	}
	return n.secret.Load().open(n.gid, table, key, v)
}

// adoptSecret makes s, the newest secret of the constitution c (or, with
// no epochs, the configured one), the node's current secret, and opens the
// chain of previous secrets from it. It refuses a secret that is not the
// constitution's.
func (n *Node) adoptSecret(c *constitution, s *LedgerSecret) error {
	k := &keyring{cur: s, byID: map[string]*LedgerSecret{s.id(): s}}
	if len(c.Epochs) == 0 {
		k.first = s
		n.secret.Store(k)
		return nil
	}
	last := c.Epochs[len(c.Epochs)-1]
	if s.id() != string(last.ID) {
		return fmt.Errorf("%w: not the current ledger secret", ErrNoSecret)
	}
	cur := s
	for i := len(c.Epochs) - 1; i > 0; i-- {
		prev, err := cur.openPrev(n.gid, c.Epochs[i].Prev)
		if err != nil || prev.id() != string(c.Epochs[i-1].ID) {
			return fmt.Errorf("%w: the previous secret of epoch %d does not open", ErrNoSecret, i)
		}
		k.byID[prev.id()] = prev
		cur = prev
	}
	k.first = cur
	n.secret.Store(k)
	return nil
}

// maybeAdopt opens the node's sealed copy of the constitution's newest
// secret with its node key when the node does not hold it yet (after a
// rekey, or at a start).
func (n *Node) maybeAdopt(c *constitution) {
	if len(c.Epochs) == 0 {
		return
	}
	last := c.Epochs[len(c.Epochs)-1]
	if k := n.secret.Load(); k != nil && k.cur.id() == string(last.ID) {
		return
	}
	sealed, ok := last.Nodes[n.cfg.ID]
	if !ok {
		return
	}
	b, err := openSealed(n.cfg.Key, sealed)
	if err != nil || len(b) != 32 {
		n.cfg.Logf("consortium: node %d: cannot open its copy of the new ledger secret: %v", n.cfg.ID, err)
		return
	}
	var s LedgerSecret
	copy(s[:], b)
	if err := n.adoptSecret(c, &s); err != nil {
		n.cfg.Logf("consortium: node %d: %v", n.cfg.ID, err)
	}
}

const prevInfo = "coconet/consortium/previous-secret/v1"

func (s *LedgerSecret) sealPrev(gid [32]byte, prev *LedgerSecret) []byte {
	g := s.aead()
	nonce := make([]byte, g.NonceSize())
	rand.Read(nonce)
	return g.Seal(nonce, nonce, prev[:], append(gid[:0:0], append(gid[:], prevInfo...)...))
}

func (s *LedgerSecret) openPrev(gid [32]byte, sealed []byte) (*LedgerSecret, error) {
	g := s.aead()
	if len(sealed) < g.NonceSize() {
		return nil, ErrNoSecret
	}
	b, err := g.Open(nil, sealed[:g.NonceSize()], sealed[g.NonceSize():], append(gid[:0:0], append(gid[:], prevInfo...)...))
	if err != nil || len(b) != 32 {
		return nil, ErrNoSecret
	}
	var p LedgerSecret
	copy(p[:], b)
	return &p, nil
}

// RekeyAction makes a rekey action on a node that holds the current ledger
// secret: a new secret split k-of-n for the current members (k as now, at
// most the members), sealed to every current node's key, with the current
// secret sealed under it. Propose it; once accepted, every node opens its
// copy, new private writes use the new secret and the old shares no longer
// recover the current secret.
func (n *Node) RekeyAction() (Action, error) {
	k := n.secret.Load()
	c := n.st.cons.Load()
	if k == nil {
		return Action{}, ErrNoSecret
	}
	if c.Recovery == nil {
		return Action{}, fmt.Errorf("%w: this consortium has no recovery information", ErrBadRequest)
	}
	s, err := NewLedgerSecret()
	if err != nil {
		return Action{}, err
	}
	var certs [][]byte
	for _, id := range sortedKeys(c.Members) {
		certs = append(certs, c.Members[id])
	}
	r, err := SealRecovery(s, certs, min(max(c.Recovery.Threshold, 2), len(certs)))
	if err != nil {
		return Action{}, err
	}
	nodes := map[uint64][]byte{}
	for id, ni := range c.Nodes {
		sealed, err := sealTo(ed25519.PublicKey(ni.PubKey), s[:])
		if err != nil {
			return Action{}, fmt.Errorf("consortium: seal the secret to node %d: %w", id, err)
		}
		nodes[id] = sealed
	}
	return Action{Kind: ActRekey, Rekey: &Rekey{Recovery: r, Nodes: nodes, Prev: s.sealPrev(n.gid, k.cur)}}, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
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
		sealed, err := sealTo(cert.PublicKey, shares[i])
		if err != nil {
			return nil, err
		}
		r.Shares[CertID(der)] = sealed
		sh := sha256.Sum256(shares[i])
		r.ShareHashes[CertID(der)] = sh[:]
	}
	return r, nil
}

// sealTo seals msg to a public key (ECDSA P-256, or Ed25519 through its
// X25519 form): an ephemeral ECDH, HKDF, AES-GCM.
func sealTo(pk any, msg []byte) ([]byte, error) {
	pub, kind, err := ecdhPublic(pk)
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
	ct := shareAEAD(shared, eph.PublicKey().Bytes(), pub.Bytes()).Seal(nil, make([]byte, 12), msg, nil)
	return append(append([]byte{kind}, eph.PublicKey().Bytes()...), ct...), nil
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
	return openSealed(m.Key, sealed)
}

// openSealed opens what sealTo sealed to key's public half.
func openSealed(key crypto.Signer, sealed []byte) ([]byte, error) {
	var priv *ecdh.PrivateKey
	var err error
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		priv, err = k.ECDH()
	case ed25519.PrivateKey:
		h := sha512.Sum512(k.Seed())
		priv, err = ecdh.X25519().NewPrivateKey(h[:32])
	default:
		err = fmt.Errorf("unsupported key %T", key)
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

// Recovery is the consortium's current recovery information (nil: none):
// the genesis', or the last rekey's.
func (n *Node) Recovery() *Recovery { return n.st.cons.Load().Recovery }

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
		if err == nil {
			err = n.adoptSecret(n.st.cons.Load(), secret)
		}
		if err != nil {
			// Only without ShareHashes can a bad share get here: start over.
			n.shares = nil
			return n.recoveryState(), err
		}
		n.shares = nil
		n.cfg.Logf("consortium: node %d: ledger secret recovered from %d shares", n.cfg.ID, len(all))
	}
	return n.recoveryState(), nil
}
