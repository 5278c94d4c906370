package daemon

import (
	"context"

	"github.com/coconet/coconet"
)

// attach starts, on a node the daemon just started, what the home model,
// OTA and the push server need on it. An error stops the node.
func (d *Daemon) attach(ctx context.Context, n *coconet.Node) error {
	for _, f := range []func(context.Context, *coconet.Node) error{d.attachHome, d.attachDevice, d.attachOTA, d.attachPush} {
		if err := f(ctx, n); err != nil {
			return err
		}
	}
	return nil
}
