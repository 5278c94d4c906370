// Package davfs serves a co-operative drive as a WebDAV share on loopback, for any file manager to mount.
//
// The drive has files only; directories are the prefixes of their paths
// (and, until a file lands in them, the empty ones made in this session).
// A file opened for reading is fetched whole into a temporary file; one
// opened for writing is written to a temporary file and put to the drive
// on Close. The share lives under a random path (Handler's token): a
// capability, since any local user can reach a loopback port.
package davfs
