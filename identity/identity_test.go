package identity

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMnemonicRoundTrip(t *testing.T) {
	s, err := NewSeed()
	if err != nil {
		t.Fatal(err)
	}
	words := s.Mnemonic()
	if n := len(strings.Fields(words)); n != 24 {
		t.Fatalf("Mnemonic() has %d words, want 24", n)
	}
	back, err := SeedFromMnemonic("  " + strings.ToUpper(words) + "\n")
	if err != nil {
		t.Fatalf("SeedFromMnemonic: %v", err)
	}
	if back.UserID() != s.UserID() {
		t.Fatalf("restored user %s, want %s", back.UserID(), s.UserID())
	}
}

func TestMnemonicErrors(t *testing.T) {
	// A fixed seed: swapping two words of a random one keeps the 8-bit
	// checksum valid once in 256 runs.
	b := make([]byte, SeedSize)
	for i := range b {
		b[i] = byte(i)
	}
	s, err := SeedFromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Fields(s.Mnemonic())
	swapped := append([]string(nil), w...)
	swapped[0], swapped[1] = swapped[1], swapped[0]
	for name, in := range map[string]string{
		"short":    strings.Join(w[:23], " "),
		"notaword": strings.Join(append(append([]string(nil), w[:23]...), "coconutz"), " "),
		"checksum": strings.Join(swapped, " "),
		"empty":    "",
	} {
		if name == "checksum" && swapped[0] == swapped[1] {
			continue
		}
		if _, err := SeedFromMnemonic(in); err == nil {
			t.Errorf("%s: SeedFromMnemonic accepted bad words", name)
		}
	}
}

func TestDerivationSeparatesContexts(t *testing.T) {
	s, _ := NewSeed()
	var n1, n2 [32]byte
	n2[0] = 1
	keys := [][]byte{
		s.UserKey().Seed(),
		s.NodeKey(n1, "coco").Seed(),
		s.NodeKey(n2, "coco").Seed(),
		s.NodeKey(n1, "other").Seed(),
	}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if bytes.Equal(keys[i], keys[j]) {
				t.Errorf("keys %d and %d are equal", i, j)
			}
		}
	}
	if !bytes.Equal(s.NodeKey(n1, "coco"), s.NodeKey(n1, "coco")) {
		t.Error("NodeKey is not deterministic")
	}
}

// TestPinnedDerivation pins the KDF: changing it would change every user's ID.
func TestPinnedDerivation(t *testing.T) {
	s, _ := SeedFromBytes(bytes.Repeat([]byte{7}, 32))
	const want = "u5amkyaea76n5eqmczitz6xo5hnkzz6jotnkpgqpp6q2xeahdc3wa"
	if got := s.UserID().String(); got != want {
		t.Fatalf("UserID of seed 0x07.. = %s, want %s", got, want)
	}
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); err != ErrNoIdentity {
		t.Fatalf("Load(empty) = %v, want ErrNoIdentity", err)
	}
	s, _ := NewSeed()
	id := &Identity{Name: "alice", Seed: s}
	if err := Save(dir, id); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, seedFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("seed mode = %v, want 0600", st.Mode().Perm())
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID() != id.ID() || got.Name != "alice" {
		t.Errorf("Load = %s %q, want %s alice", got.ID(), got.Name, id.ID())
	}
	other, _ := NewSeed()
	if err := Save(dir, &Identity{Seed: other}); err == nil {
		t.Error("Save over a different identity succeeded")
	}
}

func TestUserIDText(t *testing.T) {
	s, _ := NewSeed()
	u := s.UserID()
	back, err := ParseUserID(u.String())
	if err != nil || back != u {
		t.Fatalf("ParseUserID(%s) = %v, %v", u, back, err)
	}
	for _, bad := range []string{"", "x", "uAAAA", u.String()[1:]} {
		if _, err := ParseUserID(bad); err == nil {
			t.Errorf("ParseUserID(%q) accepted", bad)
		}
	}
}

// TestDriveKeys: drive keys come from the seed alone (a restore from the
// paper key gets them back), differ per drive and per label, and are
// unrelated to the user and node keys.
func TestDriveKeys(t *testing.T) {
	s, _ := NewSeed()
	back, err := SeedFromMnemonic(s.Mnemonic())
	if err != nil {
		t.Fatal(err)
	}
	a, b := [32]byte{1}, [32]byte{2}
	if !s.DriveWriterKey(a).Equal(back.DriveWriterKey(a)) || s.DriveSecret(a) != back.DriveSecret(a) ||
		!s.GroupKey("team").Equal(back.GroupKey("team")) {
		t.Fatal("drive keys do not survive a restore")
	}
	pubs := [][]byte{
		s.DriveWriterKey(a).Public().(ed25519.PublicKey), s.DriveWriterKey(b).Public().(ed25519.PublicKey),
		s.GroupKey("team").Public().(ed25519.PublicKey), s.GroupKey("family").Public().(ed25519.PublicKey),
		s.UserKey().Public().(ed25519.PublicKey), s.NodeKey(a, "drive").Public().(ed25519.PublicKey),
	}
	sa, sb := s.DriveSecret(a), s.DriveSecret(b)
	pubs = append(pubs, sa[:], sb[:])
	for i := range pubs {
		for j := range i {
			if bytes.Equal(pubs[i], pubs[j]) {
				t.Fatalf("keys %d and %d are equal", i, j)
			}
		}
	}
}
