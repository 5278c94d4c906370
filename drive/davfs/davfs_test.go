package davfs

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

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
	// As the node does: a new file renamed onto dst.
	if err := os.WriteFile(dst+".tmp", b, 0o600); err != nil {
		return err
	}
	return os.Rename(dst+".tmp", dst)
}

func (r driveRemote) Remove(_ context.Context, p string) error  { return r.d.Remove(p) }
func (r driveRemote) Move(_ context.Context, a, b string) error { return r.d.Rename(a, b) }

func do(t *testing.T, method, url, body string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestShare: a WebDAV client makes a directory, writes, lists, reads,
// moves and deletes files of the drive; a request without the share's
// token gets nothing.
func TestShare(t *testing.T) {
	st, err := drive.OpenStore(t.TempDir(), drive.Address{1}, drive.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, _ := drive.Open(st, [32]byte{2}, ed25519.NewKeyFromSeed(make([]byte, 32)), drive.Options{})
	d.WriteFile("docs/existing.txt", []byte("already there"))
	tok := Token()
	srv := httptest.NewServer(Handler(New(driveRemote{d}, t.TempDir()), tok))
	defer srv.Close()
	base := srv.URL + "/" + tok

	if code, _ := do(t, "GET", srv.URL+"/docs/existing.txt", ""); code != http.StatusNotFound {
		t.Fatalf("GET without the token: %d", code)
	}
	if code, _ := do(t, "GET", srv.URL+"/"+Token()+"/docs/existing.txt", ""); code != http.StatusNotFound {
		t.Fatalf("GET with another token: %d", code)
	}
	if code, body := do(t, "GET", base+"/docs/existing.txt", ""); code != 200 || body != "already there" {
		t.Fatalf("GET = %d %q", code, body)
	}
	if code, _ := do(t, "MKCOL", base+"/new", ""); code != http.StatusCreated {
		t.Fatalf("MKCOL = %d", code)
	}
	if code, _ := do(t, "PUT", base+"/new/hello.txt", "hello, drive"); code != http.StatusCreated && code != http.StatusNoContent {
		t.Fatalf("PUT = %d", code)
	}
	if got, err := d.ReadFile("new/hello.txt"); err != nil || string(got) != "hello, drive" {
		t.Fatalf("the drive holds %q, %v", got, err)
	}
	code, body := do(t, "PROPFIND", base+"/", "", "Depth", "1")
	if code != http.StatusMultiStatus || !strings.Contains(body, "/docs/") || !strings.Contains(body, "/new/") {
		t.Fatalf("PROPFIND / = %d %s", code, body)
	}
	code, body = do(t, "PROPFIND", base+"/new/", "", "Depth", "1")
	if code != http.StatusMultiStatus || !strings.Contains(body, "hello.txt") || !strings.Contains(body, "<D:getcontentlength>12<") {
		t.Fatalf("PROPFIND /new/ = %d %s", code, body)
	}
	if code, _ := do(t, "MOVE", base+"/new/hello.txt", "", "Destination", base+"/docs/hello.txt"); code != http.StatusCreated && code != http.StatusNoContent {
		t.Fatalf("MOVE = %d", code)
	}
	if _, err := d.Stat("docs/hello.txt"); err != nil {
		t.Fatalf("after MOVE: %v", err)
	}
	if code, _ := do(t, "DELETE", base+"/docs", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE = %d", code)
	}
	if l := d.List(); len(l) != 0 {
		t.Fatalf("after DELETE of the directory the drive holds %v", l)
	}
}
