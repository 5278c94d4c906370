package daemon

import (
	"context"

	"github.com/coconet/coconet"
)

// attach starts, on a node the daemon just started, what the home model,
// OTA and the push server need on it. An error stops the node.
func (d *Daemon) attach(ctx context.Context, n *coconet.Node) error {
	context.AfterFunc(n.Internal().Context(), func() { // the node closed
		d.mu.Lock()
		delete(d.parts, n)
		d.mu.Unlock()
	})
	for _, f := range []func(context.Context, *coconet.Node) error{d.attachHome, d.attachDevice, d.attachOTA, d.attachPush} {
		if err := f(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// nodeParts is what attach started on a node, for the API to find.
type nodeParts struct {
	home *homeNode
	ota  *otaNode
}

// setPart records, with set, a part started on n.
func (d *Daemon) setPart(n *coconet.Node, set func(*nodeParts)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.parts == nil {
		d.parts = map[*coconet.Node]*nodeParts{}
	}
	p := d.parts[n]
	if p == nil {
		p = &nodeParts{}
		d.parts[n] = p
	}
	set(p)
}

// partsOf returns what attach started on n (zero when n is not running).
func (d *Daemon) partsOf(n *coconet.Node) nodeParts {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p := d.parts[n]; p != nil {
		return *p
	}
	return nodeParts{}
}
