package fusemount

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/coconet/coconet/drive/folder"
)

// Mount is a drive mounted at a directory.
type Mount struct {
	mnt    string
	srv    *fuse.Server
	f      *folder.Folder
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

// Start mounts at mnt a view of the folder cache (created if missing),
// kept in two-way sync with remote; state holds the sync state, on
// cache's file system and outside it. opts go to the folder.
func Start(mnt, cache, state string, remote folder.Remote, opts folder.Options) (*Mount, error) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return nil, fmt.Errorf("fusemount: no /dev/fuse here: %w", err)
	}
	for _, d := range []string{mnt, cache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("fusemount: %w", err)
		}
	}
	opts.StateDir = state
	f, err := folder.Open(cache, remote, opts)
	if err != nil {
		return nil, err
	}
	// One round before mounting: the mount shows the drive at once.
	if _, err := f.Sync(context.Background()); err != nil {
		return nil, err
	}
	root, err := fs.NewLoopbackRoot(cache)
	if err != nil {
		return nil, fmt.Errorf("fusemount: %w", err)
	}
	sec := time.Second
	srv, err := fs.Mount(mnt, root, &fs.Options{
		EntryTimeout: &sec, AttrTimeout: &sec,
		MountOptions: fuse.MountOptions{FsName: "coco-drive", Name: "coco", DirectMount: os.Geteuid() == 0},
	})
	if err != nil {
		return nil, fmt.Errorf("fusemount: mount %s: %w", mnt, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Mount{mnt: mnt, srv: srv, f: f, cancel: cancel}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := f.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			opts.Event(folder.Event{Op: "error", Err: err.Error()})
		}
	}()
	return m, nil
}

// Sync runs a round now: what was written through the mount reaches the
// drive, and the drive's changes the mount.
func (m *Mount) Sync(ctx context.Context) (folder.Stats, error) { return m.f.Sync(ctx) }

// Close unmounts (lazily, if a process still holds files open), runs a
// last round and stops. It is idempotent.
func (m *Mount) Close() error {
	m.once.Do(func() {
		if err := m.srv.Unmount(); err != nil {
			// Busy: detach it; the kernel ends it when the last file closes.
			if b, lerr := exec.Command("umount", "-l", m.mnt).CombinedOutput(); lerr != nil {
				m.err = fmt.Errorf("fusemount: unmount: %v (%s)", err, b)
			}
		}
		m.cancel()
		m.wg.Wait()
		if _, err := m.f.Sync(context.Background()); err != nil && m.err == nil {
			m.err = err
		}
	})
	return m.err
}

// Wait blocks until the file system is unmounted (by Close, or by
// `umount` from outside).
func (m *Mount) Wait() { m.srv.Wait() }
