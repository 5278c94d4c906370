package drive

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/coconet/coconet/identity"
)

var testAddr = Address{1, 2, 3}

func testKey(t testing.TB, i byte) ed25519.PrivateKey {
	t.Helper()
	s, err := identity.SeedFromBytes(append(make([]byte, 31), i))
	if err != nil {
		t.Fatal(err)
	}
	return s.DriveWriterKey(testAddr)
}

func openTestStore(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := OpenStore(dir, testAddr, StoreOptions{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func block(i int) []byte {
	return encodeEntry(Entry{Sealed: []byte(fmt.Sprintf("block %d", i))})
}

func TestAppendVerifyReplicate(t *testing.T) {
	k := testKey(t, 1)
	w := WriterOf(k)
	a := openTestStore(t, t.TempDir())
	b := openTestStore(t, t.TempDir())
	var heads []SignedRoot
	for i := range 13 {
		h, err := a.Append(k, block(i))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Verify(testAddr); err != nil {
			t.Fatalf("root %d: %v", i+1, err)
		}
		heads = append(heads, h)
	}
	// Inclusion of every block, consistency of every earlier root.
	for i := range uint64(13) {
		r, blk, p, err := a.Inclusion(w, i)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyInclusion(r, i, blk, p); err != nil {
			t.Fatalf("inclusion %d: %v", i, err)
		}
		if err := VerifyInclusion(r, i, block(99), p); !errors.Is(err, ErrTampered) {
			t.Fatalf("inclusion of a wrong block = %v, want ErrTampered", err)
		}
		head, cp, err := a.Consistency(w, i)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if err := VerifyConsistency(heads[i-1], head, cp); err != nil {
				t.Fatalf("consistency %d: %v", i, err)
			}
		}
	}
	// Replicate in pieces: 0..5 then the rest.
	bt, _ := a.BatchFrom(w, 0, 5, 1<<20)
	if bt.Root.Size != 5 {
		t.Fatalf("batch size %d, want 5", bt.Root.Size)
	}
	if err := b.AddBatch(bt); err != nil {
		t.Fatal(err)
	}
	bt, _ = a.BatchFrom(w, 5, 100, 1<<20)
	if err := b.AddBatch(bt); err != nil {
		t.Fatal(err)
	}
	if b.Head(w).Root != a.Head(w).Root || b.Head(w).Size != 13 {
		t.Fatalf("replica head %+v, want %+v", b.Head(w), a.Head(w))
	}
	// A replay is harmless.
	bt, _ = a.BatchFrom(w, 3, 100, 1<<20)
	if err := b.AddBatch(bt); err != nil {
		t.Fatalf("replayed batch: %v", err)
	}
}

// TestRefuseTampered is the attack of a malicious replica: it alters a
// block, drops one, forges a root or claims the wrong prefix.
func TestRefuseTampered(t *testing.T) {
	k := testKey(t, 1)
	w := WriterOf(k)
	a := openTestStore(t, t.TempDir())
	for i := range 6 {
		a.Append(k, block(i))
	}
	good, _ := a.BatchFrom(w, 0, 100, 1<<20)
	cases := map[string]func(b *Batch) error{
		"altered block": func(b *Batch) error { b.Blocks[2] = block(77); return ErrTampered },
		"dropped block (truncated)": func(b *Batch) error {
			b.Blocks = b.Blocks[:5]
			b.Root.Size = 5
			return ErrBadSignature
		},
		"truncated without root": func(b *Batch) error { b.Blocks = b.Blocks[:5]; return ErrMalformed },
		"forged root": func(b *Batch) error {
			b.Root = signRoot(testKey(t, 9), testAddr, 6, b.Root.Root)
			b.Root.Writer = w
			return ErrBadSignature
		},
		"other drive":   func(b *Batch) error { b.Root.Drive = Address{9}; return ErrWrongDrive },
		"reordered":     func(b *Batch) error { b.Blocks[0], b.Blocks[1] = b.Blocks[1], b.Blocks[0]; return ErrTampered },
		"garbage block": func(b *Batch) error { b.Blocks[0] = []byte{0xff, 0x00}; return ErrMalformed },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			r := openTestStore(t, t.TempDir())
			b := good
			b.Blocks = append([][]byte(nil), good.Blocks...)
			want := mutate(&b)
			err := r.AddBatch(b)
			if !errors.Is(err, want) {
				t.Fatalf("AddBatch = %v, want %v", err, want)
			}
			t.Logf("refused: %v", err)
			if r.Head(w).Size != 0 {
				t.Fatalf("replica stored %d blocks of a refused batch", r.Head(w).Size)
			}
		})
	}
}

