package ledger

import "errors"

// Errors returned by this package. Log.Add and Log.Append wrap them, so test
// with errors.Is.
var (
	// ErrBadSignature: the operation's signature does not verify under its
	// Author key, or its node proof (NodeSig) under its Node key (forged,
	// or damaged in transit).
	ErrBadSignature = errors.New("ledger: bad signature")
	// ErrWrongNetwork: the operation names another network (or is the
	// genesis of another network).
	ErrWrongNetwork = errors.New("ledger: operation belongs to another network")
	// ErrDuplicate: the operation is already in the log. Sync code treats it
	// as success.
	ErrDuplicate = errors.New("ledger: operation already in the log (replayed)")
	// ErrMissingParents: some parents are not in the log yet; fetch them and
	// add the operation again.
	ErrMissingParents = errors.New("ledger: operation's parents are not in the log yet")
	// ErrUnauthorized: the author lacks the authority for the operation at
	// its causal point (a redeem without the invite key's proof, an add_node
	// without the node key's, included), or a redeem arrived after its
	// invite expired by this node's clock (see RedeemSkew). Always wrapped
	// in a *Rejection that says why.
	ErrUnauthorized = errors.New("ledger: author lacks authority")
	// ErrMalformed: the operation does not decode, or its fields do not make
	// sense for its kind. Usually wrapped in a *Rejection.
	ErrMalformed = errors.New("ledger: malformed operation")
	// ErrFuture: the operation is dated more than MaxClockSkew ahead of this
	// node's clock. It is refused for now; a later Add may accept it.
	ErrFuture = errors.New("ledger: operation is dated in the future")
	// ErrExists: Create or Init found a ledger already in the directory.
	ErrExists = errors.New("ledger: a ledger already exists here")
)

// Rejection says why an operation was refused (by Log.Append, Log.Add or
// State.Check) or had no effect in a fold (State.Rejected). Err is one of
// ErrUnauthorized, ErrMalformed or ErrMissingParents.
type Rejection struct {
	Op     ID
	Reason string // a sentence for people, e.g. "guest bob cannot add members"
	Err    error
}

func (r *Rejection) Error() string {
	return "ledger: reject op " + r.Op.Short() + ": " + r.Reason
}

func (r *Rejection) Unwrap() error { return r.Err }
