package keyshare

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tyler-smith/go-bip39"

	"github.com/coconet/coconet/consortium/shamir"
	"github.com/coconet/coconet/identity"
)

// Errors of Parse and Combine; match them with errors.Is.
var (
	// ErrMalformed: a line that is not a share.
	ErrMalformed = errors.New("keyshare: not a key share")
	// ErrMismatch: shares of different splits or users, too few of them, or
	// shares that rebuild a seed of another user (a share was changed).
	ErrMismatch = errors.New("keyshare: shares do not rebuild the user's key")
)

const magic = "coco-share-1"

// Share is one share of a split seed.
type Share struct {
	K, N int
	X    byte
	User string // the first characters of the user ID (UserID.Short)
	Y    [identity.SeedSize]byte
}

// String is the share as one line of text.
func (s Share) String() string {
	words, err := bip39.NewMnemonic(s.Y[:])
	if err != nil {
		panic("keyshare: bip39 on 32 bytes cannot fail: " + err.Error())
	}
	return fmt.Sprintf("%s %dof%d #%d %s %s", magic, s.K, s.N, s.X, s.User, words)
}

// Split splits seed into n shares, any k of which rebuild it.
func Split(seed identity.Seed, n, k int) ([]Share, error) {
	raw, err := shamir.Split(seed.Bytes(), n, k)
	if err != nil {
		return nil, fmt.Errorf("keyshare: %w", err)
	}
	user := seed.UserID().Short()
	out := make([]Share, n)
	for i, r := range raw {
		out[i] = Share{K: k, N: n, X: r[1], User: user}
		copy(out[i].Y[:], r[2:])
		clear(r)
	}
	return out, nil
}

// Parse reads a share line (any spacing or case of the words).
func Parse(line string) (Share, error) {
	f := strings.Fields(line)
	if len(f) != 4+24 || f[0] != magic {
		return Share{}, fmt.Errorf("%w: want %q, k-of-n, #x, the user and 24 words", ErrMalformed, magic)
	}
	var s Share
	kn := strings.SplitN(f[1], "of", 2)
	if len(kn) != 2 {
		return Share{}, fmt.Errorf("%w: %q is not KofN", ErrMalformed, f[1])
	}
	var err error
	if s.K, err = strconv.Atoi(kn[0]); err != nil || s.K < 2 || s.K > 255 {
		return Share{}, fmt.Errorf("%w: threshold %q", ErrMalformed, kn[0])
	}
	if s.N, err = strconv.Atoi(kn[1]); err != nil || s.N < s.K || s.N > 255 {
		return Share{}, fmt.Errorf("%w: count %q", ErrMalformed, kn[1])
	}
	x, err := strconv.Atoi(strings.TrimPrefix(f[2], "#"))
	if err != nil || !strings.HasPrefix(f[2], "#") || x < 1 || x > 255 {
		return Share{}, fmt.Errorf("%w: share number %q", ErrMalformed, f[2])
	}
	s.X = byte(x)
	s.User = f[3]
	if !strings.HasPrefix(s.User, "u") || len(s.User) < 8 || len(s.User) > 64 {
		return Share{}, fmt.Errorf("%w: user %q", ErrMalformed, s.User)
	}
	words := strings.ToLower(strings.Join(f[4:], " "))
	for i, w := range f[4:] {
		if _, ok := bip39.GetWordIndex(strings.ToLower(w)); !ok {
			return Share{}, fmt.Errorf("%w: word %d (%q) is not in the BIP39 English list", ErrMalformed, i+1, w)
		}
	}
	y, err := bip39.EntropyFromMnemonic(words)
	if err != nil || len(y) != len(s.Y) {
		return Share{}, fmt.Errorf("%w: the words' checksum does not match (a word is wrong or out of order)", ErrMalformed)
	}
	copy(s.Y[:], y)
	return s, nil
}

// Combine rebuilds the seed from k or more shares of one split and checks
// it against the user the shares name. With more than k shares, a share
// that does not fit is named in the error (and nothing is rebuilt).
func Combine(shares []Share) (identity.Seed, error) {
	if len(shares) == 0 {
		return identity.Seed{}, fmt.Errorf("%w: no shares", ErrMismatch)
	}
	k, n, user := shares[0].K, shares[0].N, shares[0].User
	for _, s := range shares {
		if s.K != k || s.N != n || s.User != user {
			return identity.Seed{}, fmt.Errorf("%w: shares of different splits (%dof%d %s and %dof%d %s)", ErrMismatch, k, n, user, s.K, s.N, s.User)
		}
	}
	if len(shares) < k {
		return identity.Seed{}, fmt.Errorf("%w: %d shares, %d needed", ErrMismatch, len(shares), k)
	}
	seed, err := combine(shares, user)
	if err == nil || len(shares) == k {
		return seed, err
	}
	// One share may be wrong: find the one without which the rest fit.
	for i := range shares {
		rest := append(append([]Share(nil), shares[:i]...), shares[i+1:]...)
		if _, err2 := combine(rest, user); err2 == nil {
			return identity.Seed{}, fmt.Errorf("%w: share #%d does not fit the others (changed?); combine without it", ErrMismatch, shares[i].X)
		}
	}
	return identity.Seed{}, err
}

func combine(shares []Share, user string) (identity.Seed, error) {
	raw := make([][]byte, len(shares))
	for i, s := range shares {
		raw[i] = append([]byte{1, s.X}, s.Y[:]...)
	}
	b, err := shamir.Combine(raw)
	for _, r := range raw {
		clear(r)
	}
	if err != nil {
		return identity.Seed{}, fmt.Errorf("%w: %v", ErrMismatch, err)
	}
	seed, err := identity.SeedFromBytes(b)
	clear(b)
	if err != nil {
		return identity.Seed{}, fmt.Errorf("%w: %v", ErrMismatch, err)
	}
	if seed.UserID().Short() != user {
		return identity.Seed{}, fmt.Errorf("%w: they rebuild user %s, not %s (a share was changed, or is of another split)", ErrMismatch, seed.UserID().Short(), user)
	}
	return seed, nil
}