// TestForkDetected: a writer (two devices with one key, or a modified
// client) signs two histories; a replica holding one refuses the other and
// keeps a proof anyone can check.
func TestForkDetected(t *testing.T) {
	k := testKey(t, 1)
	w := WriterOf(k)
	a := openTestStore(t, t.TempDir())
	f := openTestStore(t, t.TempDir())
	for i := range 4 {
		a.Append(k, block(i))
		f.Append(k, block(i))
	}
	for i := 4; i < 7; i++ {
		a.Append(k, block(i))
	}
	f.Append(k, block(100)) // the fork at index 4
	f.Append(k, block(101))
	for _, tc := range []struct {
		name string
		from *Store
	}{{"longer", a}, {"shorter", f}} {
		t.Run(tc.name, func(t *testing.T) {
			r := openTestStore(t, t.TempDir())
			other := a
			if tc.from == a {
				other = f
			}
			b, _ := other.BatchFrom(w, 0, 100, 1<<20)
			if err := r.AddBatch(b); err != nil {
				t.Fatal(err)
			}
			b, _ = tc.from.BatchFrom(w, 3, 100, 1<<20)
			err := r.AddBatch(b)
			if !errors.Is(err, ErrForked) {
				t.Fatalf("AddBatch of the other branch = %v, want ErrForked", err)
			}
			t.Logf("refused: %v", err)
			fs := r.Forks()
			if len(fs) != 1 || fs[0].Verify(testAddr) != nil {
				t.Fatalf("forks = %v", fs)
			}
			// The proof convinces a third store, and survives a reopen.
			third := openTestStore(t, t.TempDir())
			if err := third.AddFork(fs[0]); err != nil {
				t.Fatal(err)
			}
			if !third.Forked(w) {
				t.Fatal("third store does not flag the writer")
			}
			// Further blocks of the writer are refused.
			if _, err := r.Append(k, block(200)); !errors.Is(err, ErrForked) {
				t.Fatalf("Append after fork = %v, want ErrForked", err)
			}
		})
	}
	// Announced roots: same size, other hash.
	r := openTestStore(t, t.TempDir())
	b, _ := a.BatchFrom(w, 0, 100, 1<<20)
	r.AddBatch(b)
	if err := r.CheckRoot(f.Head(w)); !errors.Is(err, ErrForked) {
		t.Fatalf("CheckRoot of a shorter inconsistent root = %v, want ErrForked", err)
	}
	// A forged fork proof is refused: two honest roots of one history,
	// with the real hashes; or one root twice.
	h5, _ := a.BatchFrom(w, 0, 5, 1<<20)
	a.mu.Lock()
	tr := a.logs[w].t
	bad := ForkProof{A: h5.Root, B: a.logs[w].head, Prefix: tr.rangeHashes(0, 5), Rest: tr.rangeHashes(5, a.logs[w].head.Size)}
	a.mu.Unlock()
	for _, p := range []ForkProof{bad, {A: h5.Root, B: h5.Root}} {
		if err := openTestStore(t, t.TempDir()).AddFork(p); err == nil {
			t.Fatalf("a fork proof of consistent roots was accepted: %d, %d", p.A.Size, p.B.Size)
		}
	}
	// And a consistent shorter root is no fork.
	if err := openTestStore(t, t.TempDir()).CheckRoot(h5.Root); err != nil {
		t.Fatal(err)
	}
}

// TestCrashTail: a crash mid-append leaves a torn record; the store reopens
// with every acknowledged block and nothing corrupt. Simulated by cutting
// the file at every byte offset of the last records.
func TestCrashTail(t *testing.T) {
	k := testKey(t, 1)
	w := WriterOf(k)
	dir := t.TempDir()
	s, err := OpenStore(dir, testAddr, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ends []int64 // file size after each acknowledged append
	var roots []SignedRoot
	path := s.logPath(w)
	for i := range 5 {
		r, err := s.Append(k, block(i))
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(path)
		ends = append(ends, fi.Size())
		roots = append(roots, r)
	}
	s.Close()
	full, _ := os.ReadFile(path)
	for cut := ends[2]; cut <= ends[4]; cut++ {
		cdir := t.TempDir()
		os.MkdirAll(filepath.Join(cdir, logsDir), 0o700)
		os.WriteFile(filepath.Join(cdir, addrFile), []byte(testAddr.String()), 0o600)
		os.WriteFile(filepath.Join(cdir, logsDir, w.String()+".log"), full[:cut], 0o600)
		r, err := OpenStore(cdir, testAddr, StoreOptions{})
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		want := 0
		for i, e := range ends {
			if e <= cut {
				want = i + 1
			}
		}
		h := r.Head(w)
		if int(h.Size) != want || h.Root != roots[want-1].Root || h.Verify(testAddr) != nil {
			t.Fatalf("cut at %d: head %d, want %d", cut, h.Size, want)
		}
		// The store appends after the cut as usual.
		if _, err := r.Append(k, block(want)); err != nil {
			t.Fatalf("append after cut: %v", err)
		}
		r.Close()
		r, err = OpenStore(cdir, testAddr, StoreOptions{})
		if err != nil || r.Head(w).Size != uint64(want+1) {
			t.Fatalf("reopen after cut %d and append: %v, size %d", cut, err, r.Head(w).Size)
		}
		r.Close()
	}
	// A flipped bit inside a record is caught by the CRC: cut there.
	bad := append([]byte(nil), full...)
	bad[ends[1]+20] ^= 1
	cdir := t.TempDir()
	os.MkdirAll(filepath.Join(cdir, logsDir), 0o700)
	os.WriteFile(filepath.Join(cdir, logsDir, w.String()+".log"), bad, 0o600)
	r, err := OpenStore(cdir, testAddr, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Head(w).Size != 2 {
		t.Fatalf("after a flipped bit: size %d, want 2", r.Head(w).Size)
	}
}

func TestChunks(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	h, err := s.PutChunk(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddChunk(h, append(data[:10:10], 1)); !errors.Is(err, ErrTampered) {
		t.Fatalf("AddChunk of wrong bytes = %v, want ErrTampered", err)
	}
	got, err := s.Chunk(h)
	if err != nil || string(got) != string(data) {
		t.Fatalf("Chunk = %v", err)
	}
	// Damage on disk: not served.
	os.WriteFile(s.chunkPath(h), []byte("rot"), 0o600)
	if _, err := s.Chunk(h); !errors.Is(err, ErrTampered) {
		t.Fatalf("Chunk of a damaged file = %v, want ErrTampered", err)
	}
	// It is then missing, to be fetched again.
	if s.HasChunk(h) {
		t.Fatal("a damaged chunk still counts as held")
	}
	if err := s.AddChunk(h, data); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Chunk(h); err != nil || string(got) != string(data) {
		t.Fatalf("Chunk after refetch = %v", err)
	}
}
