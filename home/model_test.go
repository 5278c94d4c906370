package home

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/coconet/coconet/ledger"
)

func TestArgs(t *testing.T) {
	level, color, lock, thermo := Cap("level"), Cap("color"), Cap("lock"), Cap("thermostat")
	for _, tc := range []struct {
		c    Capability
		cmd  string
		args map[string]any
		want map[string]any
		err  string
	}{
		{level, "set", map[string]any{"level": "40"}, map[string]any{"level": int64(40)}, ""},
		{level, "set", map[string]any{"level": 40.0}, map[string]any{"level": int64(40)}, ""},
		{level, "set", map[string]any{"level": "140"}, nil, "level.set: level 140 is above the maximum 100"},
		{level, "set", map[string]any{"level": -1}, nil, "level.set: level -1 is below the minimum 0"},
		{level, "set", map[string]any{"level": "4.5"}, nil, `level.set: level "4.5" is not a whole number`},
		{level, "set", map[string]any{"level": 4.5}, nil, `level.set: level 4.5 is not a whole number`},
		{level, "set", nil, nil, "level.set: missing level (int 0–100 %); level.set takes level=int 0–100 %"},
		{level, "set", map[string]any{"level": 1, "speed": 2}, nil, `level.set: unknown parameter "speed"`},
		{level, "dim", nil, nil, "level.dim: no such command; level has set"},
		{color, "set", map[string]any{"hue": "200", "saturation": "80"}, map[string]any{"hue": int64(200), "saturation": int64(80)}, ""},
		{lock, "unlock", nil, map[string]any{}, ""},
		{lock, "unlock", map[string]any{"code": "1234"}, nil, "lock.unlock takes no parameters"},
		{thermo, "set", map[string]any{"setpoint": "21.5"}, map[string]any{"setpoint": 21.5}, ""},
		{thermo, "set", map[string]any{"setpoint": "NaN"}, nil, "not a finite number"},
		{thermo, "mode", map[string]any{"mode": "HEAT"}, map[string]any{"mode": "heat"}, ""},
		{thermo, "mode", map[string]any{"mode": "warp"}, nil, `thermostat.mode: mode "warp" is not one of off, heat, cool, auto`},
		{Cap("temperature"), "set", nil, nil, "temperature takes no commands"},
	} {
		got, err := tc.c.Args(tc.cmd, tc.args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s.%s(%v) error = %v, want %q", tc.c.Name, tc.cmd, tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s.%s(%v) = %v, %v; want %v", tc.c.Name, tc.cmd, tc.args, got, err, tc.want)
		}
	}
}

func TestResourceValidate(t *testing.T) {
	ok := Resource{ID: "lamp-1", Capabilities: Caps("on_off", "level")}
	if err := ok.Validate(); err != nil {
		t.Fatalf("Validate(lamp) = %v", err)
	}
	if v, _ := ok.Value("level", "level"); v != int64(100) {
		t.Errorf("initial level = %v (%T), want int64 100", v, v)
	}
	for _, tc := range []struct {
		r    Resource
		want string
	}{
		{Resource{ID: "a/b", Capabilities: Caps("on_off")}, "not valid"},
		{Resource{ID: "lamp"}, "no capabilities"},
		{Resource{ID: "lamp", Capabilities: Caps("on_off", "on_off")}, "twice"},
		{Resource{ID: "lamp", Capabilities: []Capability{{Name: "x", Attributes: []Attribute{{Name: "v", Spec: Spec{Type: "float"}}}}}}, "type"},
		{Resource{ID: "lamp", Capabilities: []Capability{{Name: "x", Attributes: []Attribute{{Name: "v", Spec: intSpec(0, 10, ""), Value: 11}}}}}, "above the maximum 10"},
	} {
		if err := tc.r.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.r, err, tc.want)
		}
	}
}

var registerRuns int // the registry is global: each run (-count) registers a new name

func TestRegister(t *testing.T) {
	registerRuns++
	name := fmt.Sprintf("fan_speed%d", registerRuns)
	def := CapabilityDef{Capability: Capability{Name: name,
		Attributes: []Attribute{{Name: "speed", Spec: Spec{Type: Enum, Enum: []string{"low", "high"}}}},
		Commands:   []Command{{Name: "set", Params: []Param{{Name: "speed", Spec: Spec{Type: Enum, Enum: []string{"low", "high"}}}}}},
	}, Effects: map[string]Effect{"set": copyArgs}}
	if err := Register(def); err != nil {
		t.Fatal(err)
	}
	if err := Register(def); err == nil {
		t.Fatal("registering fan_speed twice succeeded")
	}
	if c := Cap(name); c.Attribute("speed").Value != "low" {
		t.Errorf("fan_speed initial = %v, want low", c.Attribute("speed").Value)
	}
	if err := Register(CapabilityDef{Capability: Capability{Name: "bad"}, Effects: map[string]Effect{"x": copyArgs}}); err == nil {
		t.Error("an effect for an unknown command was accepted")
	}
}

func TestParseAction(t *testing.T) {
	a, err := ParseAction("bulb-1:level:set:level=40")
	if err != nil || a.Resource != "bulb-1" || a.Capability != "level" || a.Command != "set" || a.Args["level"] != "40" {
		t.Fatalf("ParseAction = %+v, %v", a, err)
	}
	if a.String() != "bulb-1:level:set:level=40" {
		t.Errorf("String = %q", a.String())
	}
	for _, bad := range []string{"bulb-1:level", "bulb/1:level:set", "bulb-1:Level:set", "bulb-1:level:set:level", "bulb-1:level:set:a=1:a=2"} {
		if _, err := ParseAction(bad); err == nil {
			t.Errorf("ParseAction(%q) succeeded", bad)
		}
	}
}

func TestAttributeJSON(t *testing.T) {
	r := Resource{ID: "lamp", Capabilities: Caps("on_off", "level", "temperature")}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r)
	var back Resource
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if v, _ := back.Value("level", "level"); v != int64(100) {
		t.Errorf("level after JSON = %v (%T), want int64 100", v, v)
	}
	if v, _ := back.Value("temperature", "celsius"); v != 20.0 {
		t.Errorf("celsius after JSON = %v (%T), want 20.0", v, v)
	}
}

func TestActionErrorIs(t *testing.T) {
	r := Result{Action: act("lamp:on_off:on"), Code: CodeDenied, Error: "no"}
	if !errors.Is(r.Err(), ErrDenied) || errors.Is(r.Err(), ErrOffline) {
		t.Errorf("Err() = %v does not match ErrDenied only", r.Err())
	}
}

// FuzzRequests feeds the parsers of what hosts and clients read from the
// network: command and list requests, published changes, scene records.
func FuzzRequests(f *testing.F) {
	f.Add([]byte(`{"actions":[{"resource":"lamp","capability":"level","command":"set","args":{"level":"40"}}]}`))
	f.Add([]byte(`{"actions":[{"resource":"lamp","capability":"level","command":"set","args":{"level":1e300}}]}`))
	f.Add([]byte(`{"zone":"Kitchen"}`))
	f.Add([]byte(`{"resource":"lamp","value":40,"type":"int","time":"2026-05-05T03:30:00Z"}`))
	level := Cap("level")
	f.Fuzz(func(t *testing.T, b []byte) {
		if cr, err := parseCmdRequest(b); err == nil {
			for _, a := range cr.Actions {
				if a.check() == nil {
					level.Args(a.Command, a.Args)
				}
			}
		}
		parseListRequest(b)
		parseChange("home/lamp/level/level", b, false)
		decodeScene(&ledger.Record{Key: "s", Value: b})
	})
}
