package control

import (
	"errors"
	"fmt"
)

// Errors returned by the client calls; test with errors.Is.
var (
	// ErrLimit: a plan limit is reached. The error is a *LimitError that
	// says which limit and what to do.
	ErrLimit = errors.New("control: plan limit reached")
	// ErrUnauthorized: the control plane refused the membership proof (no
	// proof, forged, for another network, expired or revoked).
	ErrUnauthorized = errors.New("control: membership proof refused")
	// ErrNotServed: the control plane serves only the networks of the
	// owners its operator listed (Config.Owners), and not this one's.
	// A client sees such a refusal as ErrUnauthorized, with the reason.
	ErrNotServed = errors.New("control: owner not served here")
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

func unauthorized(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrUnauthorized, fmt.Sprintf(format, a...))
}
