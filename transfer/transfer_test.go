package transfer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coconet/coconet/node"
)

// serve runs a Receiver on a real TCP listener and collects its events.
func serve(t *testing.T, rc *Receiver) (addr string, events func() []Event) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var evs []Event
	rc.OnEvent = func(e Event) { mu.Lock(); evs = append(evs, e); mu.Unlock() }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rc.Serve(ctx, l); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return l.Addr().String(), func() []Event { mu.Lock(); defer mu.Unlock(); return append([]Event(nil), evs...) }
}

func randomFile(t *testing.T, size int) (string, []byte, string) {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	p := filepath.Join(t.TempDir(), "data.bin")
	os.WriteFile(p, b, 0o600)
	s := sha256.Sum256(b)
	return p, b, hex.EncodeToString(s[:])
}

func send(t *testing.T, addr, path, sum string, wrap func(net.Conn) net.Conn) (Result, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if wrap != nil {
		c = wrap(c)
	}
	f, _ := os.Open(path)
	defer f.Close()
	st, _ := f.Stat()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return Send(ctx, c, filepath.Base(path), st.Size(), sum, f, nil)
}

func TestCopy(t *testing.T) {
	dir := t.TempDir()
	addr, _ := serve(t, &Receiver{Dir: dir})
	path, data, sum := randomFile(t, 3<<20)
	res, err := send(t, addr, path, sum, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, res.Path))
	if !bytes.Equal(got, data) || res.Path != "data.bin" {
		t.Fatalf("copy stored %d bytes as %q, want %d bytes as data.bin in %s", len(got), res.Path, len(data), dir)
	}
	// Same name again: kept beside, not overwritten.
	res2, err := send(t, addr, path, sum, nil)
	if err != nil || res2.Path == res.Path || !strings.Contains(res2.Path, "(1)") {
		t.Fatalf("second copy = %q, %v; want a new name", res2.Path, err)
	}
}

// cutConn closes the connection after n bytes written: an interrupted copy.
type cutConn struct {
	net.Conn
	left int
}

