package api

import (
	"context"
	"net/http"
	"net/url"

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

// homeRoutes adds the routes of HomeService to mux.
func homeRoutes(mux *http.ServeMux, svc Service) {
	mux.HandleFunc("GET /v1/networks/{net}/resources", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(svc.Resources(r.Context(), r.PathValue("net"), r.URL.Query().Get("zone")))
	})
	mux.HandleFunc("POST /v1/networks/{net}/commands", func(w http.ResponseWriter, r *http.Request) {
		var req home.Action
		if decode(w, r, &req) {
			reply(w)(svc.HomeCommand(r.Context(), r.PathValue("net"), req))
		}
	})
	mux.HandleFunc("GET /v1/networks/{net}/watch", func(w http.ResponseWriter, r *http.Request) {
		ch, err := svc.HomeWatch(r.Context(), r.PathValue("net"), r.URL.Query().Get("resource"))
		streamOut(w, ch, err)
	})
	mux.HandleFunc("GET /v1/networks/{net}/grants", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(orEmpty(svc.Grants(r.Context(), r.PathValue("net"))))
	})
	mux.HandleFunc("POST /v1/networks/{net}/grants", func(w http.ResponseWriter, r *http.Request) {
		var req GrantRequest
		if decode(w, r, &req) {
			reply(w)(svc.GrantCreate(r.Context(), r.PathValue("net"), req))
		}
	})
	mux.HandleFunc("DELETE /v1/networks/{net}/grants/{grant}", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(svc.GrantRevoke(r.Context(), r.PathValue("net"), r.PathValue("grant")))
	})
	mux.HandleFunc("GET /v1/networks/{net}/zones", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(orEmpty(svc.Zones(r.Context(), r.PathValue("net"))))
	})
	mux.HandleFunc("POST /v1/networks/{net}/zones", func(w http.ResponseWriter, r *http.Request) {
		var req home.Zone
		if decode(w, r, &req) {
			reply(w)(svc.ZoneCreate(r.Context(), r.PathValue("net"), req.Name))
		}
	})
	mux.HandleFunc("DELETE /v1/networks/{net}/zones/{zone}", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(svc.ZoneDelete(r.Context(), r.PathValue("net"), r.PathValue("zone")))
	})
	mux.HandleFunc("PUT /v1/networks/{net}/placements/{resource}", func(w http.ResponseWriter, r *http.Request) {
		var req PlaceRequest
		if decode(w, r, &req) {
			req.Resource = r.PathValue("resource")
			reply(w)(svc.ZonePlace(r.Context(), r.PathValue("net"), req))
		}
	})
	mux.HandleFunc("DELETE /v1/networks/{net}/placements/{resource}", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(svc.ZoneUnplace(r.Context(), r.PathValue("net"), r.PathValue("resource")))
	})
	mux.HandleFunc("GET /v1/networks/{net}/scenes", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(orEmpty(svc.Scenes(r.Context(), r.PathValue("net"))))
	})
	mux.HandleFunc("POST /v1/networks/{net}/scenes", func(w http.ResponseWriter, r *http.Request) {
		var req SceneRequest
		if decode(w, r, &req) {
			reply(w)(svc.SceneCreate(r.Context(), r.PathValue("net"), req))
		}
	})
	mux.HandleFunc("DELETE /v1/networks/{net}/scenes/{scene}", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(svc.SceneDelete(r.Context(), r.PathValue("net"), r.PathValue("scene")))
	})
	mux.HandleFunc("POST /v1/networks/{net}/scenes/{scene}/run", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(svc.SceneRun(r.Context(), r.PathValue("net"), r.PathValue("scene")))
	})
}

// orEmpty makes an empty list encode as [] rather than null.
func orEmpty[T any](v []T, err error) ([]T, error) {
	if v == nil && err == nil {
		v = []T{}
	}
	return v, err
}

func (c *Client) Resources(ctx context.Context, network, zone string) (l home.Listing, err error) {
	path := p("networks", network, "resources")
	if zone != "" {
		path += "?zone=" + url.QueryEscape(zone)
	}
	err = c.do(ctx, "GET", path, nil, &l)
	return
}

func (c *Client) HomeCommand(ctx context.Context, network string, req home.Action) (r home.Result, err error) {
	err = c.do(ctx, "POST", p("networks", network, "commands"), req, &r)
	return
}

func (c *Client) HomeWatch(ctx context.Context, network, resource string) (<-chan home.Change, error) {
	path := p("networks", network, "watch")
	if resource != "" {
		path += "?resource=" + url.QueryEscape(resource)
	}
	return streamIn[home.Change](ctx, c, "GET", path, nil)
}

func (c *Client) Grants(ctx context.Context, network string) (g []home.Grant, err error) {
	err = c.do(ctx, "GET", p("networks", network, "grants"), nil, &g)
	return
}

func (c *Client) GrantCreate(ctx context.Context, network string, req GrantRequest) (g home.Grant, err error) {
	err = c.do(ctx, "POST", p("networks", network, "grants"), req, &g)
	return
}

func (c *Client) GrantRevoke(ctx context.Context, network, grant string) (g home.Grant, err error) {
	err = c.do(ctx, "DELETE", p("networks", network, "grants", grant), nil, &g)
	return
}

func (c *Client) Zones(ctx context.Context, network string) (z []home.Zone, err error) {
	err = c.do(ctx, "GET", p("networks", network, "zones"), nil, &z)
	return
}

func (c *Client) ZoneCreate(ctx context.Context, network, zone string) (z home.Zone, err error) {
	err = c.do(ctx, "POST", p("networks", network, "zones"), home.Zone{Name: zone}, &z)
	return
}

func (c *Client) ZoneDelete(ctx context.Context, network, zone string) (z home.Zone, err error) {
	err = c.do(ctx, "DELETE", p("networks", network, "zones", zone), nil, &z)
	return
}

func (c *Client) ZonePlace(ctx context.Context, network string, req PlaceRequest) (pl home.Placement, err error) {
	err = c.do(ctx, "PUT", p("networks", network, "placements", req.Resource), req, &pl)
	return
}

func (c *Client) ZoneUnplace(ctx context.Context, network, resource string) (pl home.Placement, err error) {
	err = c.do(ctx, "DELETE", p("networks", network, "placements", resource), nil, &pl)
	return
}

func (c *Client) Scenes(ctx context.Context, network string) (s []home.Scene, err error) {
	err = c.do(ctx, "GET", p("networks", network, "scenes"), nil, &s)
	return
}

func (c *Client) SceneCreate(ctx context.Context, network string, req SceneRequest) (s home.Scene, err error) {
	err = c.do(ctx, "POST", p("networks", network, "scenes"), req, &s)
	return
}

func (c *Client) SceneDelete(ctx context.Context, network, scene string) (s home.Scene, err error) {
	err = c.do(ctx, "DELETE", p("networks", network, "scenes", scene), nil, &s)
	return
}

func (c *Client) SceneRun(ctx context.Context, network, scene string) (r home.SceneResult, err error) {
	err = c.do(ctx, "POST", p("networks", network, "scenes", scene, "run"), nil, &r)
	return
}
