package consortium

import "errors"

// Errors returned by a Node; match them with errors.Is.
var (
	// ErrClosed: the node was closed.
	ErrClosed = errors.New("consortium: node closed")
	// ErrBadRequest: an entry or request that does not parse or is malformed.
	ErrBadRequest = errors.New("consortium: bad request")
	// ErrConflict: a transaction's read set is stale (a key changed since it
	// was read); read again and retry.
	ErrConflict = errors.New("consortium: read set conflict")
	// ErrForbidden: the caller may not do this (not a member or participant,
	// or an application transaction writing a governance table).
	ErrForbidden = errors.New("consortium: forbidden")
	// ErrNotMember: a proposal, ballot or withdrawal not signed by a current
	// member.
	ErrNotMember = errors.New("consortium: signer is not a member")
	// ErrBadSignature: a signature that does not verify, or a certificate that
	// is not the member's, not valid at the entry's time, or not from a CA of
	// the constitution.
	ErrBadSignature = errors.New("consortium: bad signature")
	// ErrWrongConsortium: a request signed for another consortium.
	ErrWrongConsortium = errors.New("consortium: request for another consortium")
	// ErrUnknownProposal: no proposal has this ID.
	ErrUnknownProposal = errors.New("consortium: unknown proposal")
	// ErrNotOpen: the proposal was already resolved.
	ErrNotOpen = errors.New("consortium: proposal not open")
	// ErrAlreadyVoted: a member's second ballot on one proposal (a ballot is
	// final, so a replayed ballot changes nothing).
	ErrAlreadyVoted = errors.New("consortium: member already voted")
	// ErrDuplicate: a proposal with this ID exists (a replayed proposal).
	ErrDuplicate = errors.New("consortium: duplicate proposal")
	// ErrNotProposer: only the proposer may withdraw a proposal.
	ErrNotProposer = errors.New("consortium: not the proposer")
	// ErrNotFound: no such key or receipt.
	ErrNotFound = errors.New("consortium: not found")
	// ErrUnknownNode: a raft message from a node that is not a validating node.
	ErrUnknownNode = errors.New("consortium: unknown node")
	// ErrBadReceipt: a receipt whose proof or signature does not verify.
	ErrBadReceipt = errors.New("consortium: receipt does not verify")
)
