// Package home implements the home model: resources, commands, grants, zones, scenes.
//
// It implements coconet's home model: resources with typed capabilities served by
// device nodes, commands authorized where the resource is, time-limited grants for
// guests, zones and scenes.
//
// # Model
//
// A device node (or a gateway bridging Zigbee-style devices) serves
// Resources. A Resource has an ID unique in the network (it is a segment of
// pub-sub topics: letters, digits, '.', '_', '-'), a name, a zone and
// Capabilities. A Capability has typed Attributes (bool, int, number,
// string, enum; min, max, unit; a current value) and Commands with typed
// Params. The registry holds the standard capabilities — on_off, level,
// color, lock, temperature, thermostat, battery, firmware, bridge — and
// Register adds more. Cap("level") copies one for a resource.
// Capability.Args checks a command's arguments and converts them to their
// types ("level.set: level 140 is above the maximum 100").
//
// # Serving: Host
//
//	h, err := home.NewHost(n, home.HostOptions{})        // n: a started *engine.Engine of the owner
//	h.Add(home.Resource{ID: "lamp", Capabilities: home.Caps("on_off", "level")}, nil) // nil driver: simulated
//	h.Set("lamp", "level", "level", 40)                  // publishes the change
//	h.Remove("lamp"); h.Close()
//
// A Host answers two request/reply services on its node, ServiceList and
// ServiceCommand (JSON, see listRequest and cmdRequest), and publishes
// every attribute change, retained, on
// home/RESOURCE/CAPABILITY/ATTRIBUTE. It decides every request from its
// own ledger copy and its own clock (HostOptions.Now), never from what
// the caller claims:
//
//	                                  owner  admin  guest
//	list, watch a resource              yes    yes   what a grant covers, until it expires
//	run a command                       yes    yes   with a grant active now
//	run an owner-only command           yes    no    no
//	  (bridge.add/remove: bridged resources; firmware.update)
//	zones, placements, grants, scenes   yes    yes   no   (refused by the ledger)
//
// A claimed device node calling another host (its user is the owner, but
// it has a device record) acts as a guest without grants: it never carries
// the owner's authority. Only the owner's nodes serve resources (devices
// are nodes of the owner); clients trust attribute changes published by
// those nodes only. Package home/zigbee is a simulated gateway serving
// bulbs, a plug, a lock and a temperature sensor on a Host.
//
// # Using: Client
//
//	c := home.NewClient(n)                            // any member's node
//	l, _ := c.List(ctx, "")                           // or a zone
//	r, err := c.Command(ctx, home.Action{Resource: "lamp", Capability: "level", Command: "set", Args: map[string]any{"level": 40}})
//	res := c.Run(ctx, actions)                        // concurrently, one request per device
//	sr, _ := c.RunScene(ctx, "evening")               // sr.Err() lists failed actions
//	ch, _ := c.Watch(ctx, "lamp")                     // Change values until ctx ends
//
// A failed action's Result has a Code (denied, invalid, not_found,
// offline, timeout, failed) and an Error sentence; Result.Err matches
// ErrDenied, ErrInvalid, … with errors.Is. An offline device fails its
// actions with CodeOffline within the context's deadline (DefaultTimeout
// when it has none).
//
// # Records: Store
//
// NodeStore(n) (or LogStore for a ledger opened offline) reads and writes
// the home model's ledger records. Each is JSON in an application table of
// the ledger (ledger.Tables gives who may write it: admins and the owner):
//
//	table      key            value
//	zone       zone name      {"name": "Living room"}
//	placement  resource ID    {"zone": "Living room"}
//	grant      "g" + 10 hex   {"user": "u…", "resources": ["front-door"], "zone": "…",
//	                           "capability": "lock", "command": "unlock",
//	                           "windows": [{"days": ["tue","thu"], "from": "09:00", "to": "09:30"}],
//	                           "tz": "Asia/Kolkata", "valid_from": RFC 3339, "until": RFC 3339}
//	scene      scene name     {"actions": [{"resource": "lamp", "capability": "level",
//	                           "command": "set", "args": {"level": "40"}}]}
//
// The home model also reads the device table (key: a device node's peer
// ID; value {"name": "Front door", "node": "<peer ID>"}) to name devices.
// Unknown fields are ignored; new fields must be optional. A record that
// does not decode or check is ignored by every host alike.
//
// # Grants
//
// A Grant gives a guest a capability (or one of its commands) on
// resources or on a zone, within weekly Windows (days, from, to; a window
// whose end is not after its start runs across midnight) in an IANA time
// zone, and/or a validity interval [ValidFrom, Until). Windows are
// wall-clock times in the grant's zone, so they follow daylight-saving
// changes. Grant.Active is the pure evaluation; revoking deletes the
// record, and an online host stops honouring it as soon as the deletion
// reaches it.
//
// # Zones and scenes
//
// A zone is a record; placing a resource in a zone is a placement record
// (which wins over the zone a host declares). A Scene is a named list of
// Actions ("RESOURCE:CAPABILITY:COMMAND[:k=v…]", see ParseAction); running
// it runs every action at once and returns a SceneResult with one Result
// (error and duration) per action.
package home
