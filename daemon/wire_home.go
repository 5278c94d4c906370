package daemon

import (
	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/home"
)

// The conversions of api/home.go's types (see wire.go).

func wireListing(l home.Listing) api.Listing {
	return api.Listing{Resources: wireAll(l.Resources, wireResource), Offline: l.Offline}
}

func wireResource(r home.Resource) api.Resource {
	return api.Resource{ID: r.ID, Name: r.Name, Device: r.Device, Node: r.Node, Zone: r.Zone,
		Capabilities: wireAll(r.Capabilities, wireCapability), Metadata: r.Metadata}
}

func wireCapability(c home.Capability) api.Capability {
	return api.Capability{Name: c.Name,
		Attributes: wireAll(c.Attributes, func(a home.Attribute) api.Attribute {
			return api.Attribute{Name: a.Name, Spec: wireSpec(a.Spec), Value: a.Value}
		}),
		Commands: wireAll(c.Commands, func(c home.Command) api.Command {
			return api.Command{Name: c.Name, Params: wireAll(c.Params, func(p home.Param) api.Param {
				return api.Param{Name: p.Name, Spec: wireSpec(p.Spec), Optional: p.Optional}
			})}
		}),
	}
}

func wireSpec(s home.Spec) api.Spec {
	return api.Spec{Type: string(s.Type), Min: s.Min, Max: s.Max, Unit: s.Unit, Enum: s.Enum}
}

func wireAction(a home.Action) api.Action {
	return api.Action{Resource: a.Resource, Capability: a.Capability, Command: a.Command, Args: a.Args}
}

func homeAction(a api.Action) home.Action {
	return home.Action{Resource: a.Resource, Capability: a.Capability, Command: a.Command, Args: a.Args}
}

func wireResult(r home.Result) api.ActionResult {
	return api.ActionResult{Action: wireAction(r.Action), Device: r.Device, Node: r.Node, OK: r.OK,
		Code: api.Code(r.Code), Error: r.Error, Changes: wireAll(r.Changes, wireChange), Took: r.Took}
}

func wireSceneResult(r home.SceneResult) api.SceneResult {
	return api.SceneResult{Scene: r.Scene, Results: wireAll(r.Results, wireResult), Failed: r.Failed, Took: r.Took}
}

func wireChange(c home.Change) api.Change {
	return api.Change{Resource: c.Resource, Capability: c.Capability, Attribute: c.Attribute,
		Value: c.Value, Type: string(c.Type), Device: c.Device, Time: c.Time, Retained: c.Retained}
}

func wireGrant(g home.Grant) api.Grant {
	return api.Grant{ID: g.ID, User: g.User, Resources: g.Resources, Zone: g.Zone,
		Capability: g.Capability, Command: g.Command,
		Windows: wireAll(g.Windows, func(w home.Window) api.Window {
			return api.Window{Days: w.Days, From: w.From, To: w.To}
		}),
		TZ: g.TZ, ValidFrom: g.ValidFrom, Until: g.Until,
		UserName: g.UserName, GrantedBy: g.GrantedBy, Created: g.Created}
}

// homeGrant is the grant a request asks for; what the ledger fills in
// (UserName, GrantedBy, Created) is not taken from the request.
func homeGrant(g api.Grant) home.Grant {
	return home.Grant{ID: g.ID, User: g.User, Resources: g.Resources, Zone: g.Zone,
		Capability: g.Capability, Command: g.Command,
		Windows: wireAll(g.Windows, func(w api.Window) home.Window {
			return home.Window{Days: w.Days, From: w.From, To: w.To}
		}),
		TZ: g.TZ, ValidFrom: g.ValidFrom, Until: g.Until}
}

func wireZone(z home.Zone) api.Zone { return api.Zone{Name: z.Name, Resources: z.Resources} }

func wirePlacement(p home.Placement) api.Placement {
	return api.Placement{Resource: p.Resource, Zone: p.Zone, From: p.From}
}

func wireScene(s home.Scene) api.Scene {
	return api.Scene{Name: s.Name, Actions: wireAll(s.Actions, wireAction)}
}

func homeScene(s api.Scene) home.Scene {
	return home.Scene{Name: s.Name, Actions: wireAll(s.Actions, homeAction)}
}
