package devnet

import "errors"

// Errors returned by this package; test with errors.Is.
var (
	// ErrMalformed: the bytes do not decode as this version of the format,
	// or a field is out of its bounds.
	ErrMalformed = errors.New("devnet: malformed")
	// ErrBadSignature: a signature in the chain does not verify.
	ErrBadSignature = errors.New("devnet: bad signature")
	// ErrExpired: a credential, auth key or delegation is outside its
	// validity.
	ErrExpired = errors.New("devnet: expired or not yet valid")
	// ErrWrongNetwork: the object is for another network.
	ErrWrongNetwork = errors.New("devnet: for another network")
	// ErrWrongNode: the credential names another node key than the peer
	// presenting it.
	ErrWrongNode = errors.New("devnet: credential is for another node")
	// ErrNotAuthorized: the signer is neither the owner nor a service key
	// the owner delegated with the scope needed.
	ErrNotAuthorized = errors.New("devnet: signer is not the owner or a service key with that scope")
	// ErrRevoked: the network's revocation list covers the credential.
	ErrRevoked = errors.New("devnet: revoked")
	// ErrStale: a list is not newer than the one held.
	ErrStale = errors.New("devnet: list is not newer than the one held")
	// ErrUsed: a one-off auth key already enrolled another node.
	ErrUsed = errors.New("devnet: one-off auth key already used by another node")
	// ErrNotDeveloper: the network is not a developer network.
	ErrNotDeveloper = errors.New("devnet: not a developer network")
)
