package daemon

import (
	"context"

	"github.com/coconet/coconet"
)

// attachDevice starts on n what device needs (nothing yet).
func (d *Daemon) attachDevice(ctx context.Context, n *coconet.Node) error { return nil }
