package daemon

import (
	"context"

	"github.com/coconet/coconet"
)

// attachOTA starts on n what ota needs (nothing yet).
func (d *Daemon) attachOTA(ctx context.Context, n *coconet.Node) error { return nil }
