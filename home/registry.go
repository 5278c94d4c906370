package home

import (
	"fmt"
	"sort"
	"sync"
)

// CapabilityDef registers a capability: its template (attributes with their
// initial values, commands with their parameters), whether only the owner
// may command it, and the standard effect of its commands on its attributes.
type CapabilityDef struct {
	Capability
	// OwnerOnly: only the network's owner may run its commands (admins may
	// not): adding and removing bridged resources, firmware.
	OwnerOnly bool
	// Effects maps a command to what it does to the attributes when the
	// resource's driver carried it out (or when it has none, as simulated
	// resources do).
	Effects map[string]Effect
}

// Effect computes the attribute values a command sets from its arguments
// (already converted to their types) and the capability's current values.
type Effect func(args, current map[string]any) map[string]any

var registry = struct {
	sync.RWMutex
	defs map[string]*CapabilityDef
}{defs: map[string]*CapabilityDef{}}

// Register adds a capability to the registry, so resources can declare it
// by name (Cap) and hosts know its effects. Registering a name twice is an
// error.
func Register(def CapabilityDef) error {
	c := def.Capability.clone()
	if err := validName("capability", c.Name); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	for cmd := range def.Effects {
		if c.Command(cmd) == nil {
			return fmt.Errorf("capability %s: effect for unknown command %s", c.Name, cmd)
		}
	}
	def.Capability = c
	registry.Lock()
	defer registry.Unlock()
	if registry.defs[c.Name] != nil {
		return fmt.Errorf("capability %s is already registered", c.Name)
	}
	registry.defs[c.Name] = &def
	return nil
}

// Lookup returns the registered definition of a capability.
func Lookup(name string) (CapabilityDef, bool) {
	registry.RLock()
	defer registry.RUnlock()
	d := registry.defs[name]
	if d == nil {
		return CapabilityDef{}, false
	}
	out := *d
	out.Capability = d.Capability.clone()
	return out, true
}

