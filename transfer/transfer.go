package transfer

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coconet/coconet/internal/frame"
	"github.com/coconet/coconet/node"
)

// Service is the stream service name files travel on.
const Service = "coco.files/1"

// MaxName bounds a file name.
const MaxName = 255

// DefaultMaxSize is the largest file a Receiver takes when its MaxSize is 0.
const DefaultMaxSize = 4 << 30

// StaleAfter is how old an interrupted copy's partial file must be for
// Serve to delete it when it starts.
const StaleAfter = 24 * time.Hour

// partialPrefix starts the name of a copy under way, followed by its SHA-256.
const partialPrefix = ".coco-partial-"

type offer struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

type answer struct {
	Offset int64  `json:"offset"`
	Error  string `json:"error,omitempty"`
}

type result struct {
	Path  string `json:"path,omitempty"` // the base name the file was stored under
	Error string `json:"error,omitempty"`
}

// Result describes a finished copy.
type Result struct {
	Name    string        `json:"name"`
	Size    int64         `json:"size"`
	SHA256  string        `json:"sha256"`
	Resumed int64         `json:"resumed_from"` // bytes the receiver already had
	Path    string        `json:"path"`         // the name the receiver stored it under (a base name, never its directory)
	Took    time.Duration `json:"took_ns"`
}

// HashFile returns the SHA-256 of a file, reporting progress.
func HashFile(ctx context.Context, f io.ReadSeeker, progress func(int64)) (string, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, &ctxReader{ctx: ctx, r: f, progress: progress}); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Send copies f (named name, of size bytes, whose SHA-256 is sum) over conn.
// progress, if not nil, is called with the bytes confirmed sent so far.
func Send(ctx context.Context, conn net.Conn, name string, size int64, sum string, f io.ReadSeeker, progress func(int64)) (Result, error) {
	start := time.Now()
	res := Result{Name: name, Size: size, SHA256: sum}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if err := writeJSON(conn, offer{Name: name, Size: size, SHA256: sum}); err != nil {
		return res, fmt.Errorf("transfer: offer: %w", err)
	}
	r := bufio.NewReader(conn)
	var a answer
	if err := readJSON(r, &a); err != nil {
		return res, fmt.Errorf("transfer: the receiver did not answer: %w", err)
	}
	if a.Error != "" {
		return res, fmt.Errorf("transfer: refused by the receiver: %s", a.Error)
	}
	if a.Offset < 0 || a.Offset > size {
		return res, fmt.Errorf("transfer: receiver asked for offset %d of a %d byte file", a.Offset, size)
	}
	res.Resumed = a.Offset
	if _, err := f.Seek(a.Offset, io.SeekStart); err != nil {
		return res, err
	}
	if progress != nil {
		progress(a.Offset)
	}
	sent := a.Offset
	src := &ctxReader{ctx: ctx, r: io.LimitReader(f, size-a.Offset), progress: func(n int64) {
		if progress != nil {
			progress(a.Offset + n)
		}
	}}
	n, err := io.Copy(conn, src)
	sent += n
	if err != nil {
		return res, fmt.Errorf("transfer: interrupted after %d of %d bytes (retry to resume): %w", sent, size, err)
	}
	if sent != size {
		return res, fmt.Errorf("transfer: the file shrank while sending (%d of %d bytes)", sent, size)
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	var out result
	if err := readJSON(r, &out); err != nil {
		return res, fmt.Errorf("transfer: no confirmation from the receiver (retry to resume): %w", err)
	}
	if out.Error != "" {
		return res, fmt.Errorf("transfer: the receiver rejected the file: %s", out.Error)
	}
	res.Path = filepath.Base(out.Path) // a base name, whatever an older receiver sent
	res.Took = time.Since(start)
	return res, nil
}

// Event reports what a Receiver did.
type Event struct {
	From    string `json:"from"`
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	Resumed int64  `json:"resumed_from,omitempty"`
	Path    string `json:"path,omitempty"` // where it was stored (the receiver's side only)
	Error   string `json:"error,omitempty"`
}

// Receiver stores incoming files in Dir. Who may send is decided before a
// stream reaches it (the listener's node.Access); the Receiver refuses
// names that are not a plain base name or that start with a dot, files
// over MaxSize, and tells the sender only the base name it stored a file
// under.
type Receiver struct {
	Dir string
	// Accept decides whether to take a file; nil accepts every file the
	// listener let through. Return an error that says why not.
	Accept func(from node.Sender, name string, size int64) error
	// MaxSize refuses larger files; 0 means DefaultMaxSize, a negative
	// value no limit beyond free space.
	MaxSize int64
	OnEvent func(Event)

	mu     sync.Mutex // guards active and the choice of free names
	active map[string]bool
}

// Serve accepts copies on l until it is closed or ctx ends. It first
// deletes the partial files of copies interrupted more than StaleAfter ago.
func (rc *Receiver) Serve(ctx context.Context, l net.Listener) error {
	CleanPartials(rc.Dir, time.Now().Add(-StaleAfter))
	go func() { <-ctx.Done(); l.Close() }()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go rc.handle(ctx, c)
	}
}

func (rc *Receiver) event(e Event) {
	if rc.OnEvent != nil {
		rc.OnEvent(e)
	}
}

