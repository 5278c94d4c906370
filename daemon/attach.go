package daemon

import (
	"context"
	"fmt"

	"github.com/coconet/coconet"
	"github.com/coconet/coconet/engine"
)

// parts is what the daemon attached to one of its nodes, kept in the
// node's engine (engine.Attach) so the API finds it from the node. Each
// part is itself attached to the engine and closes with it; parts only
// points at them.
type parts struct {
	n    *coconet.Node
	e    *engine.Engine
	home *homeNode
	ota  *otaNode
}

// Close does nothing: every part closes with the engine on its own.
func (*parts) Close() error { return nil }

// attach starts, on a node the daemon just started, what the home model,
// OTA and the push server need on it. An error stops the node.
func (d *Daemon) attach(ctx context.Context, n *coconet.Node) error {
	p, err := coconet.Attach(n, func(e *engine.Engine) (*parts, error) { return &parts{n: n, e: e}, nil })
	if err != nil {
		return err
	}
	for _, f := range []func(context.Context, *parts) error{d.attachHome, d.attachDevice, d.attachOTA, d.attachPush, d.attachDrive, d.attachConsortium} {
		if err := f(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// runningEngine returns the engine of a network's running node; in
// ledger-only mode, what needs it fails with ErrNodeNotRunning.
func (d *Daemon) runningEngine(network, what string) (*engine.Engine, error) {
	n, err := d.running(network, what)
	if err != nil {
		return nil, err
	}
	if e := partsOf(n).e; e != nil {
		return e, nil
	}
	return nil, fmt.Errorf("the node of %q is stopping", network)
}

// engine is the engine of b's running node, nil in ledger-only mode.
func (b book) engine() *engine.Engine {
	if b.n == nil {
		return nil
	}
	return partsOf(b.n).e
}

// partsOf returns what attach started on n (zero when n is not running).
func partsOf(n *coconet.Node) *parts {
	if p, ok := coconet.Lookup[*parts](n); ok {
		return p
	}
	return &parts{}
}
