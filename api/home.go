package api

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/coconet/coconet/identity"
)

// HomeService is the part of Service for resources, commands, watches,
// grants, zones and scenes (package home). Listing, commands, watches and
// scene runs need the node running; grants, zones and scenes are ledger
// records and work offline too.
type HomeService interface {
	// Resources lists the resources the caller may see across the
	// network's devices, those of one zone if zone is not "".
	Resources(ctx context.Context, network, zone string) (Listing, error)
	// HomeCommand runs a command on a resource wherever it is served. A
	// refused or failed command is a result with OK false and, with it, an
	// *ActionError of the result's Code (the route answers it as the
	// result, not as a failed request).
	HomeCommand(ctx context.Context, network string, req Action) (ActionResult, error)
	// HomeWatch streams attribute changes of one resource ("" all) while
	// ctx lasts, current values first.
	HomeWatch(ctx context.Context, network, resource string) (<-chan Change, error)
	// Grants lists the grants.
	Grants(ctx context.Context, network string) ([]Grant, error)
	// GrantCreate records a grant for a guest (Member: name or user ID).
	GrantCreate(ctx context.Context, network string, req GrantRequest) (Grant, error)
	// GrantRevoke deletes a grant by ID or a unique prefix.
	GrantRevoke(ctx context.Context, network, grant string) (Grant, error)
	// Zones lists the zones and what is placed in them.
	Zones(ctx context.Context, network string) ([]Zone, error)
	// ZoneCreate records a zone.
	ZoneCreate(ctx context.Context, network, zone string) (Zone, error)
	// ZoneDelete removes an empty zone.
	ZoneDelete(ctx context.Context, network, zone string) (Zone, error)
	// ZonePlace puts a resource in a zone (Move: from the zone it is in).
	ZonePlace(ctx context.Context, network string, req PlaceRequest) (Placement, error)
	// ZoneUnplace takes a resource out of its zone.
	ZoneUnplace(ctx context.Context, network, resource string) (Placement, error)
	// Scenes lists the scenes.
	Scenes(ctx context.Context, network string) ([]Scene, error)
	// SceneCreate records a scene.
	SceneCreate(ctx context.Context, network string, req SceneRequest) (Scene, error)
	// SceneDelete removes a scene.
	SceneDelete(ctx context.Context, network, scene string) (Scene, error)
	// SceneRun runs every action of a scene at once; failed actions are in
	// the result, each with its reason.
	SceneRun(ctx context.Context, network, scene string) (SceneResult, error)
}

// GrantRequest grants a guest (Member: a name or user ID) a capability;
// the embedded grant's User is set from Member.
type GrantRequest struct {
	Member string `json:"member"`
	Grant
}

// PlaceRequest places a resource in a zone.
type PlaceRequest struct {
	Resource string `json:"resource"`
	Zone     string `json:"zone"`
	Move     bool   `json:"move,omitempty"`
}

// SceneRequest creates a scene (Replace: over one of the same name).
type SceneRequest struct {
	Scene
	Replace bool `json:"replace,omitempty"`
}

// Listing is the resources a member may see, and the devices that did not
// answer.
type Listing struct {
	Resources []Resource `json:"resources"`
	// Offline names the device nodes that could not be reached.
	Offline []string `json:"offline,omitempty"`
}

// Resource is one thing a device serves (a bulb, a sensor…) with its
// capabilities and their current values.
type Resource struct {
	ID           string            `json:"id"`
	Name         string            `json:"name,omitempty"`
	Device       string            `json:"device,omitempty"`
	Node         string            `json:"node,omitempty"`
	Zone         string            `json:"zone,omitempty"`
	Capabilities []Capability      `json:"capabilities"`
	Metadata     map[string]string `json:"metadata,omitempty"`
}

// Capability is a named set of attributes and commands of a resource.
type Capability struct {
	Name       string      `json:"name"`
	Attributes []Attribute `json:"attributes,omitempty"`
	Commands   []Command   `json:"commands,omitempty"`
}

// Spec types an attribute or a command's parameter.
type Spec struct {
	Type string   `json:"type"`
	Min  *float64 `json:"min,omitempty"`
	Max  *float64 `json:"max,omitempty"`
	Unit string   `json:"unit,omitempty"`
	Enum []string `json:"enum,omitempty"`
}

