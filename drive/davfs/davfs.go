package davfs

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/webdav"

	"github.com/coconet/coconet/drive/folder"
)

// Remote is the drive served: folder's Remote and a rename.
type Remote interface {
	folder.Remote
	// Move renames a file.
	Move(ctx context.Context, from, to string) error
}

// FS is a webdav.FileSystem over a drive.
type FS struct {
	remote Remote
	tmpDir string

	mu     sync.Mutex // guards all following fields
	list   []folder.File
	listAt time.Time
	dirs   map[string]bool // empty directories made in this session
}

// listFor is how long a listing answers Stat calls before the drive is
// asked again (a PROPFIND stats every child).
const listFor = time.Second

// New serves remote; tmpDir holds the files being read or written.
func New(remote Remote, tmpDir string) *FS {
	return &FS{remote: remote, tmpDir: tmpDir, dirs: map[string]bool{}}
}

func clean(name string) string { return strings.TrimPrefix(path.Clean("/"+name), "/") }

func (f *FS) files(ctx context.Context) ([]folder.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.list != nil && time.Since(f.listAt) < listFor {
		return f.list, nil
	}
	l, err := f.remote.List(ctx)
	if err != nil {
		return nil, err
	}
	f.list, f.listAt = l, time.Now()
	return l, nil
}

func (f *FS) changed() {
	f.mu.Lock()
	f.list = nil
	f.mu.Unlock()
}

// info is a file or directory's os.FileInfo.
type info struct {
	name  string
	size  int64
	mtime time.Time
	dir   bool
}

func (i info) Name() string       { return i.name }
func (i info) Size() int64        { return i.size }
func (i info) ModTime() time.Time { return i.mtime }
func (i info) IsDir() bool        { return i.dir }
func (i info) Sys() any           { return nil }
func (i info) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

// Stat implements webdav.FileSystem.
func (f *FS) Stat(ctx context.Context, name string) (os.FileInfo, error) {
	p := clean(name)
	if p == "" {
		return info{name: "/", dir: true}, nil
	}
	fs, err := f.files(ctx)
	if err != nil {
		return nil, err
	}
	for _, x := range fs {
		if x.Path == p {
			return info{name: path.Base(p), size: x.Size, mtime: x.MTime}, nil
		}
		if strings.HasPrefix(x.Path, p+"/") {
			return info{name: path.Base(p), dir: true, mtime: x.MTime}, nil
		}
	}
	f.mu.Lock()
	d := f.dirs[p]
	f.mu.Unlock()
	if d {
		return info{name: path.Base(p), dir: true}, nil
	}
	return nil, os.ErrNotExist
}

