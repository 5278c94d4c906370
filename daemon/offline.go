package daemon

import (
	"context"
	"fmt"

	"github.com/coconet/coconet"
	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/transfer"
)

// Offline serves the API's requests directly on a home when no daemon runs:
// what needs no network (creating and listing networks, members, removals,
// joining through a member) works; what needs a running node says so. The
// caller must hold the home lock.
type Offline struct {
	Home string
}

var _ api.Service = (*Offline)(nil)

// open loads the home's identity and a network's ledger, for what the API
// does offline on the ledger directly.
func (o *Offline) open(network string) (*identity.Identity, *ledger.Log, error) {
	id, err := coconet.LoadIdentity(o.Home)
	if err != nil {
		return nil, nil, err
	}
	l, err := coconet.OpenNetwork(o.Home, network)
	if err != nil {
		return nil, nil, api.NotFound{Err: err}
	}
	return id, l, nil
}

func notRunning(what string) error {
	return fmt.Errorf("%s needs the node running: start it with `coco up` (in another terminal, or as a service)", what)
}

func (o *Offline) Status(ctx context.Context) (api.Status, error) {
	id, err := coconet.LoadIdentity(o.Home)
	if err != nil {
		return api.Status{}, err
	}
	s := api.Status{User: id.ID(), Name: id.Name}
	nets, err := coconet.Networks(o.Home)
	for _, n := range nets {
		s.Networks = append(s.Networks, api.NetworkStatus{NetworkInfo: n})
	}
	return s, err
}

func (o *Offline) Networks(ctx context.Context) ([]coconet.NetworkInfo, error) {
	return coconet.Networks(o.Home)
}

func (o *Offline) CreateNetwork(ctx context.Context, req api.CreateNetworkRequest) (coconet.NetworkInfo, error) {
	id, err := coconet.LoadIdentity(o.Home)
	if err != nil {
		return coconet.NetworkInfo{}, err
	}
	l, err := coconet.CreateNetwork(o.Home, req.Name, req.Kind, "")
	if err != nil {
		return coconet.NetworkInfo{}, err
	}
	return coconet.Info(l, id.ID()), nil
}

func (o *Offline) Members(ctx context.Context, network string) ([]api.MemberInfo, error) {
	id, l, err := o.open(network)
	if err != nil {
		return nil, err
	}
	return MemberInfos(l.State(), id.ID(), nil), nil
}

func (o *Offline) Invite(ctx context.Context, network string, req api.InviteRequest) (api.InviteResult, error) {
	return api.InviteResult{}, notRunning("an invite")
}

func (o *Offline) Remove(ctx context.Context, network, member string) (api.RemoveResult, error) {
	id, l, err := o.open(network)
	if err != nil {
		return api.RemoveResult{}, err
	}
	m, err := coconet.RemoveMember(l, id, member)
	if err != nil {
		return api.RemoveResult{}, err
	}
	return api.RemoveResult{User: m.User, Name: m.Name}, nil
}

func (o *Offline) Join(ctx context.Context, code string) (coconet.NetworkInfo, error) {
	id, err := coconet.LoadIdentity(o.Home)
	if err != nil {
		return coconet.NetworkInfo{}, err
	}
	l, _, err := coconet.Join(ctx, o.Home, code, coconet.JoinOptions{})
	if err != nil {
		return coconet.NetworkInfo{}, err
	}
	return coconet.Info(l, id.ID()), nil
}

func (o *Offline) Send(ctx context.Context, network string, req api.SendRequest) error {
	return notRunning("sending")
}

func (o *Offline) Peers(ctx context.Context, network string) ([]coconet.PeerInfo, error) {
	return nil, notRunning("listing peers")
}

func (o *Offline) Listen(ctx context.Context, network string) (<-chan coconet.Message, error) {
	return nil, notRunning("listening")
}

func (o *Offline) Call(ctx context.Context, network string, req api.CallRequest) (api.CallResult, error) {
	return api.CallResult{}, notRunning("calling a service")
}

func (o *Offline) Copy(ctx context.Context, network string, req api.CopyRequest) (<-chan api.Progress, error) {
	return nil, notRunning("copying a file")
}

func (o *Offline) Receive(ctx context.Context, network string, req api.ReceiveRequest) (<-chan transfer.Event, error) {
	return nil, notRunning("receiving files")
}

func (o *Offline) Expose(ctx context.Context, network string, req api.TunnelRequest) (<-chan api.TunnelEvent, error) {
	return nil, notRunning("a tunnel")
}

func (o *Offline) OpenTunnel(ctx context.Context, network string, req api.TunnelRequest) (<-chan api.TunnelEvent, error) {
	return nil, notRunning("a tunnel")
}

func (o *Offline) Publish(ctx context.Context, network string, req api.PublishRequest) error {
	return notRunning("publishing")
}

func (o *Offline) Subscribe(ctx context.Context, network string, req api.SubscribeRequest) (<-chan api.PubMessage, error) {
	return nil, notRunning("subscribing")
}

func (o *Offline) Usage(ctx context.Context, network string) (control.Usage, error) {
	return control.Usage{}, notRunning("usage")
}
