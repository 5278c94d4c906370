package drive

import (
	"bytes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"

	"filippo.io/edwards25519"
	"golang.org/x/crypto/chacha20poly1305"
)

// Member is one entry of a standalone group's allow-list.
type Member struct {
	Writer WriterID `cbor:"1,keyasint"`           // the member's writer key in this drive
	Peer   PeerID   `cbor:"2,keyasint,omitempty"` // the node that syncs for it, if known
	Name   string   `cbor:"3,keyasint,omitempty"`
}

// Group is the allow-list of a standalone drive group, signed by the group
// key whose public half is the drive's address. Members may write and
// sync; Replicators may only sync (they hold ciphertext). A network's
// drive uses the network's ledger instead.
type Group struct {
	Address     Address  `cbor:"1,keyasint"`
	Version     uint64   `cbor:"2,keyasint"`
	Members     []Member `cbor:"3,keyasint,omitempty"`
	Replicators []PeerID `cbor:"4,keyasint,omitempty"`
	Sig         []byte   `cbor:"5,keyasint,omitempty"`
	// Epoch is the current content key epoch and EpochKeys its secret
	// sealed to each member (invite codes, see SealEpoch): a member
	// removed before the epoch began has no code to open.
	Epoch     uint32   `cbor:"6,keyasint,omitempty"`
	EpochKeys []string `cbor:"7,keyasint,omitempty"`
}

// EpochAddress is what the creator derives epoch n's secret from
// (identity.Seed.DriveSecret(EpochAddress(addr, n))), so that its paper
// key restores every epoch while the secret of epoch 0, which removed
// members hold, reveals none of the later ones.
func EpochAddress(addr Address, epoch uint32) [32]byte {
	h := sha256.New()
	h.Write([]byte("coconet/v1/drive-epoch\x00"))
	h.Write(addr[:])
	h.Write(binary.BigEndian.AppendUint32(nil, epoch))
	return [32]byte(h.Sum(nil))
}

// SealEpoch starts key epoch epoch with secret, sealed to every member
// of g. Call it before Sign, when a member is removed.
func (g *Group) SealEpoch(epoch uint32, secret [32]byte) error {
	g.Epoch, g.EpochKeys = epoch, nil
	for _, m := range g.Members {
		code, err := SealInvite(g.Address, secret, m.Writer)
		if err != nil {
			return err
		}
		g.EpochKeys = append(g.EpochKeys, code)
	}
	return nil
}

// OpenEpoch opens the current epoch's secret with a member's writer key
// (then Drive.AddEpoch). A member not in the list gets ErrNoKey.
func (g Group) OpenEpoch(key ed25519.PrivateKey) (uint32, [32]byte, error) {
	w := WriterOf(key)
	for _, code := range g.EpochKeys {
		inv, err := ParseInvite(code)
		if err != nil || inv.To != w {
			continue
		}
		addr, secret, err := OpenInvite(code, key)
		if err != nil {
			return 0, secret, err
		}
		if addr != g.Address {
			return 0, secret, fmt.Errorf("%w: epoch key of another drive", ErrWrongDrive)
		}
		return g.Epoch, secret, nil
	}
	return 0, [32]byte{}, fmt.Errorf("%w: no key of epoch %d for writer %s", ErrNoKey, g.Epoch, w.Short())
}

const groupContext = "coconet/v1/drive-group\x00"

func (g Group) message() []byte {
	g.Sig = nil
	b, err := encMode.Marshal(g)
	if err != nil {
		panic("drive: encode group: " + err.Error())
	}
	return append([]byte(groupContext), b...)
}

// GroupAddress is the address of the group whose key is k.
func GroupAddress(k ed25519.PrivateKey) Address {
	return Address(k.Public().(ed25519.PublicKey))
}

// Sign signs g with the group key k (whose public half must be g's
// address, or g's address is set to it when unset).
func (g *Group) Sign(k ed25519.PrivateKey) {
	if g.Address == (Address{}) {
		g.Address = GroupAddress(k)
	}
	slices.SortFunc(g.Members, func(a, b Member) int { return bytes.Compare(a.Writer[:], b.Writer[:]) })
	slices.Sort(g.Replicators)
	g.Sig = ed25519.Sign(k, g.message())
}

// Verify checks that the group key of g's address signed g.
func (g Group) Verify() error {
	if len(g.Sig) != ed25519.SignatureSize || !ed25519.Verify(ed25519.PublicKey(g.Address[:]), g.message(), g.Sig) {
		return fmt.Errorf("%w: allow-list of group %s", ErrBadSignature, g.Address)
	}
	return nil
}

// Allow holds a group's current allow-list for StoreOptions.AllowWriter
// and ReplicaOptions.AllowPeer. It is safe for concurrent use.
type Allow struct {
	mu sync.Mutex
	g  Group
}

// NewAllow starts from a verified allow-list.
func NewAllow(g Group) (*Allow, error) {
	if err := g.Verify(); err != nil {
		return nil, err
	}
	return &Allow{g: g}, nil
}

