package shamir

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

func TestField(t *testing.T) {
	for a := 1; a < 256; a++ {
		if got := mul(byte(a), div(1, byte(a))); got != 1 {
			t.Fatalf("%d * 1/%d = %d, want 1", a, a, got)
		}
	}
	// Reference multiplication (Russian peasant) against the tables.
	slow := func(a, b byte) byte {
		var p byte
		for b != 0 {
			if b&1 != 0 {
				p ^= a
			}
			hi := a & 0x80
			a <<= 1
			if hi != 0 {
				a ^= 0x1b
			}
			b >>= 1
		}
		return p
	}
	for a := 0; a < 256; a++ {
		for b := 0; b < 256; b++ {
			if mul(byte(a), byte(b)) != slow(byte(a), byte(b)) {
				t.Fatalf("mul(%d, %d) = %d, want %d", a, b, mul(byte(a), byte(b)), slow(byte(a), byte(b)))
			}
		}
	}
}

func TestSplitCombine(t *testing.T) {
	secret := make([]byte, 32)
	rand.Read(secret)
	shares, err := Split(secret, 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	// Every subset of 3, 4 and 5 shares recovers; every pair does not.
	for mask := 1; mask < 32; mask++ {
		var sub [][]byte
		for i := 0; i < 5; i++ {
			if mask&(1<<i) != 0 {
				sub = append(sub, shares[i])
			}
		}
		if len(sub) < 2 {
			continue
		}
		got, err := Combine(sub)
		if err != nil {
			t.Fatal(err)
		}
		if ok := bytes.Equal(got, secret); ok != (len(sub) >= 3) {
			t.Fatalf("Combine(%d shares, mask %05b) recovered = %v, want %v", len(sub), mask, ok, len(sub) >= 3)
		}
	}
}

func TestCombineRefusesMalformed(t *testing.T) {
	shares, _ := Split([]byte("ledger secret"), 3, 2)
	cases := map[string][][]byte{
		"one share":     {shares[0]},
		"duplicate":     {shares[0], shares[0]},
		"short":         {shares[0], shares[1][:5]},
		"x zero":        {shares[0], append([]byte{1, 0}, shares[1][2:]...)},
		"other version": {shares[0], append([]byte{2}, shares[1][1:]...)},
	}
	for name, in := range cases {
		if _, err := Combine(in); !errors.Is(err, ErrShares) {
			t.Errorf("Combine(%s) = %v, want ErrShares", name, err)
		}
	}
	for _, p := range [][3]int{{5, 1, 0}, {3, 4, 1}, {300, 2, 1}, {3, 2, -1}} {
		secret := []byte("s")
		if p[2] < 0 {
			secret = nil
		}
		if _, err := Split(secret, p[0], p[1]); !errors.Is(err, ErrParams) {
			t.Errorf("Split(n=%d, k=%d) = %v, want ErrParams", p[0], p[1], err)
		}
	}
}

func FuzzCombine(f *testing.F) {
	shares, _ := Split([]byte("seed secret"), 3, 2)
	f.Add(shares[0], shares[1])
	f.Add([]byte{1, 1, 2}, []byte{1, 1, 3})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		got, err := Combine([][]byte{a, b})
		if err == nil && len(got) != len(a)-2 {
			t.Fatalf("Combine = %d bytes from shares of %d", len(got), len(a))
		}
	})
}
