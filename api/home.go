package api

import (
	"context"

	"github.com/coconet/coconet/home"
)

// HomeService is the part of Service for resources, commands, watches,
// grants, zones and scenes (package home). Listing, commands, watches and
// scene runs need the node running; grants, zones and scenes are ledger
// records and work offline too.
type HomeService interface {
	// Resources lists the resources the caller may see across the
	// network's devices, those of one zone if zone is not "".
	Resources(ctx context.Context, network, zone string) (home.Listing, error)
	// HomeCommand runs a command on a resource wherever it is served. A
	// refused or failed command is a Result with OK false, not an error.
	HomeCommand(ctx context.Context, network string, req home.Action) (home.Result, error)
	// HomeWatch streams attribute changes of one resource ("" all) while
	// ctx lasts, current values first.
	HomeWatch(ctx context.Context, network, resource string) (<-chan home.Change, error)
	// Grants lists the grants.
	Grants(ctx context.Context, network string) ([]home.Grant, error)
	// GrantCreate records a grant for a guest (Member: name or user ID).
	GrantCreate(ctx context.Context, network string, req GrantRequest) (home.Grant, error)
	// GrantRevoke deletes a grant by ID or a unique prefix.
	GrantRevoke(ctx context.Context, network, grant string) (home.Grant, error)
	// Zones lists the zones and what is placed in them.
	Zones(ctx context.Context, network string) ([]home.Zone, error)
	// ZoneCreate records a zone.
	ZoneCreate(ctx context.Context, network, zone string) (home.Zone, error)
	// ZoneDelete removes an empty zone.
	ZoneDelete(ctx context.Context, network, zone string) (home.Zone, error)
	// ZonePlace puts a resource in a zone (Move: from the zone it is in).
	ZonePlace(ctx context.Context, network string, req PlaceRequest) (home.Placement, error)
	// ZoneUnplace takes a resource out of its zone.
	ZoneUnplace(ctx context.Context, network, resource string) (home.Placement, error)
	// Scenes lists the scenes.
	Scenes(ctx context.Context, network string) ([]home.Scene, error)
	// SceneCreate records a scene.
	SceneCreate(ctx context.Context, network string, req SceneRequest) (home.Scene, error)
	// SceneDelete removes a scene.
	SceneDelete(ctx context.Context, network, scene string) (home.Scene, error)
	// SceneRun runs every action of a scene at once; failed actions are in
	// the result, each with its reason.
	SceneRun(ctx context.Context, network, scene string) (home.SceneResult, error)
}

// GrantRequest grants a guest (Member: a name or user ID) a capability;
// the embedded grant's User is set from Member.
type GrantRequest struct {
	Member string `json:"member"`
	home.Grant
}

// PlaceRequest places a resource in a zone.
type PlaceRequest struct {
	Resource string `json:"resource"`
	Zone     string `json:"zone"`
	Move     bool   `json:"move,omitempty"`
}

// SceneRequest creates a scene (Replace: over one of the same name).
type SceneRequest struct {
	home.Scene
	Replace bool `json:"replace,omitempty"`
}

// The routes of HomeService, each with its Client method.

var rResources = newQuery("GET", "/v1/networks/{net}/resources", "zone", func(ctx context.Context, s Service, p []string, _ none) (home.Listing, error) {
	return s.Resources(ctx, p[0], p[1])
})

func (c *Client) Resources(ctx context.Context, network, zone string) (home.Listing, error) {
	return rResources.do(ctx, c, none{}, network, zone)
}

var rHomeCommand = newRoute("POST", "/v1/networks/{net}/commands", func(ctx context.Context, s Service, p []string, req home.Action) (home.Result, error) {
	return s.HomeCommand(ctx, p[0], req)
})

func (c *Client) HomeCommand(ctx context.Context, network string, req home.Action) (home.Result, error) {
	return rHomeCommand.do(ctx, c, req, network)
}

var rHomeWatch = newStream("GET", "/v1/networks/{net}/watch", "resource", func(ctx context.Context, s Service, p []string, _ none) (<-chan home.Change, error) {
	return s.HomeWatch(ctx, p[0], p[1])
})

func (c *Client) HomeWatch(ctx context.Context, network, resource string) (<-chan home.Change, error) {
	return rHomeWatch.do(ctx, c, none{}, network, resource)
}

var rGrants = newList("GET", "/v1/networks/{net}/grants", func(ctx context.Context, s Service, p []string, _ none) ([]home.Grant, error) {
	return s.Grants(ctx, p[0])
})

func (c *Client) Grants(ctx context.Context, network string) ([]home.Grant, error) {
	return rGrants.do(ctx, c, none{}, network)
}