// Update replaces the list with a newer signed version of it. A removed
// member's later blocks are refused from then on.
func (a *Allow) Update(g Group) error {
	if err := g.Verify(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if g.Address != a.g.Address {
		return fmt.Errorf("%w: allow-list of %s", ErrWrongDrive, g.Address)
	}
	if g.Version <= a.g.Version {
		return fmt.Errorf("%w: allow-list version %d, %d held", ErrMalformed, g.Version, a.g.Version)
	}
	a.g = g
	return nil
}

// Group returns the current list.
func (a *Allow) Group() Group {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.g
}

// Writer reports whether w may write.
func (a *Allow) Writer(w WriterID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.ContainsFunc(a.g.Members, func(m Member) bool { return m.Writer == w })
}

// Peer reports whether p may sync.
func (a *Allow) Peer(p PeerID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Contains(a.g.Replicators, p) ||
		slices.ContainsFunc(a.g.Members, func(m Member) bool { return m.Peer == p && p != "" })
}

// Invite is what an invite code carries: the drive's address and its
// secret sealed to the invitee's writer key (an ephemeral X25519 key
// agreed with the X25519 form of the Ed25519 key, HKDF, then
// XChaCha20-Poly1305 bound to the address). Only the invitee opens it.
type Invite struct {
	Address Address  `cbor:"1,keyasint"`
	To      WriterID `cbor:"2,keyasint"`
	Eph     []byte   `cbor:"3,keyasint"`
	Sealed  []byte   `cbor:"4,keyasint"`
}

const (
	invitePrefix  = "coco-drive1-"
	inviteContext = "coconet/v1/drive-invite"
	maxInviteCode = 512
)

// x25519Public converts an Ed25519 public key to X25519 (RFC 7748's
// birational map).
func x25519Public(w WriterID) (*ecdh.PublicKey, error) {
	p, err := new(edwards25519.Point).SetBytes(w[:])
	if err != nil {
		return nil, fmt.Errorf("%w: writer key is not a curve point", ErrMalformed)
	}
	return ecdh.X25519().NewPublicKey(p.BytesMontgomery())
}

// x25519Private converts an Ed25519 private key to X25519, as libsodium
// does: the clamped first half of SHA-512 of the seed.
func x25519Private(k ed25519.PrivateKey) (*ecdh.PrivateKey, error) {
	h := sha512.Sum512(k.Seed())
	return ecdh.X25519().NewPrivateKey(h[:32])
}

func inviteAEAD(shared, eph, to []byte) (cipher.AEAD, error) {
	salt := append(append([]byte(nil), eph...), to...)
	k, err := hkdf.Key(sha256.New, shared, salt, inviteContext, chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	return chacha20poly1305.NewX(k)
}

// SealInvite makes the invite code that gives the drive at addr (with its
// secret) to the holder of the writer key to.
func SealInvite(addr Address, secret [32]byte, to WriterID) (string, error) {
	pub, err := x25519Public(to)
	if err != nil {
		return "", err
	}
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	shared, err := eph.ECDH(pub)
	if err != nil {
		return "", fmt.Errorf("%w: invitee key", ErrMalformed)
	}
	a, err := inviteAEAD(shared, eph.PublicKey().Bytes(), pub.Bytes())
	if err != nil {
		return "", err
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	rand.Read(nonce)
	inv := Invite{Address: addr, To: to, Eph: eph.PublicKey().Bytes(), Sealed: a.Seal(nonce, nonce, secret[:], addr[:])}
	b, err := encMode.Marshal(inv)
	if err != nil {
		return "", err
	}
	return invitePrefix + strings.ToLower(b32.EncodeToString(b)), nil
}

// ParseInvite reads an invite code without opening it.
func ParseInvite(code string) (Invite, error) {
	var inv Invite
	code = strings.TrimSpace(code)
	rest, ok := strings.CutPrefix(code, invitePrefix)
	if !ok || len(code) > maxInviteCode {
		return inv, fmt.Errorf("%w: not a drive invite code", ErrMalformed)
	}
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(rest))
	if err != nil {
		return inv, fmt.Errorf("%w: invite code is damaged (a character is wrong or missing)", ErrMalformed)
	}
	if err := unmarshal(b, &inv); err != nil {
		return inv, err
	}
	if len(inv.Eph) != 32 || len(inv.Sealed) != chacha20poly1305.NonceSizeX+32+chacha20poly1305.Overhead {
		return inv, fmt.Errorf("%w: invite fields", ErrMalformed)
	}
	return inv, nil
}

// OpenInvite opens an invite code with the invitee's writer key (derived
// for the code's address: identity.Seed.DriveWriterKey(inv.Address)).
func OpenInvite(code string, key ed25519.PrivateKey) (Address, [32]byte, error) {
	var secret [32]byte
	inv, err := ParseInvite(code)
	if err != nil {
		return Address{}, secret, err
	}
	if WriterOf(key) != inv.To {
		return Address{}, secret, fmt.Errorf("%w: this invite is for writer %s, not %s", ErrNoKey, inv.To.Short(), WriterOf(key).Short())
	}
	priv, err := x25519Private(key)
	if err != nil {
		return Address{}, secret, err
	}
	eph, err := ecdh.X25519().NewPublicKey(inv.Eph)
	if err != nil {
		return Address{}, secret, fmt.Errorf("%w: invite key", ErrMalformed)
	}
	shared, err := priv.ECDH(eph)
	if err != nil {
		return Address{}, secret, fmt.Errorf("%w: invite key", ErrMalformed)
	}
	a, err := inviteAEAD(shared, inv.Eph, priv.PublicKey().Bytes())
	if err != nil {
		return Address{}, secret, err
	}
	n := chacha20poly1305.NonceSizeX
	p, err := a.Open(nil, inv.Sealed[:n], inv.Sealed[n:], inv.Address[:])
	if err != nil {
		return Address{}, secret, fmt.Errorf("%w: invite does not open with this key (damaged, or for someone else)", ErrNoKey)
	}
	copy(secret[:], p)
	return inv.Address, secret, nil
}
