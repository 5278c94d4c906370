// Package drivenode attaches the co-operative drives of a network to a running engine.
//
// A network drive is addressed by sha256("coconet/v1/drive\x00" ||
// network ID || name); its secret is the creator's
// identity.Seed.DriveSecret(address). A member node that does not hold the
// secret asks the member nodes it reaches for it (the rpc service
// coco.drive.key), and a node that holds it hands it to any node its own
// ledger lists as a member allowed to use drives (owner and admins; guests
// and devices are refused), over the engine's Noise-authenticated
// connection. A blind replicator opens the drive's store without the
// secret.
//
// Who may write is decided by the ledger: a member puts a cert of its
// writer key (drive.WriterCert, signed by the writer key for the user,
// table drive_cert) when it creates or opens a drive, and every replica,
// blind ones included, stores a writer's blocks only while its own ledger
// holds such a cert authored by a user who is still the owner or an
// admin. When a writer that could read the current key epoch loses that
// right (removed, demoted), the first member node to notice seals a new
// epoch secret, derived from its own seed, to the writers still allowed
// (table drive_keys) and marks the epoch in its log; the others take it
// once it opens that mark. A secret received over coco.drive.key (every
// epoch's) is checked against the drive's logs (drive.CheckSecret) before
// it is kept: a node that hands out a wrong one is passed over.
//
// Each drive has a stream listener (service "coco.drive/<address>") and a
// sync loop: every Options.Every, and whenever a member node connects, the
// replica syncs with each member node it reaches. A peer is admitted by the
// node's ledger on every session, never by what it claims.
package drivenode