// children lists the entries directly under dir p.
func (f *FS) children(ctx context.Context, p string) ([]fs.FileInfo, error) {
	files, err := f.files(ctx)
	if err != nil {
		return nil, err
	}
	prefix := p + "/"
	if p == "" {
		prefix = ""
	}
	seen := map[string]bool{}
	var out []fs.FileInfo
	for _, x := range files {
		rest, ok := strings.CutPrefix(x.Path, prefix)
		if !ok {
			continue
		}
		if name, _, sub := strings.Cut(rest, "/"); sub {
			if !seen[name] {
				seen[name] = true
				out = append(out, info{name: name, dir: true, mtime: x.MTime})
			}
		} else {
			out = append(out, info{name: rest, size: x.Size, mtime: x.MTime})
		}
	}
	f.mu.Lock()
	for d := range f.dirs {
		if rest, ok := strings.CutPrefix(d, prefix); ok && !strings.Contains(rest, "/") && !seen[rest] && rest != "" {
			seen[rest] = true
			out = append(out, info{name: rest, dir: true})
		}
	}
	f.mu.Unlock()
	slices.SortFunc(out, func(a, b fs.FileInfo) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// Mkdir implements webdav.FileSystem: the directory lives in this session
// until a file is put in it.
func (f *FS) Mkdir(ctx context.Context, name string, _ os.FileMode) error {
	p := clean(name)
	if _, err := f.Stat(ctx, p); err == nil {
		return os.ErrExist
	}
	f.mu.Lock()
	f.dirs[p] = true
	f.mu.Unlock()
	return nil
}

// RemoveAll implements webdav.FileSystem.
func (f *FS) RemoveAll(ctx context.Context, name string) error {
	p := clean(name)
	if p == "" {
		return os.ErrPermission
	}
	files, err := f.files(ctx)
	if err != nil {
		return err
	}
	defer f.changed()
	for _, x := range files {
		if x.Path == p || strings.HasPrefix(x.Path, p+"/") {
			if err := f.remote.Remove(ctx, x.Path); err != nil {
				return err
			}
		}
	}
	f.mu.Lock()
	for d := range f.dirs {
		if d == p || strings.HasPrefix(d, p+"/") {
			delete(f.dirs, d)
		}
	}
	f.mu.Unlock()
	return nil
}

// Rename implements webdav.FileSystem (a directory: each file in it).
func (f *FS) Rename(ctx context.Context, oldName, newName string) error {
	from, to := clean(oldName), clean(newName)
	if from == "" || to == "" {
		return os.ErrPermission
	}
	files, err := f.files(ctx)
	if err != nil {
		return err
	}
	defer f.changed()
	for _, x := range files {
		if x.Path == from {
			return f.remote.Move(ctx, from, to)
		}
	}
	for _, x := range files {
		if rest, ok := strings.CutPrefix(x.Path, from+"/"); ok {
			if err := f.remote.Move(ctx, x.Path, to+"/"+rest); err != nil {
				return err
			}
		}
	}
	f.mu.Lock()
	if f.dirs[from] {
		delete(f.dirs, from)
		f.dirs[to] = true
	}
	f.mu.Unlock()
	return nil
}

// OpenFile implements webdav.FileSystem.
func (f *FS) OpenFile(ctx context.Context, name string, flag int, _ os.FileMode) (webdav.File, error) {
	p := clean(name)
	fi, err := f.Stat(ctx, p)
	if err == nil && fi.IsDir() {
		if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
			return nil, os.ErrPermission
		}
		return &dir{fs: f, ctx: ctx, p: p, fi: fi}, nil
	}
	write := flag&(os.O_WRONLY|os.O_RDWR) != 0
	if err != nil && !(write && flag&os.O_CREATE != 0) {
		return nil, os.ErrNotExist
	}
	if err == nil && write && flag&os.O_EXCL != 0 {
		return nil, os.ErrExist
	}
	tmp, err := os.CreateTemp(f.tmpDir, "dav-*")
	if err != nil {
		return nil, err
	}
	tmpName := tmp.Name()
	tmp.Close()
	if fi != nil && flag&os.O_TRUNC == 0 {
		// Read, or write into the existing content. Get may replace
		// the file (a rename): open it after.
		if err := f.remote.Get(ctx, p, tmpName); err != nil {
			os.Remove(tmpName)
			return nil, err
		}
	}
	h, err := os.OpenFile(tmpName, os.O_RDWR, 0)
	if err != nil {
		os.Remove(tmpName)
		return nil, err
	}
	fl := &file{fs: f, p: p, File: h, write: write}
	return fl, nil
}

// file is an open file: a temporary copy, put back on Close if written.
type file struct {
	*os.File
	fs      *FS
	p       string
	write   bool
	written bool
}

func (fl *file) Write(b []byte) (int, error) {
	if !fl.write {
		return 0, os.ErrPermission
	}
	fl.written = true
	return fl.File.Write(b)
}

func (fl *file) Stat() (fs.FileInfo, error) {
	fi, err := fl.File.Stat()
	if err != nil {
		return nil, err
	}
	return info{name: path.Base(fl.p), size: fi.Size(), mtime: fi.ModTime()}, nil
}

func (fl *file) Readdir(int) ([]fs.FileInfo, error) { return nil, os.ErrInvalid }

func (fl *file) discard() {
	fl.File.Close()
	os.Remove(fl.File.Name())
}

func (fl *file) Close() error {
	defer fl.discard()
	if !fl.write {
		return nil
	}
	// A new empty file is written too: PUT of nothing creates it.
	if err := fl.File.Sync(); err != nil {
		return err
	}
	defer fl.fs.changed()
	_, err := fl.fs.remote.Put(context.Background(), fl.p, fl.File.Name())
	return err
}

// dir is an open directory.
type dir struct {
	fs   *FS
	ctx  context.Context
	p    string
	fi   fs.FileInfo
	read bool
}

func (d *dir) Close() error                   { return nil }
func (d *dir) Read([]byte) (int, error)       { return 0, os.ErrInvalid }
func (d *dir) Write([]byte) (int, error)      { return 0, os.ErrInvalid }
func (d *dir) Seek(int64, int) (int64, error) { return 0, nil }
func (d *dir) Stat() (fs.FileInfo, error)     { return d.fi, nil }
func (d *dir) Readdir(count int) ([]fs.FileInfo, error) {
	if d.read {
		if count > 0 {
			return nil, io.EOF
		}
		return nil, nil
	}
	d.read = true
	return d.fs.children(d.ctx, d.p)
}

// Token returns a random token for a share's path.
func Token() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Handler serves fs under /token/ and answers 404 to every other path.
func Handler(fs *FS, token string) http.Handler {
	h := &webdav.Handler{Prefix: "/" + token, FileSystem: fs, LockSystem: webdav.NewMemLS()}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if subtle.ConstantTimeCompare([]byte(first), []byte(token)) != 1 {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
