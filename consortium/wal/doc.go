// Package wal keeps a raft node's log entries, hard state and snapshots on disk.
//
// The log is a sequence of segment files (wal-<seq>.log) of CRC-framed records:
// a 4-byte little-endian length, a 4-byte CRC-32C of the type byte and payload,
// a type byte and the payload (a protobuf raftpb.Entry or raftpb.HardState).
// A record cut short or with a bad CRC at the tail of the last segment is a
// write interrupted by a crash: Open truncates it away. Anywhere else it is
// corruption and Open fails with ErrCorrupt.
//
// A snapshot is one file (snap-<term>-<index>.snap: a CRC-32C and a protobuf
// raftpb.Snapshot) written atomically; after it is on disk, SaveSnapshot starts
// a new segment holding the hard state and the entries after the snapshot and
// deletes older segments and snapshots.
package wal
