package folder

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coconet/coconet/drive"
)

// driveRemote is a Remote over a drive.Drive in this process.
type driveRemote struct{ d *drive.Drive }

func version(fi drive.FileInfo) string { return fmt.Sprintf("%s:%d", fi.Writer, fi.Seq) }

func (r driveRemote) List(context.Context) ([]File, error) {
	var out []File
	for _, fi := range r.d.List() {
		out = append(out, File{Path: fi.Path, Size: fi.Size, MTime: fi.MTime, Version: version(fi)})
	}
	return out, nil
}

func (r driveRemote) Put(_ context.Context, p, src string) (File, error) {
	f, err := os.Open(src)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	fi, err := r.d.Put(p, f)
	return File{Path: fi.Path, Size: fi.Size, MTime: fi.MTime, Version: version(fi)}, err
}

func (r driveRemote) Get(_ context.Context, p, dst string) error {
	b, err := r.d.ReadFile(p)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o600)
}

func (r driveRemote) Remove(_ context.Context, p string) error { return r.d.Remove(p) }

var addr = drive.Address{9}

func member(t *testing.T, seed byte) *drive.Drive {
	t.Helper()
	st, err := drive.OpenStore(t.TempDir(), addr, drive.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	k := ed25519.NewKeyFromSeed(append(make([]byte, 31), seed))
	d, err := drive.Open(st, [32]byte{1}, k, drive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// exchange brings a's and b's stores up to date with each other, as a
// sync does.
func exchange(t *testing.T, a, b *drive.Drive) {
	t.Helper()
	for _, pair := range [][2]*drive.Store{{a.Store(), b.Store()}, {b.Store(), a.Store()}} {
		from, to := pair[0], pair[1]
		for _, h := range from.Heads() {
			for n := to.Head(h.Writer).Size; n < h.Size; {
				bt, ok := from.BatchFrom(h.Writer, n, 256, 1<<20)
				if !ok {
					break
				}
				if err := to.AddBatch(bt); err != nil {
					t.Fatal(err)
				}
				n = bt.Root.Size
			}
		}
		for _, h := range to.MissingChunks() {
			if c, err := from.Chunk(h); err == nil {
				to.AddChunk(h, c)
			}
		}
	}
	a.Refresh()
	b.Refresh()
}

func write(t *testing.T, dir, p, content string) {
	t.Helper()
	f := filepath.Join(dir, filepath.FromSlash(p))
	os.MkdirAll(filepath.Dir(f), 0o755)
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tree reads the folder's files (the state directory aside).
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if d.IsDir() && d.Name() == StateDir {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			out[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	return out
}

func syncOK(t *testing.T, f *Folder) Stats {
	t.Helper()
	st, err := f.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func sameTrees(t *testing.T, a, b string) map[string]string {
	t.Helper()
	ta, tb := tree(t, a), tree(t, b)
	if fmt.Sprint(ta) != fmt.Sprint(tb) {
		t.Fatalf("folders differ:\n%v\n%v", ta, tb)
	}
	return ta
}

// TestFolderStory: two members keep a folder each in sync with the
// drive: new files, edits, deletes and subdirectories travel both ways; a
// file both edit offline ends as the file and one conflict copy in both
// folders; a restart sends nothing again.
func TestFolderStory(t *testing.T) {
	da, db := member(t, 1), member(t, 2)
	dirA, dirB := t.TempDir(), t.TempDir()
	fa, err := Open(dirA, driveRemote{da}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fb, _ := Open(dirB, driveRemote{db}, Options{})

	write(t, dirA, "notes.txt", "v1")
	write(t, dirA, "sub/deep/file.bin", "deep")
	if st := syncOK(t, fa); st.Uploaded != 2 {
		t.Fatalf("first round of a: %+v, want 2 uploads", st)
	}
	exchange(t, da, db)
	if st := syncOK(t, fb); st.Downloaded != 2 {
		t.Fatalf("first round of b: %+v, want 2 downloads", st)
	}
	sameTrees(t, dirA, dirB)

	// b edits one file and deletes the other.
	write(t, dirB, "notes.txt", "v2 from b")
	os.Remove(filepath.Join(dirB, "sub/deep/file.bin"))
	syncOK(t, fb)
	exchange(t, da, db)
	syncOK(t, fa)
	got := sameTrees(t, dirA, dirB)
	if got["notes.txt"] != "v2 from b" || got["sub/deep/file.bin"] != "" {
		t.Fatalf("after b's edit and delete: %v", got)
	}

	// Both edit notes.txt offline.
	write(t, dirA, "notes.txt", "a's offline edit")
	write(t, dirB, "notes.txt", "b's offline edit")
	syncOK(t, fa)
	syncOK(t, fb)
	exchange(t, da, db)
	syncOK(t, fa)
	syncOK(t, fb)
	got = sameTrees(t, dirA, dirB)
	var copies []string
	for p := range got {
		if strings.Contains(p, ".sync-conflict-") {
			copies = append(copies, p)
		}
	}
	if len(copies) != 1 || !slices.Contains([]string{"a's offline edit", "b's offline edit"}, got[copies[0]]) || got[copies[0]] == got["notes.txt"] {
		t.Fatalf("after concurrent edits: %v, want notes.txt and one conflict copy holding the other edit", got)
	}

	// Deleting the conflict copy resolves it everywhere.
	os.Remove(filepath.Join(dirA, copies[0]))
	syncOK(t, fa)
	exchange(t, da, db)
	syncOK(t, fb)
	if len(da.Conflicts()) != 0 || len(tree(t, dirB)) != 1 {
		t.Fatalf("after resolving: conflicts %v, b holds %v", da.Conflicts(), tree(t, dirB))
	}

	syncOK(t, fa) // takes the version the resolution re-asserted

	// A restart: the state says everything is in sync.
	fa2, err := Open(dirA, driveRemote{da}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st := syncOK(t, fa2); st != (Stats{}) {
		t.Fatalf("round after a restart: %+v, want nothing done", st)
	}
	if n := len(da.History("notes.txt")); n == 0 {
		t.Fatal("no history")
	}
}

// TestLocalAndRemoteChange: a file changed in the folder while the drive
// got another version keeps both: the local one as a conflict copy.
func TestLocalAndRemoteChange(t *testing.T) {
	da := member(t, 1)
	dir := t.TempDir()
	f, _ := Open(dir, driveRemote{da}, Options{Self: "ME"})
	write(t, dir, "a.txt", "base")
	syncOK(t, f)
	da.WriteFile("a.txt", []byte("remote edit"))
	write(t, dir, "a.txt", "local edit, longer")
	if st := syncOK(t, f); st.Conflicts != 1 {
		t.Fatalf("round: %+v, want a conflict", st)
	}
	got := tree(t, dir)
	if got["a.txt"] != "remote edit" || len(got) != 2 {
		t.Fatalf("folder: %v", got)
	}
	for p, c := range got {
		if strings.Contains(p, ".sync-conflict-") && (!strings.HasSuffix(p, "-ME.txt") || c != "local edit, longer") {
			t.Fatalf("conflict copy %s holds %q", p, c)
		}
	}
	if len(da.List()) != 2 {
		t.Fatalf("drive: %v", da.List())
	}
}

// TestRunWatches: with Run going, a file written into the folder reaches
// the drive, and one written to the drive reaches the folder.
func TestRunWatches(t *testing.T) {
	da := member(t, 1)
	dir := t.TempDir()
	f, _ := Open(dir, driveRemote{da}, Options{Every: 50 * time.Millisecond, Settle: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	}()
	write(t, dir, "new/hello.txt", "hi")
	da.WriteFile("from-drive.txt", []byte("remote"))
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := da.Stat("new/hello.txt")
		if err == nil && tree(t, dir)["from-drive.txt"] == "remote" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s: drive %v, folder %v", da.List(), tree(t, dir))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
