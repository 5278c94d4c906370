package daemon

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// listenUnix binds a unix socket; tests wrap it to look at where it binds.
var listenUnix = func(path string) (net.Listener, error) { return net.Listen("unix", path) }

// sockDirPattern names the private directories the socket is bound in.
const sockDirPattern = ".sock-*"

// listenPrivate listens on the unix socket path so that no other user can
// connect to it at any moment, whatever the umask and the mode of path's
// directory: the socket is bound in a fresh directory only this user can
// enter (0700), made 0600, and only then renamed to path, which also
// replaces a crashed daemon's socket in one step. The caller holds the
// home's lock.
func listenPrivate(path string) (net.Listener, error) {
	parent := filepath.Dir(path)
	if old, _ := filepath.Glob(filepath.Join(parent, sockDirPattern)); len(old) > 0 {
		for _, d := range old { // left by a daemon that crashed while binding
			os.RemoveAll(d)
		}
	}
	dir, err := os.MkdirTemp(parent, sockDirPattern)
	if err != nil {
		return nil, fmt.Errorf("daemon: make the socket's directory: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("daemon: make the socket's directory: %w", err)
	}
	tmp := filepath.Join(dir, "s")
	ln, err := listenUnix(tmp)
	if err != nil {
		return nil, err
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false) // its name moves; Close removes path
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("daemon: make the socket private: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		return nil, fmt.Errorf("daemon: move the socket into place: %w", err)
	}
	return ln, nil
}
