package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/daemon"
)

// TestUpWaitsForOfflineCommand: an offline command holds the home's lock
// (as `coco invite` does with no daemon running) when `coco up` starts;
// `coco up` says it waits, and starts once the command is done. Held for
// longer than the bound, it fails saying why; with a daemon already
// running it fails at once.
func TestUpWaitsForOfflineCommand(t *testing.T) {
	home := filepath.Join(t.TempDir(), "alice")
	mustCoco(t, "--home", home, "init", "--name", "alice")
	mustCoco(t, "--home", home, "net", "create", "home")

	// The offline command's hold on the home, taken as it takes it.
	release := holdHome(t, home)
	ctx, cancel := context.WithCancel(context.Background())
	var stderr homeBuf
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"--home", home, "up", "--listen-host", "127.0.0.1", "--no-mdns"}, strings.NewReader(""), &homeBuf{}, &stderr)
	}()
	waitCoco(t, "coco up to say it waits", func() bool {
		return strings.Contains(stderr.String(), "waiting for another coco command to finish")
	})
	if _, err := api.Dial(daemon.SocketPath(home)); err == nil {
		t.Fatal("coco up serves the API while another command holds the home")
	}
	release()
	waitCoco(t, "coco up to start once the command is done", func() bool {
		_, err := api.Dial(daemon.SocketPath(home))
		return err == nil
	})

	// With its daemon running, a second `coco up` fails at once.
	out, errOut, code := coco(t, "", "--home", home, "up", "--listen-host", "127.0.0.1", "--no-mdns")
	if code == 0 || !strings.Contains(errOut, "already running") || strings.Contains(errOut, "waiting") {
		t.Errorf("second coco up: exit %d, %q %q; want a daemon already running, without waiting", code, out, errOut)
	}
	cancel()
	if c := <-done; c != 0 {
		t.Fatalf("coco up: exit %d: %s", c, stderr.String())
	}

	// Held past the bound: a clear error.
	defer holdHome(t, home)()
	old := upLockWait
	upLockWait = 300 * time.Millisecond
	defer func() { upLockWait = old }()
	_, errOut, code = coco(t, "", "--home", home, "up", "--listen-host", "127.0.0.1", "--no-mdns")
	if code == 0 || !strings.Contains(errOut, daemon.ErrLockWait.Error()) || !strings.Contains(errOut, "pid ") {
		t.Errorf("coco up with the home held past the bound: exit %d, %q; want %q naming the holder", code, errOut, daemon.ErrLockWait)
	}
}

// holdHome opens home as a command does with no daemon running (taking the
// home's lock) and returns what releases it.
func holdHome(t *testing.T, home string) func() {
	t.Helper()
	c, err := (&env{home: home}).open()
	if err != nil {
		t.Fatal(err)
	}
	return func() { c.Close() }
}
