package daemon

import (
	"context"

	"github.com/coconet/coconet"
)

// attachHome starts on n what home needs (nothing yet).
func (d *Daemon) attachHome(ctx context.Context, n *coconet.Node) error { return nil }
