package drive

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var testSecret = [32]byte{42}

// member opens a drive for writer i in a fresh store. fast skips fsync.
func member(t testing.TB, i byte, fast bool) *Drive {
	t.Helper()
	st, err := OpenStore(t.TempDir(), testAddr, StoreOptions{Logf: t.Logf, noSync: fast})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	d, err := Open(st, testSecret, testKey(t, i), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// copyStore brings dst up to date with src the way the sync protocol does:
// batches verified by AddBatch, chunks by AddChunk.
func copyStore(t testing.TB, dst, src *Store) {
	t.Helper()
	for _, h := range src.Heads() {
		for dst.Head(h.Writer).Size < h.Size {
			b, ok := src.BatchFrom(h.Writer, dst.Head(h.Writer).Size, 1+rand.IntN(4), 1<<20)
			if !ok {
				break
			}
			if err := dst.AddBatch(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range dst.MissingChunks() {
		if b, err := src.Chunk(c); err == nil {
			if err := dst.AddChunk(c, b); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestPutGetRenameRemove(t *testing.T) {
	d := member(t, 1, false)
	big := make([]byte, 3*ChunkMax+12345)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	if _, err := d.WriteFile("docs/big.bin", big); err != nil {
		t.Fatal(err)
	}
	if _, err := d.WriteFile("/notes//todo.txt", []byte("buy milk")); err != nil {
		t.Fatal(err)
	}
	got, err := d.ReadFile("docs/big.bin")
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("ReadFile(big) = %d bytes, %v", len(got), err)
	}
	if err := d.Rename("notes/todo.txt", "done.txt"); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.ReadFile("done.txt"); string(got) != "buy milk" {
		t.Fatalf("after rename: %q", got)
	}
	if _, err := d.Stat("notes/todo.txt"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat(old name) = %v", err)
	}
	if err := d.Remove("done.txt"); err != nil {
		t.Fatal(err)
	}
	if got := d.List(); len(got) != 1 || got[0].Path != "docs/big.bin" {
		t.Fatalf("List = %v", got)
	}
	if h := d.History("done.txt"); len(h) != 2 || !h[1].Deleted {
		t.Fatalf("History = %+v", h)
	}
	if _, err := d.WriteFile("../escape", nil); err != nil {
		t.Fatal(err) // cleaned to "escape", never above the root
	}
	if _, err := d.Stat("escape"); err != nil {
		t.Fatal(err)
	}
	// A reopened drive has the same tree.
	d2, err := Open(d.Store(), testSecret, testKey(t, 1), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := d.List(), d2.List(); len(a) != len(b) {
		t.Fatalf("reopened: %v, want %v", b, a)
	}
}

// TestIncrementalChunks: changing 1 MiB in the middle of a file stores
// only the chunks around the change (content-defined chunking).
func TestIncrementalChunks(t *testing.T) {
	d := member(t, 1, true)
	data := make([]byte, 32<<20)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	d.WriteFile("big", data)
	before := d.Store().Used()
	for i := 16 << 20; i < 17<<20; i++ {
		data[i] ^= 0x55
	}
	d.WriteFile("big", data)
	added := d.Store().Used() - before
	t.Logf("32 MiB file, 1 MiB changed: %d bytes stored again", added)
	if added > 8<<20 {
		t.Fatalf("re-put stored %d bytes, want a few chunks", added)
	}
	if got, _ := d.ReadFile("big"); !bytes.Equal(got, data) {
		t.Fatal("content differs after re-put")
	}
}

// TestBlindReplica: a replicator holds every log and chunk, verifies them,
// and its whole store contains no file name and no content in the clear.
func TestBlindReplica(t *testing.T) {
	a := member(t, 1, false)
	b := member(t, 2, false)
	secretName := "Quarterly-Salaries-Confidential"
	secretText := "Alice earns exactly 123456 and Bob knows it"
	a.WriteFile("hr/"+secretName+".txt", []byte(strings.Repeat(secretText+"\n", 1000)))
	a.WriteFile("plans/"+secretName+"-2027.md", []byte(secretText))
	b.WriteFile("shared/"+secretName+".csv", []byte(secretText))
	a.Rename("plans/"+secretName+"-2027.md", "plans/moved-"+secretName+".md")

	repDir := t.TempDir()
	rep, err := OpenStore(repDir, testAddr, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	copyStore(t, rep, a.Store())
	copyStore(t, rep, b.Store())
	if len(rep.Heads()) != 2 || len(rep.MissingChunks()) != 0 {
		t.Fatalf("replica holds %d logs, misses %d chunks", len(rep.Heads()), len(rep.MissingChunks()))
	}
	// A third member who only ever talks to the replica reads it all.
	c := member(t, 3, false)
	copyStore(t, c.Store(), rep)
	c.Refresh()
	if got, err := c.ReadFile("shared/" + secretName + ".csv"); err != nil || string(got) != secretText {
		t.Fatalf("member via replica: %q, %v", got, err)
	}
	needles := []string{secretName, "Quarterly", "Salaries", "123456", "Alice earns", "hr/", "plans", ".csv", "moved-"}
	filepath.WalkDir(repDir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		body, _ := os.ReadFile(p)
		for _, n := range needles {
			for _, form := range [][]byte{[]byte(n), []byte(strings.ToLower(n)), encodeUTF16(n)} {
				if bytes.Contains(body, form) || strings.Contains(p, string(form)) {
					t.Errorf("replica file %s contains %q", p, n)
				}
			}
		}
		return nil
	})
	// The replica cannot open the drive: it has no secret, and a wrong
	// secret opens nothing.
	wrong, _ := Open(rep, [32]byte{7}, testKey(t, 9), Options{})
	if got := wrong.List(); len(got) != 0 {
		t.Fatalf("a wrong key reads %v", got)
	}
}

func encodeUTF16(s string) []byte {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r), 0)
	}
	return b
}

func TestConflictCopy(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 4, 5, 0, time.UTC)
	a := member(t, 1, true)
	b := member(t, 2, true)
	a.opts.Now = func() time.Time { return t0 }
	b.opts.Now = func() time.Time { return t0.Add(time.Minute) }
	a.WriteFile("report.txt", []byte("v1"))
	copyStore(t, b.Store(), a.Store())
	b.Refresh()
	// Both edit offline.
	a.WriteFile("report.txt", []byte("alice"))
	b.WriteFile("report.txt", []byte("bob"))
	copyStore(t, b.Store(), a.Store())
	copyStore(t, a.Store(), b.Store())
	a.Refresh()
	b.Refresh()
	want := "report.sync-conflict-20261203-100405-" + a.Writer().Short() + ".txt"
	for _, d := range []*Drive{a, b} {
		if got, _ := d.ReadFile("report.txt"); string(got) != "bob" {
			t.Fatalf("winner = %q, want bob (later mtime)", got)
		}
		cs := d.Conflicts()
		if len(cs) != 1 || cs[0].Path != want || cs[0].ConflictOf != "report.txt" {
			t.Fatalf("conflicts = %+v, want %s", cs, want)
		}
		if got, _ := d.ReadFile(want); string(got) != "alice" {
			t.Fatalf("conflict copy = %q", got)
		}
	}
	// Removing the copy resolves the conflict everywhere.
	a.Remove(want)
	copyStore(t, b.Store(), a.Store())
	b.Refresh()
	if cs := b.Conflicts(); len(cs) != 0 {
		t.Fatalf("after resolve: %v", cs)
	}
	if got, _ := b.ReadFile("report.txt"); string(got) != "bob" {
		t.Fatalf("after resolve: %q", got)
	}
}

func TestConflictName(t *testing.T) {
	w := WriterOf(ed25519.NewKeyFromSeed(make([]byte, 32)))
	tm := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]string{
		"a/b/report.txt": "a/b/report.sync-conflict-20260102-030405-" + w.Short() + ".txt",
		"Makefile":       "Makefile.sync-conflict-20260102-030405-" + w.Short(),
		".bashrc":        ".bashrc.sync-conflict-20260102-030405-" + w.Short(),
		"x.tar.gz":       "x.tar.sync-conflict-20260102-030405-" + w.Short() + ".gz",
	} {
		if got := ConflictName(in, tm, w); got != want {
			t.Errorf("ConflictName(%q) = %q, want %q", in, got, want)
		}
	}
}
