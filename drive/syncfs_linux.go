package drive

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncChunks makes every file written under the store durable at once
// with syncfs(2): one flush of the store's file system for a whole batch
// of chunks (their data and directory entries), instead of two fsyncs
// per chunk.
func (s *Store) syncChunks(paths []string) error {
	f, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return syncEach(paths)
	}
	return nil
}
