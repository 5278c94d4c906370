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

func (d *Daemon) Resources(ctx context.Context, network, zone string) (api.Listing, error) {
	_, hn, err := d.home(network, "listing resources")
	if err != nil {
		return api.Listing{}, err
	}
	l, err := hn.client.List(ctx, zone)
	return wireListing(l), err
}

// HomeCommand runs the command; a failed one returns its result with an
// *api.ActionError of the same code (home.Client's *home.ActionError, in
// api's type).
func (d *Daemon) HomeCommand(ctx context.Context, network string, req api.Action) (api.ActionResult, error) {
	_, hn, err := d.home(network, "a command")
	if err != nil {
		return api.ActionResult{}, err
	}
	r, _ := hn.client.Command(ctx, homeAction(req)) // its error is r.Err(): the result says it
	w := wireResult(r)
	return w, w.Err()
}

func (d *Daemon) HomeWatch(ctx context.Context, network, resource string) (<-chan api.Change, error) {
	_, hn, err := d.home(network, "watching resources")
	if err != nil {
		return nil, err
	}
	in, err := hn.client.Watch(ctx, resource)
	if err != nil {
		return nil, err
	}
	return wireEach(ctx, in, wireChange), nil
}

func (d *Daemon) SceneRun(ctx context.Context, network, scene string) (api.SceneResult, error) {
	_, hn, err := d.home(network, "running a scene")
	if err != nil {
		return api.SceneResult{}, err
	}
	r, err := hn.client.RunScene(ctx, scene)
	return wireSceneResult(r), notFound(err)
}

func (d *Daemon) Grants(ctx context.Context, network string) ([]api.Grant, error) {
	s, _, err := d.store(network)
	if err != nil {
		return nil, err
	}
	return wireAll(s.Grants(), wireGrant), nil
}

func (d *Daemon) GrantCreate(ctx context.Context, network string, req api.GrantRequest) (api.Grant, error) {
	s, st, err := d.store(network)
	if err != nil {
		return api.Grant{}, err
	}
	g, err := grantCreate(s, st, req)
	return wireGrant(g), err
}

func (d *Daemon) GrantRevoke(ctx context.Context, network, grant string) (api.Grant, error) {
	s, _, err := d.store(network)
	if err != nil {
		return api.Grant{}, err
	}
	g, err := s.Revoke(grant)
	return wireGrant(g), notFound(err)
}

func (d *Daemon) Zones(ctx context.Context, network string) ([]api.Zone, error) {
	s, _, err := d.store(network)
	if err != nil {
		return nil, err
	}
	return wireAll(s.Zones(), wireZone), nil
}

func (d *Daemon) ZoneCreate(ctx context.Context, network, zone string) (api.Zone, error) {
	s, _, err := d.store(network)
	if err != nil {
		return api.Zone{}, err
	}
	z, err := s.CreateZone(zone)
	return wireZone(z), err
}

func (d *Daemon) ZoneDelete(ctx context.Context, network, zone string) (api.Zone, error) {
	s, _, err := d.store(network)
	if err != nil {
		return api.Zone{}, err
	}
	return api.Zone{Name: zone}, notFound(s.DeleteZone(zone))
}

func (d *Daemon) ZonePlace(ctx context.Context, network string, req api.PlaceRequest) (api.Placement, error) {
	s, _, err := d.store(network)
	if err != nil {
		return api.Placement{}, err
	}
	p, err := s.Place(req.Resource, req.Zone, req.Move)
	return wirePlacement(p), notFound(err)
}

func (d *Daemon) ZoneUnplace(ctx context.Context, network, resource string) (api.Placement, error) {
	s, _, err := d.store(network)
	if err != nil {
		return api.Placement{}, err
	}
	p, err := s.Unplace(resource)
	return wirePlacement(p), notFound(err)
}

func (d *Daemon) Scenes(ctx context.Context, network string) ([]api.Scene, error) {
	s, _, err := d.store(network)
	if err != nil {
		return nil, err
	}
	return wireAll(s.Scenes(), wireScene), nil
}

func (d *Daemon) SceneCreate(ctx context.Context, network string, req api.SceneRequest) (api.Scene, error) {
	s, _, err := d.store(network)
	if err != nil {
		return api.Scene{}, err
	}
	sc, err := s.CreateScene(homeScene(req.Scene), req.Replace)
	return wireScene(sc), err
}

func (d *Daemon) SceneDelete(ctx context.Context, network, scene string) (api.Scene, error) {
	s, _, err := d.store(network)
	if err != nil {
		return api.Scene{}, err
	}
	return api.Scene{Name: scene}, notFound(s.DeleteScene(scene))
}

// grantCreate resolves the member a grant is for and records it.
func grantCreate(s *home.Store, st *ledger.State, req api.GrantRequest) (home.Grant, error) {
	m, err := engine.ResolveMember(st, req.Member)
	if err != nil {
		return home.Grant{}, api.NotFound{Err: err}
	}
	g := homeGrant(req.Grant)
	g.User = m.User
	return s.Grant(g)
}
