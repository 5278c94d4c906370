//go:build unix

package main

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// throughPipe runs call with the path of a named pipe that src's content
// is copied into, counted for p: the daemon reads the pipe as it would the
// file, and the CLI sees every byte it takes. ok is false when no pipe can
// be made (call was not run).
func throughPipe(src string, p *progress, call func(path string) error) (n int64, ok bool, err error) {
	dir, err := os.MkdirTemp("", "coco-put-")
	if err != nil {
		return 0, false, nil
	}
	defer os.RemoveAll(dir)
	fifo := filepath.Join(dir, "pipe")
	if syscall.Mkfifo(fifo, 0o600) != nil {
		return 0, false, nil
	}
	f, err := os.Open(src)
	if err != nil {
		return 0, true, err
	}
	defer f.Close()
	copied := make(chan error, 1)
	c := &counter{p: p}
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0) // until the daemon opens it
		if err != nil {
			copied <- err
			return
		}
		c.w = w
		_, err = io.Copy(c, f)
		w.Close()
		copied <- err
	}()
	err = call(fifo)
	select {
	case cerr := <-copied:
		if err == nil {
			err = cerr
		}
	default:
		// The daemon gave up before reading it all (or opening it):
		// open the reading end and close it, so the copy ends.
		if r, oerr := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); oerr == nil {
			r.Close()
		}
		<-copied
	}
	return c.n, true, err
}