var rGrantCreate = newRoute("POST", "/v1/networks/{net}/grants", func(ctx context.Context, s Service, p []string, req GrantRequest) (home.Grant, error) {
	return s.GrantCreate(ctx, p[0], req)
})

func (c *Client) GrantCreate(ctx context.Context, network string, req GrantRequest) (home.Grant, error) {
	return rGrantCreate.do(ctx, c, req, network)
}

var rGrantRevoke = newRoute("DELETE", "/v1/networks/{net}/grants/{grant}", func(ctx context.Context, s Service, p []string, _ none) (home.Grant, error) {
	return s.GrantRevoke(ctx, p[0], p[1])
})

func (c *Client) GrantRevoke(ctx context.Context, network, grant string) (home.Grant, error) {
	return rGrantRevoke.do(ctx, c, none{}, network, grant)
}

var rZones = newList("GET", "/v1/networks/{net}/zones", func(ctx context.Context, s Service, p []string, _ none) ([]home.Zone, error) {
	return s.Zones(ctx, p[0])
})

func (c *Client) Zones(ctx context.Context, network string) ([]home.Zone, error) {
	return rZones.do(ctx, c, none{}, network)
}

var rZoneCreate = newRoute("POST", "/v1/networks/{net}/zones", func(ctx context.Context, s Service, p []string, req home.Zone) (home.Zone, error) {
	return s.ZoneCreate(ctx, p[0], req.Name)
})

func (c *Client) ZoneCreate(ctx context.Context, network, zone string) (home.Zone, error) {
	return rZoneCreate.do(ctx, c, home.Zone{Name: zone}, network)
}

var rZoneDelete = newRoute("DELETE", "/v1/networks/{net}/zones/{zone}", func(ctx context.Context, s Service, p []string, _ none) (home.Zone, error) {
	return s.ZoneDelete(ctx, p[0], p[1])
})

func (c *Client) ZoneDelete(ctx context.Context, network, zone string) (home.Zone, error) {
	return rZoneDelete.do(ctx, c, none{}, network, zone)
}

var rZonePlace = newRoute("PUT", "/v1/networks/{net}/placements/{resource}", func(ctx context.Context, s Service, p []string, req PlaceRequest) (home.Placement, error) {
	req.Resource = p[1]
	return s.ZonePlace(ctx, p[0], req)
})

func (c *Client) ZonePlace(ctx context.Context, network string, req PlaceRequest) (home.Placement, error) {
	return rZonePlace.do(ctx, c, req, network, req.Resource)
}

var rZoneUnplace = newRoute("DELETE", "/v1/networks/{net}/placements/{resource}", func(ctx context.Context, s Service, p []string, _ none) (home.Placement, error) {
	return s.ZoneUnplace(ctx, p[0], p[1])
})

func (c *Client) ZoneUnplace(ctx context.Context, network, resource string) (home.Placement, error) {
	return rZoneUnplace.do(ctx, c, none{}, network, resource)
}

var rScenes = newList("GET", "/v1/networks/{net}/scenes", func(ctx context.Context, s Service, p []string, _ none) ([]home.Scene, error) {
	return s.Scenes(ctx, p[0])
})

func (c *Client) Scenes(ctx context.Context, network string) ([]home.Scene, error) {
	return rScenes.do(ctx, c, none{}, network)
}

var rSceneCreate = newRoute("POST", "/v1/networks/{net}/scenes", func(ctx context.Context, s Service, p []string, req SceneRequest) (home.Scene, error) {
	return s.SceneCreate(ctx, p[0], req)
})

func (c *Client) SceneCreate(ctx context.Context, network string, req SceneRequest) (home.Scene, error) {
	return rSceneCreate.do(ctx, c, req, network)
}

var rSceneDelete = newRoute("DELETE", "/v1/networks/{net}/scenes/{scene}", func(ctx context.Context, s Service, p []string, _ none) (home.Scene, error) {
	return s.SceneDelete(ctx, p[0], p[1])
})

func (c *Client) SceneDelete(ctx context.Context, network, scene string) (home.Scene, error) {
	return rSceneDelete.do(ctx, c, none{}, network, scene)
}

var rSceneRun = newRoute("POST", "/v1/networks/{net}/scenes/{scene}/run", func(ctx context.Context, s Service, p []string, _ none) (home.SceneResult, error) {
	return s.SceneRun(ctx, p[0], p[1])
})

func (c *Client) SceneRun(ctx context.Context, network, scene string) (home.SceneResult, error) {
	return rSceneRun.do(ctx, c, none{}, network, scene)
}
