package daemon

import (
	"context"

	"github.com/coconet/coconet"
	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/transfer"
	"github.com/coconet/coconet/tunnel"
)

// The daemon speaks api's types; engine and feature structs stay inside it.
// Each wire… function copies one engine struct into its api type (and each
// of the feature's reverse functions an api request into the engine's
// type), field by field: a field renamed on either side breaks the build,
// not the REST API. TestWireJSON holds every pair to the same JSON. This
// file has those of api/service.go; wire_home.go, wire_device.go,
// wire_ota.go and wire_push.go those of the features.

// wireAll converts each element of in with f; a nil list stays nil (it
// goes out as null, as before) and an empty one empty.
func wireAll[T, U any](in []T, f func(T) U) []U {
	if in == nil {
		return nil
	}
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func wireNetwork(n homedir.NetworkInfo) api.NetworkInfo {
	return api.NetworkInfo{ID: n.ID, Name: n.Name, Kind: n.Kind, Role: n.Role,
		Members: n.Members, Nodes: n.Nodes, Ops: n.Ops}
}

func wireControl(c node.ControlStatus) api.ControlStatus {
	return api.ControlStatus{Addr: c.Addr, ID: c.ID, Connected: c.Connected,
		Registered: c.Registered, Relay: c.Relay, Observed: c.Observed, Error: c.Error}
}

func wirePeer(p coconet.PeerInfo) api.PeerInfo {
	return api.PeerInfo{Node: p.Node, User: p.User, UserName: p.UserName, Role: p.Role,
		App: p.App, Connected: p.Connected, Path: p.Path, Addr: p.Addr, RTT: p.RTT}
}

func wireMessage(m coconet.Message) api.Message {
	return api.Message{From: m.From, FromName: m.FromName, FromNode: m.FromNode,
		Data: m.Data, Received: m.Received}
}

func wireUsage(u controlproto.Usage) api.Usage {
	return api.Usage{Month: u.Month, Plan: u.Plan, RelayBytes: u.RelayBytes,
		ControlBytes: u.ControlBytes, ControlMessages: u.ControlMessages, Bytes: u.Bytes,
		LimitBytes: u.LimitBytes, Nodes: u.Nodes, LimitNodes: u.LimitNodes,
		Networks: u.Networks, LimitNetworks: u.LimitNetworks, Exceeded: u.Exceeded}
}

func wireCopyResult(r transfer.Result) api.CopyResult {
	return api.CopyResult{Name: r.Name, Size: r.Size, SHA256: r.SHA256,
		Resumed: r.Resumed, Path: r.Path, Took: r.Took}
}

func wireReceiveEvent(e transfer.Event) api.ReceiveEvent {
	return api.ReceiveEvent{From: e.From, Name: e.Name, Size: e.Size,
		Resumed: e.Resumed, Path: e.Path, Error: e.Error}
}

func wireTunnelStats(s tunnel.Stats) api.TunnelStats {
	return api.TunnelStats{Conns: s.Conns, Active: s.Active, BytesIn: s.BytesIn, BytesOut: s.BytesOut}
}

// wireEach converts the values of a stream with f, until in closes or ctx
// ends; the stream it returns closes then.
func wireEach[T, U any](ctx context.Context, in <-chan T, f func(T) U) <-chan U {
	out := make(chan U)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case v, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- f(v):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}
