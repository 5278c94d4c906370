//go:build !linux

package drive

// syncChunks makes the chunk files at paths durable, one by one.
func (s *Store) syncChunks(paths []string) error { return syncEach(paths) }
