package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/drive/davfs"
	"github.com/coconet/coconet/drive/folder"
	"github.com/coconet/coconet/drive/fusemount"
)

// `coco drive sync NET/NAME DIR` and `coco drive mount NET/NAME`: a local
// folder in two-way sync with a drive (drive/folder), and the drive as a
// WebDAV share on loopback (drive/davfs), both through the local API.

// apiRemote is a drive of the running node, through the local API.
type apiRemote struct {
	svc           *api.Client
	network, name string

	mu       sync.Mutex
	lastSync time.Time
}

// syncEvery is how often a long-running sync or mount asks the node to
// sync the drive with the member nodes (its own loop also does).
const syncEvery = 15 * time.Second

func wireFile(f api.DriveFile) folder.File {
	return folder.File{Path: f.Path, Size: f.Size, MTime: f.MTime, Version: fmt.Sprintf("%s:%d", f.Writer, f.Seq)}
}

func (r *apiRemote) List(ctx context.Context) ([]folder.File, error) {
	r.mu.Lock()
	due := time.Since(r.lastSync) > syncEvery
	if due {
		r.lastSync = time.Now()
	}
	r.mu.Unlock()
	if due {
		sctx, cancel := context.WithTimeout(ctx, syncEvery)
		r.svc.DriveSync(sctx, r.network, r.name) // best effort: offline nodes are no error here
		cancel()
	}
	fs, err := r.svc.DriveList(ctx, r.network, r.name, "")
	if err != nil {
		return nil, err
	}
	out := make([]folder.File, 0, len(fs))
	for _, f := range fs {
		if !f.Deleted {
			out = append(out, wireFile(f))
		}
	}
	return out, nil
}

func (r *apiRemote) Put(ctx context.Context, p, src string) (folder.File, error) {
	abs, err := filepath.Abs(src)
	if err != nil {
		return folder.File{}, err
	}
	f, err := r.svc.DrivePut(ctx, r.network, r.name, api.DrivePutRequest{Path: p, File: abs})
	return wireFile(f), err
}

func (r *apiRemote) Get(ctx context.Context, p, dst string) error {
	abs, err := filepath.Abs(dst)
	if err != nil {
		return err
	}
	_, err = r.svc.DriveGet(ctx, r.network, r.name, api.DriveGetRequest{Path: p, File: abs})
	return err
}

func (r *apiRemote) Remove(ctx context.Context, p string) error {
	_, err := r.svc.DriveRemove(ctx, r.network, r.name, p)
	return err
}

func (r *apiRemote) Move(ctx context.Context, from, to string) error {
	_, err := r.svc.DriveMove(ctx, r.network, r.name, api.DriveMoveRequest{From: from, To: to})
	return err
}

// mountFUSE mounts the drive at dir: a FUSE loopback over a cache folder
// in the home, kept in two-way sync with the drive (drive/fusemount).
func mountFUSE(ctx context.Context, e *env, network, name, dir string) error {
	base := filepath.Join(e.home, "drive-mounts", network+"-"+name)
	var n int
	m, err := fusemount.Start(dir, filepath.Join(base, "cache"), filepath.Join(base, "state"),
		&apiRemote{svc: e.svc, network: network, name: name}, folder.Options{Event: func(ev folder.Event) {
			n++
			if e.json {
				b, _ := json.Marshal(ev)
				fmt.Fprintln(e.stderr, string(b))
				return
			}
			fmt.Fprintln(e.stderr, folderLine(n, ev))
		}})
	if err != nil {
		return fmt.Errorf("%w; without a directory, `coco drive mount %s/%s` serves it as WebDAV instead", err, network, name)
	}
	abs, _ := filepath.Abs(dir)
	if err := e.output(struct {
		Dir string `json:"dir"`
	}{abs}, func(w io.Writer) {
		fmt.Fprintf(w, "%s/%s is mounted at %s (a cache in %s, synced both ways). Ctrl-C unmounts.\n", network, name, abs, base)
	}); err != nil {
		m.Close()
		return err
	}
	<-ctx.Done()
	return m.Close()
}

