package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/coconet/coconet/engine"

	"github.com/coconet/coconet"
	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/home"
	"github.com/coconet/coconet/home/zigbee"
	"github.com/coconet/coconet/ledger"
)

// homeNode is the home model on one of the daemon's nodes: the host that
// serves its resources (the simulated gateway's, with --sim zigbee) and the
// client that uses the network's.
type homeNode struct {
	host   *home.Host
	client *home.Client
}

// attachHome starts a home host on n, with the simulated Zigbee gateway's
// resources when d.Sim is "zigbee" and n belongs to the network's owner
// (resources are the owner's: a device claimed by the owner is).
func (d *Daemon) attachHome(ctx context.Context, p *parts) error {
	n := p.e
	if d.Sim != "" && d.Sim != "zigbee" {
		return fmt.Errorf("no simulation called %q; the one there is is zigbee", d.Sim)
	}
	h, err := home.NewHost(n, home.HostOptions{Name: d.DeviceName, Logf: d.Logf})
	if err != nil {
		return err
	}
	if d.Sim == "zigbee" {
		if _, err := zigbee.Start(h, zigbee.Options{}); errors.Is(err, home.ErrDenied) {
			d.Logf("not simulating a zigbee gateway in %q: %v", n.Ledger().State().Name, err)
		} else if err != nil {
			h.Close()
			return err
		}
	}
	hn := &homeNode{host: h, client: home.NewClient(n)}
	p.home = hn
	return nil
}

// home returns the home model of a network's running node; in ledger-only
// mode what needs it fails with ErrNodeNotRunning.
func (d *Daemon) home(network, what string) (*coconet.Node, *homeNode, error) {
	n, err := d.running(network, what)
	if err != nil {
		return nil, nil, err
	}
	hn := partsOf(n).home
	if hn == nil {
		return nil, nil, fmt.Errorf("the home model is not running on the node of %q; restart `coco up`", network)
	}
	return n, hn, nil
}

// store returns the home records (grants, zones, scenes) of a network's
// ledger.
func (d *Daemon) store(network string) (*home.Store, *ledger.State, error) {
	b, err := d.book(network)
	if err != nil {
		return nil, nil, err
	}
	return home.LogStore(b.l, b.key), b.l.State(), nil
}

// notFound answers 404 for what does not exist.
func notFound(err error) error {
	if errors.Is(err, home.ErrNotFound) {
		return api.NotFound{Err: err}
	}
	return err
}

func (d *Daemon) Resources(ctx context.Context, network, zone string) (home.Listing, error) {
	_, hn, err := d.home(network, "listing resources")
	if err != nil {
		return home.Listing{}, err
	}
	return hn.client.List(ctx, zone)
}

func (d *Daemon) HomeCommand(ctx context.Context, network string, req home.Action) (home.Result, error) {
	_, hn, err := d.home(network, "a command")
	if err != nil {
		return home.Result{}, err
	}
	r, _ := hn.client.Command(ctx, req)
	return r, nil
}

func (d *Daemon) HomeWatch(ctx context.Context, network, resource string) (<-chan home.Change, error) {
	_, hn, err := d.home(network, "watching resources")
	if err != nil {
		return nil, err
	}
	return hn.client.Watch(ctx, resource)
}

func (d *Daemon) SceneRun(ctx context.Context, network, scene string) (home.SceneResult, error) {
	_, hn, err := d.home(network, "running a scene")
	if err != nil {
		return home.SceneResult{}, err
	}
	r, err := hn.client.RunScene(ctx, scene)
	return r, notFound(err)
}

func (d *Daemon) Grants(ctx context.Context, network string) ([]home.Grant, error) {
	s, _, err := d.store(network)
	if err != nil {
		return nil, err
	}
	return s.Grants(), nil
}

func (d *Daemon) GrantCreate(ctx context.Context, network string, req api.GrantRequest) (home.Grant, error) {
	s, st, err := d.store(network)
	if err != nil {
		return home.Grant{}, err
	}
	return grantCreate(s, st, req)
}

func (d *Daemon) GrantRevoke(ctx context.Context, network, grant string) (home.Grant, error) {
	s, _, err := d.store(network)
	if err != nil {
		return home.Grant{}, err
	}
	g, err := s.Revoke(grant)
	return g, notFound(err)
}

func (d *Daemon) Zones(ctx context.Context, network string) ([]home.Zone, error) {
	s, _, err := d.store(network)
	if err != nil {
		return nil, err
	}
	return s.Zones(), nil
}

func (d *Daemon) ZoneCreate(ctx context.Context, network, zone string) (home.Zone, error) {
	s, _, err := d.store(network)
	if err != nil {
		return home.Zone{}, err
	}
	return s.CreateZone(zone)
}

func (d *Daemon) ZoneDelete(ctx context.Context, network, zone string) (home.Zone, error) {
	s, _, err := d.store(network)
	if err != nil {
		return home.Zone{}, err
	}
	return home.Zone{Name: zone}, notFound(s.DeleteZone(zone))
}

func (d *Daemon) ZonePlace(ctx context.Context, network string, req api.PlaceRequest) (home.Placement, error) {
	s, _, err := d.store(network)
	if err != nil {
		return home.Placement{}, err
	}
	p, err := s.Place(req.Resource, req.Zone, req.Move)
	return p, notFound(err)
}

func (d *Daemon) ZoneUnplace(ctx context.Context, network, resource string) (home.Placement, error) {
	s, _, err := d.store(network)
	if err != nil {
		return home.Placement{}, err
	}
	p, err := s.Unplace(resource)
	return p, notFound(err)
}

func (d *Daemon) Scenes(ctx context.Context, network string) ([]home.Scene, error) {
	s, _, err := d.store(network)
	if err != nil {
		return nil, err
	}
	return s.Scenes(), nil
}

func (d *Daemon) SceneCreate(ctx context.Context, network string, req api.SceneRequest) (home.Scene, error) {
	s, _, err := d.store(network)
	if err != nil {
		return home.Scene{}, err
	}
	return s.CreateScene(req.Scene, req.Replace)
}

func (d *Daemon) SceneDelete(ctx context.Context, network, scene string) (home.Scene, error) {
	s, _, err := d.store(network)
	if err != nil {
		return home.Scene{}, err
	}
	return home.Scene{Name: scene}, notFound(s.DeleteScene(scene))
}

// grantCreate resolves the member a grant is for and records it.
func grantCreate(s *home.Store, st *ledger.State, req api.GrantRequest) (home.Grant, error) {
	m, err := engine.ResolveMember(st, req.Member)
	if err != nil {
		return home.Grant{}, api.NotFound{Err: err}
	}
	g := req.Grant
	g.User = m.User
	return s.Grant(g)
}
