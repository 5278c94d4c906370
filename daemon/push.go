package daemon

import (
	"context"

	"github.com/coconet/coconet"
)

// attachPush starts on n what push needs (nothing yet).
func (d *Daemon) attachPush(ctx context.Context, n *coconet.Node) error { return nil }
