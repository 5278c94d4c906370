package home

import (
	"errors"
	"fmt"
)

// Errors of this package, matched with errors.Is. An action's failure is
// an *ActionError whose Code selects one of them.
var (
	// ErrDenied: the caller's role or grants do not allow it.
	ErrDenied = errors.New("home: not allowed")
	// ErrInvalid: the command or its arguments do not fit the resource.
	ErrInvalid = errors.New("home: invalid command")
	// ErrNotFound: no such resource, zone, scene or grant.
	ErrNotFound = errors.New("home: not found")
	// ErrOffline: the device serving the resource cannot be reached.
	ErrOffline = errors.New("home: device offline")
	// ErrTimeout: the device did not answer in time.
	ErrTimeout = errors.New("home: device did not answer in time")
	// ErrFailed: the device tried and failed (its driver's error).
	ErrFailed = errors.New("home: device failed")
)

// Code classifies the failure of an action in a Result.
type Code string

// Failure codes.
const (
	CodeDenied   Code = "denied"
	CodeInvalid  Code = "invalid"
	CodeNotFound Code = "not_found"
	CodeOffline  Code = "offline"
	CodeTimeout  Code = "timeout"
	CodeFailed   Code = "failed"
)

var codeErr = map[Code]error{
	CodeDenied: ErrDenied, CodeInvalid: ErrInvalid, CodeNotFound: ErrNotFound,
	CodeOffline: ErrOffline, CodeTimeout: ErrTimeout, CodeFailed: ErrFailed,
}

// ActionError is a failed action.
type ActionError struct {
	Action Action
	Code   Code
	Msg    string
}

func (e *ActionError) Error() string { return fmt.Sprintf("%s: %s", e.Action, e.Msg) }

// Is matches the sentinel of e's code.
func (e *ActionError) Is(target error) bool {
	if s, ok := codeErr[e.Code]; ok {
		return s == target
	}
	return target == ErrFailed
}