func (c *cutConn) Write(p []byte) (int, error) {
	if c.left <= 0 {
		c.Conn.Close()
		return 0, errors.New("cut")
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Write(p)
	c.left -= n
	return n, err
}

func TestInterruptedCopyResumes(t *testing.T) {
	dir := t.TempDir()
	addr, events := serve(t, &Receiver{Dir: dir})
	path, data, sum := randomFile(t, 2<<20)
	if _, err := send(t, addr, path, sum, func(c net.Conn) net.Conn { return &cutConn{Conn: c, left: 1 << 20} }); err == nil {
		t.Fatal("cut copy reported success")
	}
	// Wait for the receiver to record the interruption.
	deadline := time.Now().Add(5 * time.Second)
	for len(events()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	res, err := send(t, addr, path, sum, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed < 512<<10 {
		t.Errorf("retry resumed from %d, want most of the first 1 MiB", res.Resumed)
	}
	got, _ := os.ReadFile(filepath.Join(dir, res.Path))
	if !bytes.Equal(got, data) {
		t.Fatal("resumed copy differs from the original")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".coco-partial-*")); len(m) != 0 {
		t.Errorf("partial files left: %v", m)
	}
}

// flipConn corrupts one byte in transit.
type flipConn struct {
	net.Conn
	at, seen int
}

func (c *flipConn) Write(p []byte) (int, error) {
	q := append([]byte(nil), p...)
	if c.at >= c.seen && c.at < c.seen+len(q) {
		q[c.at-c.seen] ^= 1
	}
	c.seen += len(q)
	return c.Conn.Write(q)
}

func TestCorruptionDetected(t *testing.T) {
	dir := t.TempDir()
	addr, _ := serve(t, &Receiver{Dir: dir})
	path, _, sum := randomFile(t, 256<<10)
	_, err := send(t, addr, path, sum, func(c net.Conn) net.Conn { return &flipConn{Conn: c, at: 100 << 10} })
	if err == nil || !strings.Contains(err.Error(), "integrity") {
		t.Fatalf("corrupted copy: err = %v, want an integrity failure", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("files left after a failed check: %v", m)
	}
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	addr, _ := serve(t, &Receiver{Dir: dir, MaxSize: 1 << 20, Accept: func(_ node.Sender, name string, _ int64) error {
		if strings.HasSuffix(name, ".exe") {
			return errors.New("this receiver does not take .exe files")
		}
		return nil
	}})
	path, _, sum := randomFile(t, 2<<20)
	if _, err := send(t, addr, path, sum, nil); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversize: err = %v", err)
	}
	for _, name := range []string{"../evil", "a/b", "", "x.exe", ".coco-partial-aa"} {
		c, _ := net.Dial("tcp", addr)
		_, err := Send(context.Background(), c, name, 1, strings.Repeat("0", 64), bytes.NewReader([]byte{1}), nil)
		c.Close()
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("name %q: err = %v, want refused", name, err)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("files written for refused offers: %v", m)
	}
}

// recordConn keeps every byte the sender reads from the receiver.
type recordConn struct {
	net.Conn
	mu  sync.Mutex
	got []byte
}

func (c *recordConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.got = append(c.got, p[:n]...)
	c.mu.Unlock()
	return n, err
}

// TestReplyNamesNoPath: the sender learns the base name the file was
// stored under, never the receiver's directory, in any byte it reads.
func TestReplyNamesNoPath(t *testing.T) {
	dir := t.TempDir()
	addr, events := serve(t, &Receiver{Dir: dir})
	path, _, sum := randomFile(t, 64<<10)
	var rec *recordConn
	for i, want := range []string{"data.bin", "data (1).bin"} {
		res, err := send(t, addr, path, sum, func(c net.Conn) net.Conn { rec = &recordConn{Conn: c}; return rec })
		if err != nil {
			t.Fatal(err)
		}
		if res.Path != want {
			t.Errorf("copy %d: Result.Path = %q, want %q", i, res.Path, want)
		}
		if bytes.Contains(rec.got, []byte(dir)) || bytes.Contains(rec.got, []byte(filepath.Base(dir))) {
			t.Fatalf("copy %d: the receiver's reply %q names its directory %s", i, rec.got, dir)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(events()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if evs := events(); len(evs) < 1 || evs[0].Path != filepath.Join(dir, "data.bin") {
		t.Errorf("the receiver's own event = %+v, want its full path", evs)
	}
}

// TestDefaultSizeLimit: with no MaxSize set, an offer over DefaultMaxSize
// is refused before anything is written.
func TestDefaultSizeLimit(t *testing.T) {
	dir := t.TempDir()
	addr, _ := serve(t, &Receiver{Dir: dir})
	for _, size := range []int64{DefaultMaxSize + 1, 1 << 50} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Send(context.Background(), c, "huge.iso", size, strings.Repeat("ab", 32), bytes.NewReader(nil), nil)
		c.Close()
		if err == nil || !strings.Contains(err.Error(), "limit") {
			t.Errorf("offer of %d bytes: err = %v, want refused over the limit", size, err)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("files written for refused offers: %v", m)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*")); len(m) != 0 {
		t.Errorf("partial files written for refused offers: %v", m)
	}
}

// TestHiddenNamesRefused: names starting with a dot (dotfiles, partials of
// other copies, . and ..) and control characters are refused. (Invalid
// UTF-8 cannot arrive: JSON decoding replaces it; cleanName refuses it
// anyway, see FuzzCleanName.)
func TestHiddenNamesRefused(t *testing.T) {
	dir := t.TempDir()
	addr, _ := serve(t, &Receiver{Dir: dir})
	for _, name := range []string{".bashrc", ".ssh", ".", "..", ".coco-partial-" + strings.Repeat("0", 64), "..\\x", "a\u0085b", "a\x1bb"} {
		c, _ := net.Dial("tcp", addr)
		_, err := Send(context.Background(), c, name, 1, strings.Repeat("0", 64), bytes.NewReader([]byte{1}), nil)
		c.Close()
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("name %q: err = %v, want refused", name, err)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("files written for refused names: %v", m)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*")); len(m) != 0 {
		t.Errorf("hidden files written for refused names: %v", m)
	}
}

// TestStalePartialsCleaned: Serve deletes partial files older than
// StaleAfter and keeps recent ones (a resume may still come).
func TestStalePartialsCleaned(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, partialPrefix+strings.Repeat("a", 64))
	fresh := filepath.Join(dir, partialPrefix+strings.Repeat("b", 64))
	other := filepath.Join(dir, "keep.txt")
	for _, p := range []string{old, fresh, other} {
		os.WriteFile(p, []byte("x"), 0o600)
	}
	long := time.Now().Add(-StaleAfter - time.Hour)
	os.Chtimes(old, long, long)
	os.Chtimes(other, long, long)
	serve(t, &Receiver{Dir: dir})
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, errOld := os.Stat(old)
		if os.IsNotExist(errOld) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stale partial %s still there", old)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, p := range []string{fresh, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(p), err)
		}
	}
}

// FuzzCleanName: a name cleanName accepts is one plain entry of the
// directory, never hidden.
func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"photo.jpg", "../x", ".bashrc", "a/b", "a\\b", "..", "\x00", "é.txt", "a\u0085b", "con"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, err := cleanName(s)
		if err != nil {
			return
		}
		dir := "/srv/in"
		if p := filepath.Join(dir, name); filepath.Dir(p) != dir || filepath.Base(p) != name {
			t.Fatalf("cleanName(%q) = %q escapes or is not a base name (%s)", s, name, p)
		}
		if strings.HasPrefix(name, ".") || strings.ContainsAny(name, "/\\\x00") {
			t.Fatalf("cleanName(%q) = %q, hidden or with a separator", s, name)
		}
	})
}

// TestOneCopyPerFile: while one copy of a file is under way, a second copy
// of the same bytes is refused rather than writing into the same partial
// file; once the first ends, it goes through.
func TestOneCopyPerFile(t *testing.T) {
	dir := t.TempDir()
	addr, _ := serve(t, &Receiver{Dir: dir})
	path, data, sum := randomFile(t, 256<<10)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	writeJSON(c, offer{Name: "data.bin", Size: int64(len(data)), SHA256: sum})
	var a answer
	if err := readJSON(bufio.NewReader(c), &a); err != nil || a.Error != "" {
		t.Fatalf("first copy's answer = %+v, %v", a, err)
	}
	c.Write(data[:1000]) // and stall
	if _, err := send(t, addr, path, sum, nil); err == nil || !strings.Contains(err.Error(), "already being received") {
		t.Fatalf("second copy during the first: err = %v, want refused as already being received", err)
	}
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := send(t, addr, path, sum, nil)
		if err == nil {
			if res.Path != "data.bin" {
				t.Fatalf("copy after the first ended stored as %q", res.Path)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("copy after the first ended: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
