package controlproto

import "errors"

// Errors returned by the client calls; test with errors.Is.
var (
	// ErrLimit: a plan limit is reached. The error is a *LimitError that
	// says which limit and what to do.
	ErrLimit = errors.New("control: plan limit reached")
	// ErrUnauthorized: the control plane refused the membership proof (no
	// proof, forged, for another network, expired or revoked, or a network
	// whose owner the control plane does not serve), with the reason.
	ErrUnauthorized = errors.New("control: membership proof refused")
	// ErrBadRequest: the control plane could not parse the request.
	ErrBadRequest = errors.New("control: bad request")
)

// Limit names.
const (
	LimitBytes    = "bytes"    // control-plane bytes per network per month
	LimitNodes    = "nodes"    // registered nodes per network
	LimitNetworks = "networks" // networks per owner
)

// LimitError says which plan limit a request hit and what to do.
type LimitError struct {
	Limit string // LimitBytes, LimitNodes or LimitNetworks
	Used  int64
	Max   int64
	Msg   string // a sentence for people
}

func (e *LimitError) Error() string { return "control plane: " + e.Msg }

// Unwrap makes errors.Is(err, ErrLimit) true.
func (e *LimitError) Unwrap() error { return ErrLimit }
