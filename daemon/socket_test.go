package daemon

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/coconet/coconet/homedir"

	"github.com/coconet/coconet/api"
)

// TestSocketPrivate: with a umask that masks nothing and a home directory
// anyone may enter, the API socket is bound only inside a directory of
// mode 0700, is never group or other accessible under its own name, and
// replaces a stale socket left by a crash.
func TestSocketPrivate(t *testing.T) {
	home := filepath.Join(t.TempDir(), "alice")
	if _, err := homedir.Init(home, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o755); err != nil {
		t.Fatal(err)
	}
	old := syscall.Umask(0)
	defer syscall.Umask(old)

	sock := SocketPath(home)
	stale, err := net.Listen("unix", sock) // a crashed daemon's socket, mode 0777
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()

	bound := 0
	realListen := listenUnix
	listenUnix = func(path string) (net.Listener, error) {
		bound++
		fi, err := os.Stat(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o700 {
			t.Errorf("the socket is bound in %s of mode %o, want 0700", filepath.Dir(path), perm)
		}
		if path == sock {
			t.Errorf("the socket is bound under its public name %s", sock)
		}
		return realListen(path)
	}
	defer func() { listenUnix = realListen }()

	d := &Daemon{Home: home, ListenHost: "127.0.0.1", Logf: t.Logf}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if bound != 1 {
		t.Fatalf("the daemon bound %d sockets, want 1", bound)
	}
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("%s: mode %v, want a socket no one else may use", sock, fi.Mode())
	}
	c, err := api.Dial(sock)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if st, err := c.Status(context.Background()); err != nil || !st.Running {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if left, _ := filepath.Glob(filepath.Join(home, sockDirPattern)); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	d.Close()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket after Close: %v", err)
	}
}
