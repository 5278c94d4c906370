package folder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/coconet/coconet/internal/atomicfile"
)

// File is a file of the drive as the folder sees it.
type File struct {
	Path  string
	Size  int64
	MTime time.Time
	// Version names the drive's version of the file (its writer and
	// position): a new one is a remote change.
	Version string
}

// Remote is the drive a folder syncs with: the local API of the node (the
// CLI) or a drive.Drive (tests). Put and Get move content through files on
// this machine, so nothing large goes through memory.
type Remote interface {
	// List returns every file of the drive, conflict copies included.
	List(ctx context.Context) ([]File, error)
	// Put writes the content of the local file src as path.
	Put(ctx context.Context, path, src string) (File, error)
	// Get writes the content of path into the local file dst.
	Get(ctx context.Context, path, dst string) error
	// Remove deletes path (a conflict copy: resolves the conflict).
	Remove(ctx context.Context, path string) error
}

// Event is one thing a round did, for a person or a --json reader.
type Event struct {
	Op   string `json:"op"` // "upload", "download", "delete-remote", "delete-local", "conflict", "error"
	Path string `json:"path"`
	Size int64  `json:"size,omitempty"`
	Err  string `json:"error,omitempty"`
}

// Options tune a Folder.
type Options struct {
	// Every is how often the drive is polled for remote changes while
	// Run watches; 0 means 2 seconds.
	Every time.Duration
	// Settle is how long local changes must be quiet before a round
	// takes them; 0 means 200 ms.
	Settle time.Duration
	// Self names this side in the names of local conflict copies
	// ("LOCAL" if empty).
	Self string
	// Event receives what each round does. Nil discards.
	Event func(Event)
	// StateDir holds the sync state and temporary downloads; it must be
	// on the folder's file system. "" means StateDir inside the folder.
	StateDir string
}

// StateDir is the directory inside the folder that holds the sync state
// and temporary downloads; it is never synced.
const StateDir = ".coco-drive"

const stateFile = "state.json"

// entry is what the last round agreed on for one path: the local file's
// size and modification time, and the drive's version.
type entry struct {
	Size    int64  `json:"size"`
	MTime   int64  `json:"mtime"` // Unix nanoseconds
	Version string `json:"version"`
}

type state struct {
	Files map[string]entry `json:"files"`
}

// Folder keeps a local directory and a drive in two-way sync.
type Folder struct {
	dir    string
	remote Remote
	opts   Options

	mu sync.Mutex // guards st and serializes rounds
	st state
}

// Open returns the folder dir synced with remote, reading the state of
// earlier runs: files both sides already agree on are not sent again.
func Open(dir string, remote Remote, opts Options) (*Folder, error) {
	if opts.Every <= 0 {
		opts.Every = 2 * time.Second
	}
	if opts.Settle <= 0 {
		opts.Settle = 200 * time.Millisecond
	}
	if opts.Self == "" {
		opts.Self = "LOCAL"
	}
	if opts.Event == nil {
		opts.Event = func(Event) {}
	}
	if opts.StateDir == "" {
		opts.StateDir = filepath.Join(dir, StateDir)
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("folder: %w", err)
	}
	f := &Folder{dir: dir, remote: remote, opts: opts, st: state{Files: map[string]entry{}}}
	b, err := os.ReadFile(filepath.Join(opts.StateDir, stateFile))
	if err == nil {
		if err := json.Unmarshal(b, &f.st); err != nil {
			return nil, fmt.Errorf("folder: read the sync state: %w", err)
		}
		if f.st.Files == nil {
			f.st.Files = map[string]entry{}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("folder: %w", err)
	}
	return f, nil
}

// local is a file found in the folder.
type local struct {
	size  int64
	mtime int64
}

// scan lists the regular files of the folder by drive path.
func (f *Folder) scan() (map[string]local, error) {
	out := map[string]local{}
	err := filepath.WalkDir(f.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // gone while walking
			}
			return err
		}
		rel, _ := filepath.Rel(f.dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == StateDir {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasSuffix(rel, ".coco-tmp") {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		out[rel] = local{fi.Size(), fi.ModTime().UnixNano()}
		return nil
	})
	return out, err
}

func (f *Folder) abs(p string) string { return filepath.Join(f.dir, filepath.FromSlash(p)) }

// Stats counts what a round did.
type Stats struct {
	Uploaded, Downloaded, DeletedRemote, DeletedLocal, Conflicts int
}

// Sync runs one round: local changes since the last round become drive
// operations, remote ones are written to the folder. A file changed on
// both sides keeps both: the local version goes to the drive as a
// conflict copy, the drive's version takes the name.
func (f *Folder) Sync(ctx context.Context) (Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var st Stats
	locals, err := f.scan()
	if err != nil {
		return st, fmt.Errorf("folder: scan %s: %w", f.dir, err)
	}
	files, err := f.remote.List(ctx)
	if err != nil {
		return st, fmt.Errorf("folder: list the drive: %w", err)
	}
	remotes := make(map[string]File, len(files))
	for _, r := range files {
		remotes[r.Path] = r
	}
	paths := map[string]bool{}
	for p := range locals {
		paths[p] = true
	}
	for p := range remotes {
		paths[p] = true
	}
	for p := range f.st.Files {
		paths[p] = true
	}
	var errs []error
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for p := range paths {
			if !yield(p) {
				return
			}
		}
	}) {
		if err := f.one(ctx, p, locals, remotes, &st); err != nil {
			f.opts.Event(Event{Op: "error", Path: p, Err: err.Error()})
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
		}
		if ctx.Err() != nil {
			break
		}
	}
	if err := f.saveLocked(); err != nil {
		errs = append(errs, err)
	}
	return st, errors.Join(errs...)
}

