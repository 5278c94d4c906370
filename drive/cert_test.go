package drive

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
)

// TestWriterCert: a cert verifies for its drive only, and not once a
// field is changed (another user, another writer).
func TestWriterCert(t *testing.T) {
	_, k, _ := ed25519.GenerateKey(nil)
	var d, other Address
	other[0] = 1
	user := [32]byte{7}
	c := CertifyWriter(k, d, user)
	if err := c.Verify(d); err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(other); !errors.Is(err, ErrWrongDrive) {
		t.Errorf("Verify(other drive) = %v, want ErrWrongDrive", err)
	}
	c2 := c
	c2.User[0] ^= 1
	if err := c2.Verify(d); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify(other user) = %v, want ErrBadSignature", err)
	}
	got, err := ParseWriterCert(c.Marshal())
	if err != nil || got.Key() != c.Key() || !bytes.Equal(got.Sig, c.Sig) {
		t.Fatalf("ParseWriterCert = %+v, %v", got, err)
	}
}

// TestCheckSecret: the drive's secret opens its mark; another does not;
// with no entry of the epoch there is nothing to check; a giver's own
// entries do not vouch for its secret when another writer's exist.
func TestCheckSecret(t *testing.T) {
	st, err := OpenStore(t.TempDir(), testAddr, StoreOptions{noSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var secret, wrong [32]byte
	secret[0], wrong[0] = 1, 2
	_, ka, _ := ed25519.GenerateKey(nil)
	_, kb, _ := ed25519.GenerateKey(nil)
	if err := CheckSecret(st, 0, secret, nil, nil); !errors.Is(err, ErrUnverified) {
		t.Fatalf("empty store: %v, want ErrUnverified", err)
	}
	a, _ := Open(st, secret, ka, Options{})
	a.Mark()
	if err := CheckSecret(st, 0, secret, nil, nil); err != nil {
		t.Fatalf("right secret: %v", err)
	}
	if err := CheckSecret(st, 0, wrong, nil, nil); !errors.Is(err, ErrWrongSecret) {
		t.Fatalf("wrong secret: %v, want ErrWrongSecret", err)
	}
	// b hands out wrong after writing under it: a's entries refute it.
	b, _ := Open(st, wrong, kb, Options{})
	b.WriteFile("x", []byte("x"))
	isB := func(w WriterID) bool { return w == WriterOf(kb) }
	if err := CheckSecret(st, 0, wrong, isB, nil); !errors.Is(err, ErrWrongSecret) {
		t.Fatalf("a liar's secret its own entries open: %v, want ErrWrongSecret", err)
	}
	if err := CheckSecret(st, 1, secret, nil, nil); !errors.Is(err, ErrUnverified) {
		t.Fatalf("epoch 1: %v, want ErrUnverified", err)
	}
}

// FuzzLedgerRecords: the drive's ledger values (bytes any admin can put)
// decode or are refused, never panic.
func FuzzLedgerRecords(f *testing.F) {
	_, k, _ := ed25519.GenerateKey(nil)
	f.Add(CertifyWriter(k, Address{}, [32]byte{}).Marshal())
	ek, _ := SealEpochKeys(Address{}, 1, [32]byte{1}, []WriterID{WriterOf(k)})
	f.Add(ek.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := ParseWriterCert(b); err == nil {
			c.Verify(Address{})
			c.Key()
		}
		if e, err := ParseEpochKeys(b); err == nil {
			e.Writers()
			e.Open(k)
		}
	})
}