func (rc *Receiver) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	var from node.Sender
	if s, ok := c.(interface{ Sender() node.Sender }); ok {
		from = s.Sender()
	}
	r := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var o offer
	if err := readJSON(r, &o); err != nil {
		return
	}
	c.SetReadDeadline(time.Time{})
	ev := Event{From: from.Name, Name: o.Name, Size: o.Size}
	refuse := func(msg string) {
		writeJSON(c, answer{Error: msg})
		ev.Error = msg
		rc.event(ev)
	}
	name, err := cleanName(o.Name)
	if err != nil {
		refuse(err.Error())
		return
	}
	if o.Size < 0 || len(o.SHA256) != 64 || !isHex(o.SHA256) {
		refuse("malformed offer")
		return
	}
	if max := rc.maxSize(); max >= 0 && o.Size > max {
		refuse(fmt.Sprintf("file of %d bytes is over this receiver's limit of %d bytes", o.Size, max))
		return
	}
	if rc.Accept != nil {
		if err := rc.Accept(from, name, o.Size); err != nil {
			refuse(err.Error())
			return
		}
	}
	if !rc.begin(o.SHA256) {
		refuse("the same file is already being received from another copy; try again when it ends")
		return
	}
	// The claim ends before the sender reads the outcome, so that it can
	// send the same file again at once.
	claimed := true
	release := func() {
		if claimed {
			claimed = false
			rc.end(o.SHA256)
		}
	}
	defer release()
	partial := filepath.Join(rc.Dir, partialPrefix+o.SHA256)
	f, err := os.OpenFile(partial, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		refuse("the receiver cannot write to its directory")
		return
	}
	defer f.Close()
	have, _ := f.Seek(0, io.SeekEnd)
	if have > o.Size {
		f.Truncate(0)
		have, _ = f.Seek(0, io.SeekStart)
	}
	ev.Resumed = have
	if err := writeJSON(c, answer{Offset: have}); err != nil {
		return
	}
	n, err := io.Copy(f, io.LimitReader(r, o.Size-have))
	if err != nil || have+n != o.Size {
		f.Sync() // keep what arrived for a resume
		release()
		ev.Error = fmt.Sprintf("interrupted after %d of %d bytes; kept for a resume", have+n, o.Size)
		rc.event(ev)
		return
	}
	if err := f.Sync(); err != nil {
		release()
		writeJSON(c, result{Error: "the receiver could not store the file"})
		return
	}
	sum, err := HashFile(ctx, f, nil)
	if err != nil || sum != o.SHA256 {
		os.Remove(partial)
		msg := "integrity check failed: the received bytes do not match the sender's SHA-256; send it again"
		release()
		writeJSON(c, result{Error: msg})
		ev.Error = msg
		rc.event(ev)
		return
	}
	// One name at a time, so two copies of the same name never pick the
	// same free name and one replaces the other.
	rc.mu.Lock()
	dst := freeName(rc.Dir, name)
	err = os.Rename(partial, dst)
	rc.mu.Unlock()
	if err != nil {
		release()
		writeJSON(c, result{Error: "the receiver could not store the file"})
		return
	}
	syncDir(rc.Dir)
	ev.Path = dst
	release()
	writeJSON(c, result{Path: filepath.Base(dst)})
	rc.event(ev)
}

func (rc *Receiver) maxSize() int64 {
	switch {
	case rc.MaxSize == 0:
		return DefaultMaxSize
	case rc.MaxSize < 0:
		return -1
	}
	return rc.MaxSize
}

// begin claims the partial file of sum for one copy at a time.
func (rc *Receiver) begin(sum string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.active[sum] {
		return false
	}
	if rc.active == nil {
		rc.active = map[string]bool{}
	}
	rc.active[sum] = true
	return true
}

func (rc *Receiver) end(sum string) {
	rc.mu.Lock()
	delete(rc.active, sum)
	rc.mu.Unlock()
}

// CleanPartials deletes the partial files in dir of copies last written
// before cutoff; it returns how many it deleted.
func CleanPartials(dir string, cutoff time.Time) int {
	ms, _ := filepath.Glob(filepath.Join(dir, partialPrefix+"*"))
	n := 0
	for _, m := range ms {
		if st, err := os.Lstat(m); err == nil && st.Mode().IsRegular() && st.ModTime().Before(cutoff) {
			if os.Remove(m) == nil {
				n++
			}
		}
	}
	return n
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// cleanName keeps a file name safe: a base name of valid UTF-8, no path
// separator, no control bytes, and no leading dot (no hidden files, no
// "." or "..", no partial files of other copies).
func cleanName(s string) (string, error) {
	if s == "" || len(s) > MaxName || strings.ContainsAny(s, "/\\\x00") || !utf8.ValidString(s) {
		return "", errors.New("unacceptable file name: send a plain file name")
	}
	if strings.HasPrefix(s, ".") {
		return "", fmt.Errorf("unacceptable file name %q: names starting with a dot (hidden files) are not received; rename the file", s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return "", errors.New("unacceptable file name: it holds control characters")
		}
	}
	return s, nil
}

func freeName(dir, name string) string {
	p := filepath.Join(dir, name)
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	for i := 1; ; i++ {
		if _, err := os.Lstat(p); os.IsNotExist(err) {
			return p
		}
		p = filepath.Join(dir, fmt.Sprintf("%s (%d)%s", base, i, ext))
	}
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

func writeJSON(w io.Writer, v any) error {
	b, _ := json.Marshal(v)
	return frame.Write(w, b)
}

// readJSON reads one frame of at most 64 KiB (over it is frame.ErrTooLarge)
// into v.
func readJSON(r *bufio.Reader, v any) error {
	b, err := frame.Read(r, 64<<10)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

type ctxReader struct {
	ctx      context.Context
	r        io.Reader
	n        int64
	progress func(int64)
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.progress != nil && n > 0 {
		c.progress(c.n)
	}
	return n, err
}
