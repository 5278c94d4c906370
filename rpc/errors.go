package rpc

import (
	"context"
	"errors"
	"fmt"
)

// Errors returned by Request, matched with errors.Is. Each says which of the
// four things went wrong; the wrapped message adds what to do.
var (
	// ErrUnreachable: no connection to the peer could be made, or it was
	// lost before the reply came.
	ErrUnreachable = errors.New("peer unreachable")
	// ErrUnknownService: the peer serves no service of that name.
	ErrUnknownService = errors.New("unknown service")
	// ErrNotAllowed: the peer refused the caller (not a member in its
	// ledger, its Authorize hook said no, or the service's node.Access
	// does not admit the caller).
	ErrNotAllowed = errors.New("not allowed")
	// ErrDeadline: the deadline passed before the reply came. It also
	// matches context.DeadlineExceeded.
	ErrDeadline error = deadlineError{}
)

type deadlineError struct{}

func (deadlineError) Error() string        { return "deadline exceeded" }
func (deadlineError) Is(target error) bool { return target == context.DeadlineExceeded }
func (deadlineError) Timeout() bool        { return true }
func (deadlineError) Temporary() bool      { return true }

// RemoteError is returned when the peer's handler returned an error.
type RemoteError struct {
	Service string
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("rpc: service %q failed on the peer: %s", e.Service, e.Message)
}