func (f *Folder) one(ctx context.Context, p string, locals map[string]local, remotes map[string]File, st *Stats) error {
	l, lok := locals[p]
	r, rok := remotes[p]
	s, sok := f.st.Files[p]
	localChanged := lok && (!sok || l.size != s.Size || l.mtime != s.MTime)
	localGone := !lok && sok
	remoteChanged := rok && (!sok || r.Version != s.Version)
	remoteGone := !rok && sok
	switch {
	case lok && rok && !localChanged && !remoteChanged:
		return nil
	case localChanged && remoteChanged:
		if sok || l.size != r.Size {
			return f.conflict(ctx, p, l, r, st)
		}
		// Both new and the same size: most likely the same file (a
		// folder synced for the first time); take the drive's version
		// without a copy only if the contents match.
		same, err := f.sameContent(ctx, p, r)
		if err != nil {
			return err
		}
		if !same {
			return f.conflict(ctx, p, l, r, st)
		}
		f.st.Files[p] = entry{l.size, l.mtime, r.Version}
		return nil
	case localChanged:
		return f.upload(ctx, p, l, st)
	case remoteChanged:
		return f.download(ctx, p, r, st)
	case localGone && rok:
		if err := f.remote.Remove(ctx, p); err != nil {
			return err
		}
		delete(f.st.Files, p)
		st.DeletedRemote++
		f.opts.Event(Event{Op: "delete-remote", Path: p})
	case remoteGone && lok:
		if err := os.Remove(f.abs(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		delete(f.st.Files, p)
		st.DeletedLocal++
		f.opts.Event(Event{Op: "delete-local", Path: p})
	default: // gone on both sides
		delete(f.st.Files, p)
	}
	return nil
}

func (f *Folder) upload(ctx context.Context, p string, l local, st *Stats) error {
	r, err := f.remote.Put(ctx, p, f.abs(p))
	if err != nil {
		return err
	}
	// The stat taken before the upload: a change during it is seen by
	// the next round.
	f.st.Files[p] = entry{l.size, l.mtime, r.Version}
	st.Uploaded++
	f.opts.Event(Event{Op: "upload", Path: p, Size: l.size})
	return nil
}

func (f *Folder) tmp() (string, error) {
	t, err := os.CreateTemp(f.opts.StateDir, "get-*")
	if err != nil {
		return "", err
	}
	t.Close()
	return t.Name(), nil
}

func (f *Folder) download(ctx context.Context, p string, r File, st *Stats) error {
	tmp, err := f.tmp()
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := f.remote.Get(ctx, p, tmp); err != nil {
		return err
	}
	if !r.MTime.IsZero() {
		os.Chtimes(tmp, r.MTime, r.MTime)
	}
	dst := f.abs(p)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	// A local file written since the scan is not overwritten: the next
	// round sees both changes.
	if fi, err := os.Stat(dst); err == nil {
		if s, ok := f.st.Files[p]; !ok || fi.Size() != s.Size || fi.ModTime().UnixNano() != s.MTime {
			return nil
		}
	}
	fi, err := os.Stat(tmp)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	f.st.Files[p] = entry{fi.Size(), fi.ModTime().UnixNano(), r.Version}
	st.Downloaded++
	f.opts.Event(Event{Op: "download", Path: p, Size: fi.Size()})
	return nil
}

// conflict keeps both versions of p: the local one goes to the drive
// under a conflict copy's name, the drive's takes p.
func (f *Folder) conflict(ctx context.Context, p string, l local, r File, st *Stats) error {
	cp := conflictName(p, time.Unix(0, l.mtime), f.opts.Self)
	if err := os.Rename(f.abs(p), f.abs(cp)); err != nil {
		return err
	}
	fi, err := os.Stat(f.abs(cp))
	if err != nil {
		return err
	}
	st.Conflicts++
	f.opts.Event(Event{Op: "conflict", Path: cp, Size: fi.Size()})
	if err := f.upload(ctx, cp, local{fi.Size(), fi.ModTime().UnixNano()}, st); err != nil {
		return err
	}
	delete(f.st.Files, p)
	return f.download(ctx, p, r, st)
}

func (f *Folder) sameContent(ctx context.Context, p string, r File) (bool, error) {
	tmp, err := f.tmp()
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp)
	if err := f.remote.Get(ctx, p, tmp); err != nil {
		return false, err
	}
	a, err := os.ReadFile(tmp)
	if err != nil {
		return false, err
	}
	b, err := os.ReadFile(f.abs(p))
	if err != nil {
		return false, err
	}
	return string(a) == string(b), nil
}

// conflictName is Syncthing's name for a conflict copy
// (drive.ConflictName, with this side's name for the writer).
func conflictName(p string, mtime time.Time, self string) string {
	dir, base := path.Split(p)
	ext := path.Ext(base)
	if ext == base {
		ext = ""
	}
	stem := strings.TrimSuffix(base, ext)
	return dir + stem + ".sync-conflict-" + mtime.UTC().Format("20060102-150405") + "-" + self + ext
}

func (f *Folder) saveLocked() error {
	b, err := json.Marshal(f.st)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(f.opts.StateDir, stateFile), b, 0o600); err != nil {
		return fmt.Errorf("folder: keep the sync state: %w", err)
	}
	return nil
}

