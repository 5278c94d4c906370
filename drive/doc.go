// Package drive implements the co-operative drive: shared encrypted folders with per-writer signed logs and blind replicators.
//
// Every writer of a drive appends to its own log, an RFC 6962 Merkle tree
// whose root the writer signs with its per-drive Ed25519 key (hypercore's
// design). A Store holds the logs and the content chunks of one drive and
// verifies every block and root against the writer's key; it holds no
// content key, so a blind replicator runs a Store alone. A block that does
// not hash to its signed root is refused (ErrTampered); two signed roots of
// one writer that cannot be prefixes of one log become a ForkProof and the
// writer is refused from then on (ErrForked).
//
// Log files are sequences of CRC-checked records, each append fsynced
// before it is acknowledged; on open the tail after the last verified
// signature is cut, so a crash loses only what was never acknowledged.
package drive