// Attribute is a typed value of a capability, with its current value (as
// JSON decodes it: a number is a float64).
type Attribute struct {
	Name string `json:"name"`
	Spec
	Value any `json:"value"`
}

// Command is a command a capability takes.
type Command struct {
	Name   string  `json:"name"`
	Params []Param `json:"params,omitempty"`
}

// Param is a command's parameter.
type Param struct {
	Name string `json:"name"`
	Spec
	Optional bool `json:"optional,omitempty"`
}

// Action is one command on one resource: RESOURCE:CAPABILITY:COMMAND with
// arguments (strings like "140" are converted to the parameters' types).
type Action struct {
	Resource   string         `json:"resource"`
	Capability string         `json:"capability"`
	Command    string         `json:"command"`
	Args       map[string]any `json:"args,omitempty"`
}

// String is the action as the CLI takes it: "bulb-1:level:set:level=40".
func (a Action) String() string {
	s := a.Resource + ":" + a.Capability + ":" + a.Command
	keys := make([]string, 0, len(a.Args))
	for k := range a.Args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s += fmt.Sprintf(":%s=%v", k, a.Args[k])
	}
	return s
}

// Code classifies the failure of an action.
type Code string

// Failure codes, as the home model gives them.
const (
	CodeDenied   Code = "denied"    // the caller's role or grants do not allow it
	CodeInvalid  Code = "invalid"   // the command or its arguments do not fit the resource
	CodeNotFound Code = "not_found" // no such resource
	CodeOffline  Code = "offline"   // the device serving the resource cannot be reached
	CodeTimeout  Code = "timeout"   // the device did not answer in time
	CodeFailed   Code = "failed"    // the device tried and failed
)

// Errors matching an *ActionError of each code, with errors.Is.
var (
	ErrDenied   = errors.New("api: action not allowed")
	ErrInvalid  = errors.New("api: invalid action")
	ErrNotFound = errors.New("api: no such resource")
	ErrOffline  = errors.New("api: device offline")
	ErrTimeout  = errors.New("api: device did not answer in time")
	ErrFailed   = errors.New("api: device failed")
)

var codeErr = map[Code]error{
	CodeDenied: ErrDenied, CodeInvalid: ErrInvalid, CodeNotFound: ErrNotFound,
	CodeOffline: ErrOffline, CodeTimeout: ErrTimeout, CodeFailed: ErrFailed,
}

// ActionError is a failed action: its Code says what kind of failure
// (errors.Is matches ErrDenied, ErrInvalid, …; an unknown code matches
// ErrFailed), Msg says it in a sentence.
type ActionError struct {
	Action Action
	Code   Code
	Msg    string
}

func (e *ActionError) Error() string { return fmt.Sprintf("%s: %s", e.Action, e.Msg) }

// Is matches the sentinel of e's code.
func (e *ActionError) Is(target error) bool {
	if s, ok := codeErr[e.Code]; ok {
		return s == target
	}
	return target == ErrFailed
}

// ActionResult is the outcome of one action.
type ActionResult struct {
	Action Action `json:"action,omitzero"`
	Device string `json:"device,omitempty"`
	Node   string `json:"node,omitempty"`
	OK     bool   `json:"ok"`
	// Code classifies a failure; Error says it in a sentence.
	Code    Code          `json:"code,omitempty"`
	Error   string        `json:"error,omitempty"`
	Changes []Change      `json:"changes,omitempty"`
	Took    time.Duration `json:"took_ns"`
}

// Err is the failure as an *ActionError; nil when the action succeeded.
func (r ActionResult) Err() error {
	if r.OK {
		return nil
	}
	return &ActionError{Action: r.Action, Code: r.Code, Msg: r.Error}
}

// SceneResult is the outcome of a scene: one result per action, in the
// scene's order.
type SceneResult struct {
	Scene   string         `json:"scene,omitempty"`
	Results []ActionResult `json:"results"`
	Failed  int            `json:"failed"`
	Took    time.Duration  `json:"took_ns"`
}

