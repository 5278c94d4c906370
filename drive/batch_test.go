package drive

import (
	"bytes"
	"fmt"
	"testing"
)

// TestPutBatch: a batch of puts (a path twice, a path that existed) gives
// the tree single puts give, reaches another member, and is all there
// after a reopen of the store.
func TestPutBatch(t *testing.T) {
	a, b := member(t, 1, false), member(t, 2, true)
	a.WriteFile("old.txt", []byte("before the batch"))
	pb := a.PutBatch()
	for i := range 20 {
		if err := pb.Put(fmt.Sprintf("dir/f%02d", i), bytes.NewReader([]byte(fmt.Sprintf("file %d", i)))); err != nil {
			t.Fatal(err)
		}
	}
	pb.Put("old.txt", bytes.NewReader([]byte("in the batch")))
	pb.Put("dir/f00", bytes.NewReader([]byte("again")))
	if _, err := a.Stat("dir/f01"); err == nil {
		t.Fatal("a put is visible before Commit")
	}
	fis, err := pb.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if len(fis) != 22 || pb.Len() != 0 {
		t.Fatalf("Commit gave %d files, %d left queued", len(fis), pb.Len())
	}
	check := func(d *Drive, who string) {
		t.Helper()
		if n := len(d.List()); n != 21 {
			t.Fatalf("%s lists %d files, want 21", who, n)
		}
		for p, want := range map[string]string{"old.txt": "in the batch", "dir/f00": "again", "dir/f07": "file 7"} {
			if got, err := d.ReadFile(p); err != nil || string(got) != want {
				t.Fatalf("%s reads %s = %q, %v; want %q", who, p, got, err, want)
			}
		}
		if len(d.Conflicts()) != 0 {
			t.Fatalf("%s has conflicts: %v", who, d.Conflicts())
		}
	}
	check(a, "the writer")
	copyStore(t, b.Store(), a.Store())
	b.Refresh()
	check(b, "another member")

	dir := a.Store().dir
	a.Store().Close()
	st, err := OpenStore(dir, testAddr, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a2, _ := Open(st, testSecret, testKey(t, 1), Options{})
	check(a2, "the writer after a reopen")
}