// runDriveSync syncs the drive with the member nodes (NET/NAME), or keeps
// the folder DIR in two-way sync with it (NET/NAME DIR).
func runDriveSync(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("drive sync", flag.ContinueOnError)
	once := fs.Bool("once", false, "with DIR: one round, then exit")
	every := fs.Duration("every", 2*time.Second, "with DIR: how often to look for remote changes")
	pos, err := parseN(fs, args, 1, 2, "the drive as NET/NAME (and a local folder)")
	if err != nil {
		return err
	}
	network, name, err := driveRef(pos[0])
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		return runDriveSyncNodes(ctx, e, network, name)
	}
	dir := pos[1]
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var n int
	f, err := folder.Open(dir, &apiRemote{svc: e.svc, network: network, name: name}, folder.Options{Every: *every, Event: func(ev folder.Event) {
		n++
		if e.json {
			b, _ := json.Marshal(ev)
			fmt.Fprintln(e.stdout, string(b))
			return
		}
		fmt.Fprintln(e.stdout, folderLine(n, ev))
	}})
	if err != nil {
		return err
	}
	if *once {
		st, err := f.Sync(ctx)
		if err != nil {
			return err
		}
		return e.output(st, func(w io.Writer) {
			fmt.Fprintf(w, "%s and %s/%s are in sync: %d up, %d down, %d deleted here, %d there, %d conflicts.\n",
				dir, network, name, st.Uploaded, st.Downloaded, st.DeletedLocal, st.DeletedRemote, st.Conflicts)
		})
	}
	if !e.json {
		fmt.Fprintf(e.stderr, "Keeping %s in sync with %s/%s; Ctrl-C stops.\n", dir, network, name)
	}
	if err := f.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// folderLine is one event of a folder sync for a person.
func folderLine(n int, ev folder.Event) string {
	switch ev.Op {
	case "upload":
		return fmt.Sprintf("%4d  ↑ %s (%s)", n, ev.Path, size(ev.Size))
	case "download":
		return fmt.Sprintf("%4d  ↓ %s (%s)", n, ev.Path, size(ev.Size))
	case "delete-remote":
		return fmt.Sprintf("%4d  ✗ %s (deleted from the drive)", n, ev.Path)
	case "delete-local":
		return fmt.Sprintf("%4d  ✗ %s (deleted here)", n, ev.Path)
	case "conflict":
		return fmt.Sprintf("%4d  ! %s (changed on both sides: this is your version)", n, ev.Path)
	}
	if ev.Path != "" {
		return fmt.Sprintf("%4d  error: %s: %s", n, ev.Path, ev.Err)
	}
	return fmt.Sprintf("%4d  error: %s", n, ev.Err)
}

// runDriveMount mounts the drive at DIR with FUSE, or, without DIR,
// serves it as WebDAV on loopback, until Ctrl-C.
func runDriveMount(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("drive mount", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "without DIR: the loopback address to serve WebDAV on")
	pos, err := parseN(fs, args, 1, 2, "the drive as NET/NAME (and a directory to mount it on)")
	if err != nil {
		return err
	}
	network, name, err := driveRef(pos[0])
	if err != nil {
		return err
	}
	if _, err := e.svc.DriveList(ctx, network, name, ""); err != nil {
		return err
	}
	if len(pos) == 2 {
		return mountFUSE(ctx, e, network, name, pos[1])
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return usagef("--listen: %v", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return usagef("--listen %s: a drive is served on loopback only (127.0.0.1)", *listen)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "coco-drive-mount-")
	if err != nil {
		ln.Close()
		return err
	}
	defer os.RemoveAll(tmp)
	tok := davfs.Token()
	url := fmt.Sprintf("http://%s/%s/", ln.Addr(), tok)
	srv := &http.Server{Handler: davfs.Handler(davfs.New(&apiRemote{svc: e.svc, network: network, name: name}, tmp), tok),
		ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	if err := e.output(struct {
		URL string `json:"url"`
	}{url}, func(w io.Writer) {
		fmt.Fprintf(w, "%s/%s is served as WebDAV at\n  %s\nOpen it in a file manager (dav://%s/%s/), or: mount -t davfs %s /mnt. The address is the key: keep it to yourself. Ctrl-C stops.\n",
			network, name, url, ln.Addr(), tok, url)
	}); err != nil {
		srv.Close()
		return err
	}
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-done
		return nil
	case err := <-done:
		return err
	}
}
