package ledger

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestFullDisk: on a full file system Append fails with ENOSPC, writes
// nothing, and the log (in memory and reopened from disk) is as before.
// It mounts a tiny tmpfs, so it needs root; elsewhere it skips.
func TestFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	defer exec.Command("umount", dir).Run()

	owner := testKey("owner")
	l, err := Create(filepath.Join(dir, "ledger"), owner, "owner", "home", NetKindUser)
	if err != nil {
		t.Fatal(err)
	}
	before := l.IDs()
	// Fill the file system.
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	f.Close()

	_, err = l.Append(owner, Op{Kind: KindAddNode, Subject: uid(owner), Node: nodeKey("n1"), SubjectName: "coco"})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Append on a full disk: err = %v, want ENOSPC", err)
	}
	if got := l.IDs(); len(got) != len(before) {
		t.Fatalf("log has %d ops after a failed Append, want %d", len(got), len(before))
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "ledger", "ops"))
	for _, e := range ents {
		if filepath.Ext(e.Name()) != ".op" {
			t.Errorf("left behind %s", e.Name())
		}
	}
	// Space comes back: the log opens as it was and takes the operation.
	os.Remove(filepath.Join(dir, "filler"))
	l2, err := Open(filepath.Join(dir, "ledger"), nil)
	if err != nil {
		t.Fatalf("Open after the full disk: %v", err)
	}
	if len(l2.IDs()) != len(before) || len(l2.Warnings()) != 0 {
		t.Fatalf("reopened log: %d ops, warnings %v; want %d ops, none", len(l2.IDs()), l2.Warnings(), len(before))
	}
	if _, err := l2.Append(owner, Op{Kind: KindAddNode, Subject: uid(owner), Node: nodeKey("n1"), SubjectName: "coco"}); err != nil {
		t.Fatalf("Append after freeing space: %v", err)
	}
}
