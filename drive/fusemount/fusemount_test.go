package fusemount

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coconet/coconet/drive"
	"github.com/coconet/coconet/drive/folder"
)

type driveRemote struct{ d *drive.Drive }

func wire(fi drive.FileInfo) folder.File {
	return folder.File{Path: fi.Path, Size: fi.Size, MTime: fi.MTime, Version: fmt.Sprintf("%s:%d", fi.Writer, fi.Seq)}
}

func (r driveRemote) List(context.Context) ([]folder.File, error) {
	var out []folder.File
	for _, fi := range r.d.List() {
		out = append(out, wire(fi))
	}
	return out, nil
}

func (r driveRemote) Put(_ context.Context, p, src string) (folder.File, error) {
	f, err := os.Open(src)
	if err != nil {
		return folder.File{}, err
	}
	defer f.Close()
	fi, err := r.d.Put(p, f)
	return wire(fi), err
}

func (r driveRemote) Get(_ context.Context, p, dst string) error {
	b, err := r.d.ReadFile(p)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o600)
}

func (r driveRemote) Remove(_ context.Context, p string) error { return r.d.Remove(p) }

func run(t *testing.T, dir string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "HOME="+t.TempDir())
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
	}
}

// TestOrdinaryTools: in the mounted drive, cp -r, rsync -a and git init
// && git commit work, and what they wrote reaches the drive; a file the
// drive gets from elsewhere shows in the mount.
func TestOrdinaryTools(t *testing.T) {
	if os.Getenv("COCO_TEST_FUSE") == "" {
		t.Skip("FUSE mount tests run with COCO_TEST_FUSE=1: once in CI this test hung (its process at 90 % CPU, a tool inside the mount in uninterruptible sleep), not yet explained")
	}
	for _, tool := range []string{"rsync", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s here", tool)
		}
	}
	st, err := drive.OpenStore(t.TempDir(), drive.Address{3}, drive.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, _ := drive.Open(st, [32]byte{4}, ed25519.NewKeyFromSeed(make([]byte, 32)), drive.Options{})
	d.WriteFile("readme.txt", []byte("in the drive first"))

	base := t.TempDir()
	mnt := filepath.Join(base, "mnt")
	m, err := Start(mnt, filepath.Join(base, "cache"), filepath.Join(base, "state"), driveRemote{d},
		folder.Options{Every: 100 * time.Millisecond, Settle: 50 * time.Millisecond})
	if err != nil {
		t.Skipf("cannot mount FUSE here: %v", err)
	}
	defer m.Close()
	if b, err := os.ReadFile(filepath.Join(mnt, "readme.txt")); err != nil || string(b) != "in the drive first" {
		t.Fatalf("read through the mount: %q, %v", b, err)
	}

	src := t.TempDir()
	for i := range 5 {
		os.MkdirAll(filepath.Join(src, "tree", fmt.Sprintf("d%d", i)), 0o755)
		os.WriteFile(filepath.Join(src, "tree", fmt.Sprintf("d%d", i), "f.txt"), []byte(fmt.Sprintf("file %d", i)), 0o644)
	}
	run(t, mnt, "cp", "-r", filepath.Join(src, "tree"), "copied")
	run(t, mnt, "rsync", "-a", filepath.Join(src, "tree")+"/", "rsynced/")
	os.MkdirAll(filepath.Join(mnt, "repo"), 0o755)
	run(t, filepath.Join(mnt, "repo"), "git", "init", "-q")
	os.WriteFile(filepath.Join(mnt, "repo", "main.go"), []byte("package main\n"), 0o644)
	run(t, filepath.Join(mnt, "repo"), "git", "add", "main.go")
	run(t, filepath.Join(mnt, "repo"), "git", "commit", "-q", "-m", "first")
	run(t, filepath.Join(mnt, "repo"), "git", "log", "--oneline")

	if _, err := m.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"copied/d3/f.txt", "rsynced/d4/f.txt", "repo/main.go", "repo/.git/HEAD"} {
		if _, err := d.Stat(p); err != nil {
			t.Errorf("the drive lacks %s: %v", p, err)
		}
	}
	if got, _ := d.ReadFile("rsynced/d2/f.txt"); string(got) != "file 2" {
		t.Errorf("rsynced/d2/f.txt in the drive = %q", got)
	}

	d.WriteFile("from-elsewhere.txt", []byte("remote"))
	m.Sync(context.Background())
	if b, err := os.ReadFile(filepath.Join(mnt, "from-elsewhere.txt")); err != nil || string(b) != "remote" {
		t.Fatalf("a remote file through the mount: %q, %v", b, err)
	}
}
