package identity

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"github.com/tyler-smith/go-bip39"
)

// SeedSize is the length of a parent seed in bytes.
const SeedSize = 32

// Seed is a user's parent seed. Every key of the user is derived from it.
// It is a secret: never print it except through Mnemonic for an export.
type Seed struct {
	_ [0]func() // not comparable: == on secrets is not constant-time
	b [SeedSize]byte
}

// NewSeed returns a fresh random seed.
func NewSeed() (Seed, error) {
	var s Seed
	if _, err := rand.Read(s.b[:]); err != nil {
		return Seed{}, fmt.Errorf("identity: new seed: %w", err)
	}
	return s, nil
}

// SeedFromBytes wraps 32 raw bytes as a seed.
func SeedFromBytes(b []byte) (Seed, error) {
	var s Seed
	if len(b) != SeedSize {
		return s, fmt.Errorf("identity: seed is %d bytes, want %d", len(b), SeedSize)
	}
	copy(s.b[:], b)
	return s, nil
}

// Bytes returns a copy of the raw seed.
func (s Seed) Bytes() []byte { return append([]byte(nil), s.b[:]...) }

// Mnemonic returns the seed as 24 BIP39 English words (a paper key).
func (s Seed) Mnemonic() string {
	m, err := bip39.NewMnemonic(s.b[:])
	if err != nil {
		panic("identity: bip39 on 32 bytes cannot fail: " + err.Error())
	}
	return m
}

// ErrBadMnemonic is returned when restore words are not a valid paper key.
var ErrBadMnemonic = errors.New("identity: not a valid 24-word paper key")

// SeedFromMnemonic parses 24 BIP39 words (any spacing or case) back into a seed.
func SeedFromMnemonic(words string) (Seed, error) {
	fields := strings.Fields(strings.ToLower(words))
	if len(fields) != 24 {
		return Seed{}, fmt.Errorf("%w: got %d words, want 24", ErrBadMnemonic, len(fields))
	}
	for i, w := range fields {
		if _, ok := bip39.GetWordIndex(w); !ok {
			return Seed{}, fmt.Errorf("%w: word %d (%q) is not in the BIP39 English list", ErrBadMnemonic, i+1, w)
		}
	}
	b, err := bip39.EntropyFromMnemonic(strings.Join(fields, " "))
	if err != nil {
		return Seed{}, fmt.Errorf("%w: checksum does not match (a word is wrong or out of order)", ErrBadMnemonic)
	}
	return SeedFromBytes(b)
}

// Contexts for key derivation. Changing any of them changes every key.
const (
	ctxUser   = "coconet/v1/user-signing-key"
	ctxNode   = "coconet/v1/node-key"
	ctxInvite = "coconet/v1/invite-key"
	ctxDevice = "coconet/v1/device-key"
	ctxGroup  = "coconet/v1/drive-group-key"
	ctxDriveW = "coconet/v1/drive-writer-key"
	ctxDriveS = "coconet/v1/drive-secret"
)

func derive(secret []byte, info string) [32]byte {
	k, err := hkdf.Key(sha256.New, secret, nil, info, 32)
	if err != nil {
		panic("identity: hkdf: " + err.Error())
	}
	var out [32]byte
	copy(out[:], k)
	return out
}

// UserKey is the user's Ed25519 signing key: it signs ledger operations.
func (s Seed) UserKey() ed25519.PrivateKey {
	k := derive(s.b[:], ctxUser)
	return ed25519.NewKeyFromSeed(k[:])
}

// UserID is the user's public identity.
func (s Seed) UserID() UserID { return UserIDOf(s.UserKey().Public().(ed25519.PublicKey)) }

// NodeKey is the Ed25519 key of this user's node for one app in one network.
// An app in three networks runs three nodes with three unrelated keys.
func (s Seed) NodeKey(network [32]byte, app string) ed25519.PrivateKey {
	info := ctxNode + "\x00" + string(network[:]) + "\x00" + app
	k := derive(s.b[:], info)
	return ed25519.NewKeyFromSeed(k[:])
}

// DeviceKey is the Ed25519 key of a device's node. Unlike NodeKey it does not
// depend on a network: a device shows it in its claim code before it belongs
// to any network, and keeps it from one network to the next.
func (s Seed) DeviceKey() ed25519.PrivateKey {
	k := derive(s.b[:], ctxDevice)
	return ed25519.NewKeyFromSeed(k[:])
}

// GroupKey is the Ed25519 key of a standalone drive group this user created
// under label; its public half is the group's address. The label (any
// string the creator keeps, e.g. a random nonce in the invite) is all a
// restore from the paper key needs.
func (s Seed) GroupKey(label string) ed25519.PrivateKey {
	k := derive(s.b[:], ctxGroup+"\x00"+label)
	return ed25519.NewKeyFromSeed(k[:])
}

// DriveWriterKey is the Ed25519 key that signs this user's log in the drive
// at address: one unrelated key per drive.
func (s Seed) DriveWriterKey(address [32]byte) ed25519.PrivateKey {
	k := derive(s.b[:], ctxDriveW+"\x00"+string(address[:]))
	return ed25519.NewKeyFromSeed(k[:])
}

// DriveSecret is the symmetric secret of the drive at address, derived from
// the seed of the drive's creator; members receive it sealed in an invite.
func (s Seed) DriveSecret(address [32]byte) [32]byte {
	return derive(s.b[:], ctxDriveS+"\x00"+string(address[:]))
}

// InviteKey derives the one-time Ed25519 key behind an invite code's secret.
// Whoever holds the secret can connect as this key; the ledger records only
// its public half.
func InviteKey(secret []byte) ed25519.PrivateKey {
	k := derive(secret, ctxInvite)
	return ed25519.NewKeyFromSeed(k[:])
}

// UserID is a user's Ed25519 public key.
type UserID [32]byte

// UserIDOf converts a public key.
func UserIDOf(pub ed25519.PublicKey) UserID {
	var u UserID
	copy(u[:], pub)
	return u
}

// PublicKey returns the key as an ed25519.PublicKey.
func (u UserID) PublicKey() ed25519.PublicKey { return ed25519.PublicKey(u[:]) }

// IsZero reports whether u is unset.
func (u UserID) IsZero() bool { return u == UserID{} }

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// String is the full ID in lowercase base32 (52 characters), prefixed "u".
func (u UserID) String() string { return "u" + strings.ToLower(b32.EncodeToString(u[:])) }

// Short is a 12-character prefix for people to read and type.
func (u UserID) Short() string { return u.String()[:12] }

// ParseUserID parses the form produced by String.
func ParseUserID(s string) (UserID, error) {
	var u UserID
	if !strings.HasPrefix(s, "u") {
		return u, fmt.Errorf("identity: user id %q does not start with 'u'", s)
	}
	b, err := b32.DecodeString(strings.ToUpper(s[1:]))
	if err != nil || len(b) != 32 {
		return u, fmt.Errorf("identity: %q is not a user id", s)
	}
	copy(u[:], b)
	return u, nil
}

// MarshalText implements encoding.TextMarshaler.
func (u UserID) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (u *UserID) UnmarshalText(b []byte) error {
	v, err := ParseUserID(string(b))
	if err != nil {
		return err
	}
	*u = v
	return nil
}
