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
// Each drive has a stream listener (service "coco.drive/<address>") and a
// sync loop: every Options.Every, and whenever a member node connects, the
// replica syncs with each member node it reaches. A peer is admitted by the
// node's ledger on every session, never by what it claims.
package drivenode
