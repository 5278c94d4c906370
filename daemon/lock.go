package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/coconet/coconet/homedir"

	"github.com/coconet/coconet/api"
)

// lockHome takes the home's lock. When another coco command holds it (an
// offline command works on the home under the lock), it tries again until
// d.LockWait has passed, calling d.OnLockWait once when it starts waiting;
// when a daemon answers on the home's socket it fails at once with
// homedir.ErrHomeBusy.
func (d *Daemon) lockHome(ctx context.Context) (*os.File, error) {
	lock, err := homedir.LockHome(d.Home)
	if !errors.Is(err, homedir.ErrHomeBusy) || d.LockWait <= 0 || daemonAnswers(d.Home) {
		return lock, err
	}
	if d.OnLockWait != nil {
		d.OnLockWait()
	}
	deadline := time.NewTimer(d.LockWait)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			holder := homedir.LockHolder(d.Home)
			if holder != "" {
				holder = " (" + holder + ")"
			}
			return nil, fmt.Errorf("%w%s for %v: let it finish or stop it, then start coco again", ErrLockWait, holder, d.LockWait)
		case <-tick.C:
		}
		lock, err := homedir.LockHome(d.Home)
		if !errors.Is(err, homedir.ErrHomeBusy) {
			return lock, err
		}
		if daemonAnswers(d.Home) { // another daemon was starting
			return nil, err
		}
	}
}

// daemonAnswers tells whether a daemon listens on home's socket.
func daemonAnswers(home string) bool {
	_, err := api.Dial(SocketPath(home))
	return err == nil
}