// Change is a new value of a resource's attribute.
type Change struct {
	Resource   string    `json:"resource"`
	Capability string    `json:"capability"`
	Attribute  string    `json:"attribute"`
	Value      any       `json:"value"`
	Type       string    `json:"type,omitempty"`
	Device     string    `json:"device,omitempty"`
	Time       time.Time `json:"time"`
	// Retained is set on the last value a watch receives when it starts.
	Retained bool `json:"retained,omitempty"`
}

// Grant lets a guest use resources (those listed and those of Zone) by one
// capability, or one command of it, in weekly windows and between dates.
type Grant struct {
	ID         string          `json:"id,omitempty"`
	User       identity.UserID `json:"user"`
	Resources  []string        `json:"resources,omitempty"`
	Zone       string          `json:"zone,omitempty"`
	Capability string          `json:"capability"`
	// Command narrows the grant to one command; "" allows all the
	// capability's commands.
	Command string `json:"command,omitempty"`
	// Windows are the weekly hours the grant is usable; none means any time.
	Windows []Window `json:"windows,omitempty"`
	// TZ is the IANA time zone of the windows and dates; "" means UTC.
	TZ string `json:"tz,omitempty"`
	// ValidFrom and Until bound the grant in time (zero: unbounded).
	ValidFrom time.Time `json:"valid_from,omitzero"`
	Until     time.Time `json:"until,omitzero"`

	// Filled in when read from the ledger.
	UserName  string    `json:"user_name,omitempty"`
	GrantedBy string    `json:"granted_by,omitempty"`
	Created   time.Time `json:"created,omitzero"`
}

// Window is weekly hours: on Days ("mon"… ; none: every day) from From to
// To ("HH:MM").
type Window struct {
	Days []string `json:"days,omitempty"`
	From string   `json:"from"`
	To   string   `json:"to"`
}

// Zone is a named group of resources.
type Zone struct {
	Name      string   `json:"name"`
	Resources []string `json:"resources,omitempty"` // placed in it, sorted
}

// Placement is a resource's place in a zone.
type Placement struct {
	Resource string `json:"resource"`
	Zone     string `json:"zone"`
	From     string `json:"from,omitempty"` // the zone it was in before, on a move or removal
}

// Scene is a named list of actions run together.
type Scene struct {
	Name    string   `json:"name"`
	Actions []Action `json:"actions"`
}

// The routes of HomeService, each with its Client method.

var rResources = newQuery("GET", "/v1/networks/{net}/resources", "zone", func(ctx context.Context, s Service, p []string, _ none) (Listing, error) {
	return s.Resources(ctx, p[0], p[1])
})

func (c *Client) Resources(ctx context.Context, network, zone string) (Listing, error) {
	return rResources.do(ctx, c, none{}, network, zone)
}

var rHomeCommand = newRoute("POST", "/v1/networks/{net}/commands", func(ctx context.Context, s Service, p []string, req Action) (ActionResult, error) {
	r, err := s.HomeCommand(ctx, p[0], req)
	if ae := (*ActionError)(nil); errors.As(err, &ae) {
		return r, nil // a failed action is an answer: the result says how
	}
	return r, err
})

// HomeCommand returns the result and, if the action failed, an
// *ActionError of the result's Code.
func (c *Client) HomeCommand(ctx context.Context, network string, req Action) (ActionResult, error) {
	r, err := rHomeCommand.do(ctx, c, req, network)
	if err == nil {
		err = r.Err()
	}
	return r, err
}

var rHomeWatch = newStream("GET", "/v1/networks/{net}/watch", "resource", func(ctx context.Context, s Service, p []string, _ none) (<-chan Change, error) {
	return s.HomeWatch(ctx, p[0], p[1])
})

func (c *Client) HomeWatch(ctx context.Context, network, resource string) (<-chan Change, error) {
	return rHomeWatch.do(ctx, c, none{}, network, resource)
}

var rGrants = newList("GET", "/v1/networks/{net}/grants", func(ctx context.Context, s Service, p []string, _ none) ([]Grant, error) {
	return s.Grants(ctx, p[0])
})

func (c *Client) Grants(ctx context.Context, network string) ([]Grant, error) {
	return rGrants.do(ctx, c, none{}, network)
}

var rGrantCreate = newRoute("POST", "/v1/networks/{net}/grants", func(ctx context.Context, s Service, p []string, req GrantRequest) (Grant, error) {
	return s.GrantCreate(ctx, p[0], req)
})

