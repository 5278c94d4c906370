package member

import "errors"

// Errors returned by this package; test with errors.Is.
var (
	// ErrMalformed: the bytes do not decode as this version of the format.
	ErrMalformed = errors.New("member: malformed")
	// ErrBadSignature: a signature does not verify.
	ErrBadSignature = errors.New("member: bad signature")
	// ErrExpired: a certificate or delegation is outside its validity.
	ErrExpired = errors.New("member: expired or not yet valid")
	// ErrWrongNetwork: the proof is for another network.
	ErrWrongNetwork = errors.New("member: proof is for another network")
	// ErrWrongNode: the certificate names another node key than the peer
	// presenting it.
	ErrWrongNode = errors.New("member: certificate is for another node")
	// ErrNotAuthorized: the issuer is neither the owner nor an admin the
	// owner delegated to.
	ErrNotAuthorized = errors.New("member: issuer is not the owner or a delegated admin")
	// ErrRevoked: a revocation covers the certificate.
	ErrRevoked = errors.New("member: revoked")
)
