package drive

import "errors"

// Errors returned by this package, wrapped with the detail of each case:
// test with errors.Is.
var (
	// ErrBadSignature: a signed root does not verify under its writer's key
	// (forged, or damaged in transit).
	ErrBadSignature = errors.New("drive: bad signature on a log root")
	// ErrTampered: blocks do not hash to the signed root they came with, or
	// an inclusion proof fails: a replica or the path altered them.
	ErrTampered = errors.New("drive: blocks do not match their signed root")
	// ErrInconsistent: a consistency proof between two roots of a writer
	// does not verify.
	ErrInconsistent = errors.New("drive: log roots are not consistent")
	// ErrForked: the writer signed two roots that are not consistent (it
	// rewrote its log); the store keeps a ForkProof and refuses the
	// writer's blocks from then on.
	ErrForked = errors.New("drive: writer forked its log")
	// ErrGap: blocks start past the end of the log held here; the earlier
	// ones are needed first.
	ErrGap = errors.New("drive: blocks start past the end of the log")
	// ErrWrongDrive: a root, block or peer belongs to another drive.
	ErrWrongDrive = errors.New("drive: belongs to another drive")
	// ErrNotAllowed: the writer or peer is not on the drive's allow-list.
	ErrNotAllowed = errors.New("drive: writer or peer not allowed")
	// ErrMalformed: bytes that do not decode, or fields out of bounds.
	ErrMalformed = errors.New("drive: malformed data")
	// ErrQuota: storing this would exceed the store's byte quota.
	ErrQuota = errors.New("drive: store quota exceeded")
	// ErrNotFound: no such block, chunk or file.
	ErrNotFound = errors.New("drive: not found")
	// ErrNoKey: the store is a blind replica; it has no key to read with.
	ErrNoKey = errors.New("drive: no key to decrypt")
	// ErrWrongSecret: a secret handed out for the drive does not open the
	// entries of its epoch (CheckSecret): the node that gave it is not to
	// be trusted with it.
	ErrWrongSecret = errors.New("drive: wrong drive secret")
	// ErrUnverified: no entry of the secret's epoch is held to check it
	// against yet.
	ErrUnverified = errors.New("drive: drive secret not verified yet")
	// ErrClosed: the store or drive is closed.
	ErrClosed = errors.New("drive: closed")
)
