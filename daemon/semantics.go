package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/coconet/coconet"
	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/rpc"
	"github.com/coconet/coconet/transfer"
	"github.com/coconet/coconet/tunnel"
)

// Version is reported by the built-in coco.info service.
const Version = "0.1.0"

// serveBuiltins registers the services every daemon node answers.
func (d *Daemon) serveBuiltins(n *coconet.Node) {
	// Open to every member and device: they tell only what members know
	// of each other (names, node IDs) and the version, and let anyone
	// check a path.
	n.Handle("coco.info", func(ctx context.Context, req *rpc.Request) ([]byte, error) {
		return json.Marshal(map[string]any{
			"name": d.id.Name, "user": d.id.ID(), "node": n.PeerID().String(),
			"version": Version, "time": time.Now().UTC(), "caller": req.From.Name,
		})
	}, coconet.Everyone)
	n.Handle("coco.echo", func(ctx context.Context, req *rpc.Request) ([]byte, error) {
		return req.Payload, nil
	}, coconet.Everyone)
}

func (d *Daemon) Call(ctx context.Context, network string, req api.CallRequest) (api.CallResult, error) {
	n, err := d.running(network, "calling a service")
	if err != nil {
		return api.CallResult{}, err
	}
	if req.Timeout <= 0 {
		req.Timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, req.Timeout)
	defer cancel()
	start := time.Now()
	reply, err := n.Request(ctx, req.To, req.Service, req.Payload)
	if err != nil {
		return api.CallResult{}, err
	}
	return api.CallResult{Reply: reply, Took: time.Since(start)}, nil
}

func (d *Daemon) Copy(ctx context.Context, network string, req api.CopyRequest) (<-chan api.Progress, error) {
	n, err := d.running(network, "copying a file")
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(req.Path); err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", req.Path, err)
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", req.Path)
	}
	ch := make(chan api.Progress, 4)
	go func() {
		defer close(ch)
		var last time.Time
		lastPhase := ""
		res, err := n.SendFile(ctx, req.To, req.Path, func(phase string, done, total int64) {
			if phase == lastPhase && done < total && time.Since(last) < 100*time.Millisecond {
				return
			}
			last, lastPhase = time.Now(), phase
			select {
			case ch <- api.Progress{Phase: phase, Done: done, Total: total}:
			default: // a slow reader misses intermediate progress, never the end
			}
		})
		wres := wireCopyResult(res)
		final := api.Progress{Result: &wres}
		if err != nil {
			final = api.Progress{Error: err.Error()}
		}
		select {
		case ch <- final:
		case <-ctx.Done():
		}
	}()
	return ch, nil
}

func (d *Daemon) Receive(ctx context.Context, network string, req api.ReceiveRequest) (<-chan api.ReceiveEvent, error) {
	n, err := d.running(network, "receiving files")
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(req.Dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory to receive into", req.Dir)
	}
	acc, err := coconet.ParseAccess(n.Ledger().State(), req.Allow)
	if err != nil {
		return nil, err
	}
	l, err := n.ListenFiles(acc)
	if err != nil {
		return nil, err
	}
	ch := make(chan api.ReceiveEvent, 16)
	rc := &transfer.Receiver{Dir: req.Dir, MaxSize: req.MaxSize, OnEvent: func(e transfer.Event) {
		select {
		case ch <- wireReceiveEvent(e):
		case <-ctx.Done():
		}
	}}
	go func() {
		defer close(ch)
		rc.Serve(ctx, l)
	}()
	return ch, nil
}

// tunnelEvents reports first, then a tunnel's counters (and warn's
// warning, if any) every two seconds, and closes it when ctx ends.
func tunnelEvents(ctx context.Context, first api.TunnelEvent, stats func() tunnel.Stats, warn func() error, closeFn func() error) <-chan api.TunnelEvent {
	ch := make(chan api.TunnelEvent, 1)
	first.Stats = wireTunnelStats(stats())
	ch <- first
	go func() {
		defer close(ch)
		defer closeFn()
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				ev := api.TunnelEvent{Stats: wireTunnelStats(stats())}
				if err := warn(); err != nil {
					ev.Warning = err.Error()
				}
				select {
				case ch <- ev:
				default:
				}
			}
		}
	}()
	return ch
}

func (d *Daemon) Expose(ctx context.Context, network string, req api.TunnelRequest) (<-chan api.TunnelEvent, error) {
	n, err := d.running(network, "a tunnel")
	if err != nil {
		return nil, err
	}
	st := n.Ledger().State()
	acc, err := coconet.ParseAccess(st, req.Allow)
	if err != nil {
		return nil, err
	}
	ex, err := n.Expose(ctx, req.Name, req.Target, acc)
	if err != nil {
		return nil, err
	}
	first := api.TunnelEvent{Addr: req.Target, Allowed: coconet.DescribeAccess(st, acc)}
	return tunnelEvents(ctx, first, ex.Stats, func() error { return nil }, ex.Close), nil
}

func (d *Daemon) OpenTunnel(ctx context.Context, network string, req api.TunnelRequest) (<-chan api.TunnelEvent, error) {
	n, err := d.running(network, "a tunnel")
	if err != nil {
		return nil, err
	}
	if req.Listen == "" {
		req.Listen = "127.0.0.1:0"
	}
	op, err := n.OpenTunnel(ctx, req.To, req.Name, req.Listen)
	if err != nil {
		return nil, err
	}
	return tunnelEvents(ctx, api.TunnelEvent{Addr: op.Addr().String()}, op.Stats, op.Err, op.Close), nil
}
