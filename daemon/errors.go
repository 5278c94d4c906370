package daemon

import (
	"errors"
	"fmt"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/homedir"
)

// ErrNodeNotRunning means that what was asked needs the network's node
// running, and the daemon runs ledger-only (Daemon.LedgerOnly: no `coco
// up`). The error's sentence names what was asked: "sending needs the node
// running: …". (api.ErrNotRunning is the client's: no daemon answers.)
var ErrNodeNotRunning = errors.New("needs the node running: start it with `coco up` (in another terminal, or as a service)")

// ErrLockWait means another coco command held the home's lock for all of
// Daemon.LockWait.
var ErrLockWait = errors.New("another coco command kept this home locked")

// notRunning is ErrNodeNotRunning for what.
func notRunning(what string) error { return fmt.Errorf("%s %w", what, ErrNodeNotRunning) }

// conflict marks a home without an identity (homedir.ErrNoIdentity) for
// the API to answer 409; other errors are returned as they are.
func conflict(err error) error {
	if errors.Is(err, homedir.ErrNoIdentity) {
		return api.Conflict{Err: err}
	}
	return err
}
