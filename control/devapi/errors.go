package devapi

import "errors"

// Errors of this package; test with errors.Is. Each maps to one HTTP
// status (see status in server.go).
var (
	// ErrMalformed: bytes or text do not decode (400).
	ErrMalformed = errors.New("devapi: malformed")
	// ErrBadScope: a scope name is not known (400).
	ErrBadScope = errors.New("devapi: unknown scope")
	// ErrUnauthenticated: no API key, or one that is not known, does not
	// match, expired or was revoked (401).
	ErrUnauthenticated = errors.New("devapi: not authenticated")
	// ErrBadSignature: a grant or revocation is not signed by its issuer (401).
	ErrBadSignature = errors.New("devapi: bad signature")
	// ErrExpired: a grant is outside its validity (401).
	ErrExpired = errors.New("devapi: expired or not yet valid")
	// ErrNotOwner: a grant or revocation is signed by someone other than
	// the network's owner (403).
	ErrNotOwner = errors.New("devapi: not signed by the network's owner")
	// ErrWrongNetwork: the key or the signed object is for another network (403).
	ErrWrongNetwork = errors.New("devapi: another network")
	// ErrScope: the key lacks the scope the route needs (403).
	ErrScope = errors.New("devapi: missing scope")
	// ErrNotFound: no such network, key or node here (404).
	ErrNotFound = errors.New("devapi: not found")
	// ErrConflict: the ID is taken by another grant, or the key was revoked (409).
	ErrConflict = errors.New("devapi: conflict")
	// ErrRateLimited: too many requests from one key or address (429).
	ErrRateLimited = errors.New("devapi: rate limited")
	// ErrTooLarge: the body is over the limit (413).
	ErrTooLarge = errors.New("devapi: request too large")
	// ErrNotDeveloper: the network is not a developer network (422).
	ErrNotDeveloper = errors.New("devapi: not a developer network")
	// ErrUnavailable: the control plane lacks what the route needs, e.g.
	// the owner's delegation (503).
	ErrUnavailable = errors.New("devapi: unavailable")
)
