// Package fusemount mounts a co-operative drive as a FUSE file system.
//
// The mount is a loopback (go-fuse's) over a cache folder that
// drive/folder keeps in two-way sync with the drive: every POSIX
// operation an ordinary tool needs (cp -r, rsync, git) works on real
// files, and each change reaches the drive once it settles; remote changes
// are written to the cache and seen through the mount. It needs /dev/fuse
// and the right to mount (root, for the direct mount used here, or a
// fusermount helper); drive/davfs serves the same drive as WebDAV where
// that is missing.
package fusemount