// Run syncs until ctx ends: a round at once, then after every local
// change has settled (fsnotify), and every Options.Every for remote
// changes. Errors of a round are reported as events; Run returns only
// when it cannot watch the folder, or ctx ends.
func (f *Folder) Run(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("folder: watch %s: %w", f.dir, err)
	}
	defer w.Close()
	if err := f.watchTree(w, f.dir); err != nil {
		return err
	}
	tick := time.NewTicker(f.opts.Every)
	defer tick.Stop()
	var settle <-chan time.Time
	round := func() {
		if _, err := f.Sync(ctx); err != nil && ctx.Err() == nil {
			f.opts.Event(Event{Op: "error", Err: err.Error()})
		}
	}
	round()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("folder: the watcher stopped")
			}
			rel, _ := filepath.Rel(f.dir, ev.Name)
			if rel == StateDir || strings.HasPrefix(filepath.ToSlash(rel), StateDir+"/") {
				continue
			}
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
					f.watchTree(w, ev.Name)
				}
			}
			settle = time.After(f.opts.Settle)
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("folder: the watcher stopped")
			}
			f.opts.Event(Event{Op: "error", Err: err.Error()})
		case <-settle:
			settle = nil
			round()
		case <-tick.C:
			round()
		}
	}
}

func (f *Folder) watchTree(w *fsnotify.Watcher, root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if filepath.Base(p) == StateDir && filepath.Dir(p) == f.dir {
			return filepath.SkipDir
		}
		if err := w.Add(p); err != nil {
			return fmt.Errorf("folder: watch %s: %w", p, err)
		}
		return nil
	})
}