func (c *Client) GrantCreate(ctx context.Context, network string, req GrantRequest) (Grant, error) {
	return rGrantCreate.do(ctx, c, req, network)
}

var rGrantRevoke = newRoute("DELETE", "/v1/networks/{net}/grants/{grant}", func(ctx context.Context, s Service, p []string, _ none) (Grant, error) {
	return s.GrantRevoke(ctx, p[0], p[1])
})

func (c *Client) GrantRevoke(ctx context.Context, network, grant string) (Grant, error) {
	return rGrantRevoke.do(ctx, c, none{}, network, grant)
}

var rZones = newList("GET", "/v1/networks/{net}/zones", func(ctx context.Context, s Service, p []string, _ none) ([]Zone, error) {
	return s.Zones(ctx, p[0])
})

func (c *Client) Zones(ctx context.Context, network string) ([]Zone, error) {
	return rZones.do(ctx, c, none{}, network)
}

var rZoneCreate = newRoute("POST", "/v1/networks/{net}/zones", func(ctx context.Context, s Service, p []string, req Zone) (Zone, error) {
	return s.ZoneCreate(ctx, p[0], req.Name)
})

func (c *Client) ZoneCreate(ctx context.Context, network, zone string) (Zone, error) {
	return rZoneCreate.do(ctx, c, Zone{Name: zone}, network)
}

var rZoneDelete = newRoute("DELETE", "/v1/networks/{net}/zones/{zone}", func(ctx context.Context, s Service, p []string, _ none) (Zone, error) {
	return s.ZoneDelete(ctx, p[0], p[1])
})

func (c *Client) ZoneDelete(ctx context.Context, network, zone string) (Zone, error) {
	return rZoneDelete.do(ctx, c, none{}, network, zone)
}

var rZonePlace = newRoute("PUT", "/v1/networks/{net}/placements/{resource}", func(ctx context.Context, s Service, p []string, req PlaceRequest) (Placement, error) {
	req.Resource = p[1]
	return s.ZonePlace(ctx, p[0], req)
})

func (c *Client) ZonePlace(ctx context.Context, network string, req PlaceRequest) (Placement, error) {
	return rZonePlace.do(ctx, c, req, network, req.Resource)
}

var rZoneUnplace = newRoute("DELETE", "/v1/networks/{net}/placements/{resource}", func(ctx context.Context, s Service, p []string, _ none) (Placement, error) {
	return s.ZoneUnplace(ctx, p[0], p[1])
})

func (c *Client) ZoneUnplace(ctx context.Context, network, resource string) (Placement, error) {
	return rZoneUnplace.do(ctx, c, none{}, network, resource)
}

var rScenes = newList("GET", "/v1/networks/{net}/scenes", func(ctx context.Context, s Service, p []string, _ none) ([]Scene, error) {
	return s.Scenes(ctx, p[0])
})

func (c *Client) Scenes(ctx context.Context, network string) ([]Scene, error) {
	return rScenes.do(ctx, c, none{}, network)
}

var rSceneCreate = newRoute("POST", "/v1/networks/{net}/scenes", func(ctx context.Context, s Service, p []string, req SceneRequest) (Scene, error) {
	return s.SceneCreate(ctx, p[0], req)
})

func (c *Client) SceneCreate(ctx context.Context, network string, req SceneRequest) (Scene, error) {
	return rSceneCreate.do(ctx, c, req, network)
}

var rSceneDelete = newRoute("DELETE", "/v1/networks/{net}/scenes/{scene}", func(ctx context.Context, s Service, p []string, _ none) (Scene, error) {
	return s.SceneDelete(ctx, p[0], p[1])
})

func (c *Client) SceneDelete(ctx context.Context, network, scene string) (Scene, error) {
	return rSceneDelete.do(ctx, c, none{}, network, scene)
}

var rSceneRun = newRoute("POST", "/v1/networks/{net}/scenes/{scene}/run", func(ctx context.Context, s Service, p []string, _ none) (SceneResult, error) {
	return s.SceneRun(ctx, p[0], p[1])
})

func (c *Client) SceneRun(ctx context.Context, network, scene string) (SceneResult, error) {
	return rSceneRun.do(ctx, c, none{}, network, scene)
}
