// Package shamir splits a secret into n shares of which any k recover it (Shamir's scheme over GF(2^8)).
//
// It is the building block for the consortium's recovery shares and for a
// user's social recovery of a key. A share is a version byte (1), the share's
// x coordinate (1..255) and one byte per secret byte. Fewer than k shares say
// nothing about the secret. Combine cannot tell a wrong share from a right
// one: callers authenticate what they recover (a key checked against its
// public half, a secret against its hash).
package shamir

import (
	"crypto/rand"
	"errors"
	"fmt"
)

// Errors of Split and Combine.
var (
	ErrParams = errors.New("shamir: need 2 <= k <= n <= 255 and a non-empty secret")
	ErrShares = errors.New("shamir: shares are malformed, duplicated or of different lengths")
)

const version = 1

var expT [510]byte
var logT [256]byte

func init() {
	x := byte(1)
	for i := 0; i < 255; i++ {
		expT[i], expT[i+255] = x, x
		logT[x] = byte(i)
		// multiply by the generator 3 in GF(2^8) mod x^8+x^4+x^3+x+1
		hi := x & 0x80
		x2 := x << 1
		if hi != 0 {
			x2 ^= 0x1b
		}
		x ^= x2
	}
}

func mul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	return expT[int(logT[a])+int(logT[b])]
}

func div(a, b byte) byte {
	if a == 0 {
		return 0
	}
	return expT[int(logT[a])+255-int(logT[b])]
}

// Split returns n shares of secret, any k of which recover it.
func Split(secret []byte, n, k int) ([][]byte, error) {
	if len(secret) == 0 || k < 2 || k > n || n > 255 {
		return nil, ErrParams
	}
	shares := make([][]byte, n)
	for i := range shares {
		shares[i] = make([]byte, 2+len(secret))
		shares[i][0], shares[i][1] = version, byte(i+1)
	}
	coef := make([]byte, k)
	for j, s := range secret {
		coef[0] = s
		if _, err := rand.Read(coef[1:]); err != nil {
			return nil, fmt.Errorf("shamir: random: %w", err)
		}
		for i := range shares {
			x := shares[i][1]
			// Horner: a0 + x(a1 + x(a2 + ...))
			var y byte
			for c := k - 1; c >= 0; c-- {
				y = mul(y, x) ^ coef[c]
			}
			shares[i][2+j] = y
		}
	}
	clear(coef)
	return shares, nil
}

// Combine recovers the secret from k or more shares of one Split (with fewer
// it returns bytes unrelated to the secret).
func Combine(shares [][]byte) ([]byte, error) {
	if len(shares) < 2 {
		return nil, ErrShares
	}
	size := len(shares[0])
	seen := map[byte]bool{}
	for _, s := range shares {
		if len(s) != size || size < 3 || s[0] != version || s[1] == 0 || seen[s[1]] {
			return nil, ErrShares
		}
		seen[s[1]] = true
	}
	secret := make([]byte, size-2)
	for j := range secret {
		// Lagrange interpolation at x = 0.
		var acc byte
		for i, si := range shares {
			num, den := byte(1), byte(1)
			for m, sm := range shares {
				if m == i {
					continue
				}
				num = mul(num, sm[1])
				den = mul(den, si[1]^sm[1])
			}
			acc ^= mul(si[2+j], div(num, den))
		}
		secret[j] = acc
	}
	return secret, nil
}