// Registered lists the registered capability names, sorted.
func Registered() []string {
	registry.RLock()
	defer registry.RUnlock()
	var out []string
	for n := range registry.defs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Cap returns a fresh copy of a registered capability, with the initial
// values of its attributes. It panics on an unknown name: use it with the
// standard names, or Lookup.
func Cap(name string) Capability {
	d, ok := Lookup(name)
	if !ok {
		panic("home: capability " + name + " is not registered")
	}
	return d.Capability
}

// Caps returns fresh copies of registered capabilities.
func Caps(names ...string) []Capability {
	out := make([]Capability, 0, len(names))
	for _, n := range names {
		out = append(out, Cap(n))
	}
	return out
}

func bound(min, max float64) (*float64, *float64) { return &min, &max }

func intSpec(min, max float64, unit string) Spec {
	lo, hi := bound(min, max)
	return Spec{Type: Int, Min: lo, Max: hi, Unit: unit}
}

func numSpec(min, max float64, unit string) Spec {
	lo, hi := bound(min, max)
	return Spec{Type: Number, Min: lo, Max: hi, Unit: unit}
}

func set(attr string, v any) Effect {
	return func(_, _ map[string]any) map[string]any { return map[string]any{attr: v} }
}

// copyArgs is the effect of a command whose parameters set the attributes
// of the same names.
func copyArgs(args, _ map[string]any) map[string]any { return args }

// The standard capabilities.
func init() {
	std := []CapabilityDef{
		{
			Capability: Capability{Name: "on_off",
				Attributes: []Attribute{{Name: "on", Spec: Spec{Type: Bool}, Value: false}},
				Commands:   []Command{{Name: "on"}, {Name: "off"}, {Name: "toggle"}},
			},
			Effects: map[string]Effect{
				"on":  set("on", true),
				"off": set("on", false),
				"toggle": func(_, cur map[string]any) map[string]any {
					on, _ := cur["on"].(bool)
					return map[string]any{"on": !on}
				},
			},
		},
		{
			Capability: Capability{Name: "level",
				Attributes: []Attribute{{Name: "level", Spec: intSpec(0, 100, "%"), Value: int64(100)}},
				Commands:   []Command{{Name: "set", Params: []Param{{Name: "level", Spec: intSpec(0, 100, "%")}}}},
			},
			Effects: map[string]Effect{"set": copyArgs},
		},
		{
			Capability: Capability{Name: "color",
				Attributes: []Attribute{
					{Name: "hue", Spec: intSpec(0, 360, "°"), Value: int64(0)},
					{Name: "saturation", Spec: intSpec(0, 100, "%"), Value: int64(0)},
					{Name: "kelvin", Spec: intSpec(1500, 9000, "K"), Value: int64(2700)},
				},
				Commands: []Command{
					{Name: "set", Params: []Param{{Name: "hue", Spec: intSpec(0, 360, "°")}, {Name: "saturation", Spec: intSpec(0, 100, "%")}}},
					{Name: "white", Params: []Param{{Name: "kelvin", Spec: intSpec(1500, 9000, "K")}}},
				},
			},
			Effects: map[string]Effect{
				"set": copyArgs,
				"white": func(args, _ map[string]any) map[string]any {
					return map[string]any{"kelvin": args["kelvin"], "saturation": int64(0)}
				},
			},
		},
		{
			Capability: Capability{Name: "lock",
				Attributes: []Attribute{{Name: "state", Spec: Spec{Type: Enum, Enum: []string{"locked", "unlocked", "jammed"}}, Value: "locked"}},
				Commands:   []Command{{Name: "lock"}, {Name: "unlock"}},
			},
			Effects: map[string]Effect{"lock": set("state", "locked"), "unlock": set("state", "unlocked")},
		},
		{
			Capability: Capability{Name: "temperature",
				Attributes: []Attribute{{Name: "celsius", Spec: numSpec(-40, 125, "°C"), Value: 20.0}},
			},
		},
		{
			Capability: Capability{Name: "thermostat",
				Attributes: []Attribute{
					{Name: "setpoint", Spec: numSpec(5, 35, "°C"), Value: 20.0},
					{Name: "mode", Spec: Spec{Type: Enum, Enum: []string{"off", "heat", "cool", "auto"}}, Value: "off"},
				},
				Commands: []Command{
					{Name: "set", Params: []Param{{Name: "setpoint", Spec: numSpec(5, 35, "°C")}}},
					{Name: "mode", Params: []Param{{Name: "mode", Spec: Spec{Type: Enum, Enum: []string{"off", "heat", "cool", "auto"}}}}},
				},
			},
			Effects: map[string]Effect{"set": copyArgs, "mode": copyArgs},
		},
		{
			Capability: Capability{Name: "battery",
				Attributes: []Attribute{{Name: "percent", Spec: intSpec(0, 100, "%"), Value: int64(100)}},
			},
		},
		{
			// firmware reports the running version; updates are authorized
			// and delivered by OTA, and only the owner may ask for one.
			Capability: Capability{Name: "firmware",
				Attributes: []Attribute{
					{Name: "version", Spec: Spec{Type: String}, Value: ""},
					{Name: "status", Spec: Spec{Type: Enum, Enum: []string{"idle", "downloading", "applying", "failed"}}, Value: "idle"},
				},
				Commands: []Command{{Name: "update", Params: []Param{{Name: "version", Spec: Spec{Type: String}}}}},
			},
			OwnerOnly: true,
		},
		{
			// bridge is a gateway's: the owner adds and removes the
			// resources it bridges at run time.
			Capability: Capability{Name: "bridge",
				Attributes: []Attribute{{Name: "resources", Spec: Spec{Type: Int}, Value: int64(0)}},
				Commands: []Command{
					{Name: "add", Params: []Param{
						{Name: "kind", Spec: Spec{Type: String}},
						{Name: "id", Spec: Spec{Type: String}},
						{Name: "name", Spec: Spec{Type: String}, Optional: true},
					}},
					{Name: "remove", Params: []Param{{Name: "id", Spec: Spec{Type: String}}}},
				},
			},
			OwnerOnly: true,
		},
	}
	for _, d := range std {
		if err := Register(d); err != nil {
			panic("home: " + err.Error())
		}
	}
}

// ownerOnly reports whether a capability's commands are the owner's alone.
func ownerOnly(capability string) bool {
	registry.RLock()
	defer registry.RUnlock()
	d := registry.defs[capability]
	return d != nil && d.OwnerOnly
}

// effect returns the standard effect of capability.command, or nil.
func effect(capability, command string) Effect {
	registry.RLock()
	defer registry.RUnlock()
	if d := registry.defs[capability]; d != nil {
		return d.Effects[command]
	}
	return nil
}
