package keyshare

import (
	"errors"
	"strings"
	"testing"

	"github.com/coconet/coconet/identity"
)

func split(t *testing.T, n, k int) (identity.Seed, []Share) {
	t.Helper()
	seed, err := identity.NewSeed()
	if err != nil {
		t.Fatal(err)
	}
	sh, err := Split(seed, n, k)
	if err != nil {
		t.Fatal(err)
	}
	return seed, sh
}

// TestSplitCombine: every k of the n shares, written as text and read
// back, rebuild the seed.
func TestSplitCombine(t *testing.T) {
	seed, sh := split(t, 5, 3)
	for _, pick := range [][]int{{0, 1, 2}, {4, 2, 0}, {1, 3, 4}, {0, 1, 2, 3, 4}} {
		var in []Share
		for _, i := range pick {
			s, err := Parse(strings.ToUpper(sh[i].String()[:0]) + sh[i].String())
			if err != nil {
				t.Fatalf("Parse(%q) = %v", sh[i], err)
			}
			in = append(in, s)
		}
		got, err := Combine(in)
		if err != nil || got.UserID() != seed.UserID() {
			t.Fatalf("Combine(%v) = %v, %v", pick, got.UserID(), err)
		}
	}
}

// TestFewerSharesLearnNothing: k-1 shares are refused, and even passed off
// as a complete set (their threshold relabelled k-1) they rebuild no
// usable key: not the user's.
func TestFewerSharesLearnNothing(t *testing.T) {
	_, sh := split(t, 5, 3)
	if _, err := Combine(sh[:2]); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Combine(k-1) = %v, want ErrMismatch", err)
	}
	forged := []Share{sh[0], sh[1]}
	for i := range forged {
		forged[i].K = 2
	}
	if _, err := Combine(forged); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Combine(k-1 relabelled) = %v, want ErrMismatch", err)
	}
}

// TestTamperedShare: a holder who changes the bytes of a share (and writes
// a consistent checksum) is detected at combine; with k+1 shares the bad
// one is named. A typo in the words fails the checksum or the user check.
func TestTamperedShare(t *testing.T) {
	_, sh := split(t, 5, 3)
	bad := sh[1]
	bad.Y[7] ^= 0x40
	reparsed, err := Parse(bad.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Combine([]Share{sh[0], reparsed, sh[2]}); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Combine(a tampered share) = %v, want ErrMismatch", err)
	}
	_, err = Combine([]Share{sh[0], reparsed, sh[2], sh[3]})
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "#2 ") {
		t.Fatalf("Combine(k+1 with a tampered one) = %v, want share #2 named", err)
	}
	other := sh[2]
	other.User = "uzzzzzzzzzzz"
	if _, err := Combine([]Share{sh[0], sh[1], other}); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Combine(a share of another user) = %v, want ErrMismatch", err)
	}
	f := strings.Fields(sh[0].String())
	f[7], f[8] = f[8], f[7]
	if s, err := Parse(strings.Join(f, " ")); err == nil {
		if _, err := Combine([]Share{s, sh[1], sh[2]}); !errors.Is(err, ErrMismatch) {
			t.Fatalf("two words swapped: Combine = %v, want ErrMismatch", err)
		}
	}
	for _, line := range []string{"", "coco-share-1", "coco-share-1 3of5 #0 uabcdefghijk " + strings.Join(f[4:], " "),
		"coco-share-1 1of5 #1 uabcdefghijk " + strings.Join(f[4:], " "), "coco-share-1 3of2 #1 uabcdefghijk " + strings.Join(f[4:], " "),
		"coco-share-1 3of5 #1 uabcdefghijk " + strings.Join(f[4:], " ") + " abandon"} {
		if _, err := Parse(line); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Parse(%q) = %v, want ErrMalformed", line, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	seed, _ := identity.NewSeed()
	sh, _ := Split(seed, 3, 2)
	f.Add(sh[0].String())
	f.Add("coco-share-1 2of3 #1 uabc " + seed.Mnemonic())
	f.Add("coco-share-1 255of255 #255 u0000000000000 x")
	f.Fuzz(func(t *testing.T, line string) {
		s, err := Parse(line)
		if err != nil {
			return
		}
		again, err := Parse(s.String())
		if err != nil || again != s {
			t.Fatalf("a parsed share does not round-trip: %+v %v", again, err)
		}
	})
}
